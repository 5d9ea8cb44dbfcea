"""Every resource router under /v1, in one list."""

from fastapi import APIRouter

from app.callbacks.originate_router import router as originate_router
from app.callbacks.router import router as callbacks_router
from app.cases.router import router as cases_router
from app.contacts.router import router as contacts_router
from app.directory.router import router as directory_router
from app.interactions.router import router as interactions_router
from app.notices.router import router as notices_router
from app.subscriptions.router import router as subscriptions_router

api_router = APIRouter()
api_router.include_router(contacts_router)
api_router.include_router(interactions_router)
api_router.include_router(callbacks_router)
api_router.include_router(originate_router)
api_router.include_router(cases_router)
api_router.include_router(notices_router)
api_router.include_router(directory_router)
api_router.include_router(subscriptions_router)
