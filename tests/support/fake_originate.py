"""The fake widget backend's answers for calling back through the phone system.

GET /v1/originate and POST /v1/callbacks/{id}/call, shaped by the server's own models.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import JSONResponse

from app.callbacks.originate_router import CallBackOut, OriginateOut
from tests.support.fake_widget_data import ME, checked


class FakeOriginate:
    """Whether the tenant can call back, and the calls placed."""

    def __init__(self) -> None:
        self.providers: list[str] = []  # empty: the phone system cannot originate
        self.placed: list[int] = []

    def answer(
        self, method: str, path: str, callbacks: list[dict[str, Any]]
    ) -> JSONResponse | None:
        """The response for these two routes; None for any other."""
        if (method, path) == ("GET", "originate"):
            answer = {"can_originate": bool(self.providers), "providers": self.providers}
            return JSONResponse(checked(OriginateOut, answer))
        match = re.fullmatch(r"callbacks/(\d+)/call", path)
        if method != "POST" or match is None:
            return None
        if not self.providers:
            message = "This tenant's phone system cannot call back from Stamgast."
            return JSONResponse({"code": "cannot_originate", "message": message}, 409)
        stored = next(cb for cb in callbacks if cb["id"] == int(match[1]))
        stored["attempts"] += 1
        self.placed.append(stored["id"])
        placed = {
            "callback_id": stored["id"],
            "agent_id": ME["agent_id"],
            "provider": self.providers[0],
            "provider_call_id": f"CA{stored['id']:032d}",
            "attempts": stored["attempts"],
        }
        return JSONResponse(checked(CallBackOut, placed))
