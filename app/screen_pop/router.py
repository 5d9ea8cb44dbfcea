"""Agent tokens, and the stream an agent's widget receives its screen-pops on.

GET /v1/stream       WebSocket: text frames of Delivery (or CallbackOverdueDelivery) or
                     StreamNotice JSON
GET /v1/stream/sse   Server-Sent Events: the same, for clients without WebSockets
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response, WebSocket, status
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.deps import Admin, DbSession
from app.api.inputs import id_path
from app.auth.revocation import Revoked, announce
from app.errors import (
    FieldProblem,
    InvalidInput,
    NotFound,
    StamgastError,
    Unauthorized,
    error_responses,
)
from app.metrics import timing as webhook_timing
from app.models import Agent
from app.screen_pop.broker import BrokerUnavailable
from app.screen_pop.hub import ScreenPopHub, StreamEvent
from app.screen_pop.schemas import CallbackOverdueDelivery, Delivery, StreamNotice
from app.screen_pop.tokens import (
    AgentIdentity,
    issue_agent_token,
    revoke_agent_token,
    verify_agent_token,
)
from app.screen_pop.wire import SEND_TIMEOUT, Wire
from app.telemetry import context, request_ids

router = APIRouter(tags=["screen-pop"])

_bearer = HTTPBearer(
    auto_error=False, scheme_name="AgentToken", description="An agent token: `Bearer sga_…`"
)
ADMISSIONS = 8  # streams verifying their token at once (the pool has 1 on SQLite, 30 on PG)
SSE_KEEPALIVE = 15.0  # below the idle timeout of common proxies and load balancers
SSE_RETRY_MS = 3000
BAD_TOKEN = "Unknown or revoked agent token: create one with POST /v1/agents/{agent_id}/tokens."
BAD_EPOCH = "epoch must be the hexadecimal `epoch` of a `hello` (or left out)."
WS_UNAUTHORIZED, WS_BAD_REQUEST = 4401, 4400
WS_SERVICE_RESTART, WS_TRY_AGAIN_LATER = 1012, 1013


class AgentTokenCreate(BaseModel):
    """What to call the new token (e.g. the workstation it is for)."""

    label: str | None = Field(default=None, max_length=120)


class IssuedAgentToken(BaseModel):
    """A new agent token: shown once, store it in the widget's configuration."""

    token: str
    token_id: int
    agent_id: int
    stream_url: str = Field(description="WebSocket URL, token included")
    sse_url: str = Field(description="Server-Sent Events URL, token included")


class _EventStreamSchema(JSONResponse):
    """For OpenAPI only: documents the route's model as the `text/event-stream` schema.

    FastAPI documents any non-JSON response class as `{"type": "string"}`, dropping the
    model; a JSONResponse subclass keeps it. The route returns its own StreamingResponse.
    """

    media_type = "text/event-stream"


def stream_openapi_components() -> dict[str, Any]:
    """JSON schemas of what the streams carry, keyed as OpenAPI components."""
    _, schema = models_json_schema(
        [
            (Delivery, "serialization"),
            (CallbackOverdueDelivery, "serialization"),
            (StreamNotice, "serialization"),
        ],
        ref_template="#/components/schemas/{model}",
    )
    return dict(schema.get("$defs", {}))


class _Unavailable(StamgastError):
    status_code = 503
    code = "unavailable"


def _hub(app: Any) -> ScreenPopHub:
    hub: ScreenPopHub = app.state.hub
    return hub


async def _identify(app: Any, token: str | None) -> AgentIdentity | None:
    """Verify with a session of its own, released before the stream starts."""
    if not token:
        return None
    # After a restart every widget reconnects at once. Waiting here costs a connection a
    # future; waiting in the pool costs it a session and a greenlet, and 1,000 of those at
    # once leave ~16 MiB behind for good (bench/agents.py: 43 -> 27 KiB per agent).
    admission: asyncio.Semaphore | None = getattr(app.state, "stream_admission", None)
    if admission is None:
        admission = app.state.stream_admission = asyncio.Semaphore(ADMISSIONS)
    async with admission, app.state.sessionmaker() as session:
        identity: AgentIdentity | None = await verify_agent_token(session, token)
        return identity


def _parse_seq(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    value = int(raw)  # ValueError for callers to report
    if value < 0:
        raise ValueError(raw)
    return value


EPOCH_PATTERN = re.compile(r"[0-9a-f]{1,64}")


def _parse_epoch(raw: str | None) -> str | None:
    if raw is None or raw == "":
        return None
    if EPOCH_PATTERN.fullmatch(raw) is None:
        raise ValueError(raw)
    return raw


def _parse_event_id(raw: str | None) -> tuple[int | None, str | None]:
    """An SSE Last-Event-ID: `seq@epoch` as we send it, or a bare seq."""
    seq, _, epoch = (raw or "").partition("@")
    return _parse_seq(seq), _parse_epoch(epoch)


def _stream_urls(request: Request, token: str) -> tuple[str, str]:
    base = request.app.state.settings.public_base_url or str(request.base_url)
    base = base.rstrip("/")
    ws_base = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
    return f"{ws_base}/v1/stream?token={token}", f"{base}/v1/stream/sse?token={token}"


@router.post(
    "/agents/{agent_id}/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=IssuedAgentToken,
    summary="Issue a token for an agent's screen-pop widget",
    responses=error_responses(401, 403, 404, 422),
)
async def create_agent_token(
    agent_id: Annotated[int, id_path("agent")],
    request: Request,
    session: DbSession,
    principal: Admin,
    body: AgentTokenCreate | None = None,
) -> IssuedAgentToken:
    """A new token for the agent; the plaintext is in this response only."""
    agent = await session.scalar(
        select(Agent).where(Agent.id == agent_id, Agent.tenant_id == principal.tenant_id)
    )
    if agent is None:
        raise NotFound(f"No agent {agent_id} in this tenant.")
    row, token = await issue_agent_token(
        session,
        tenant_id=principal.tenant_id,
        agent_id=agent.id,
        label=body.label if body else None,
    )
    stream_url, sse_url = _stream_urls(request, token)
    return IssuedAgentToken(
        token=token, token_id=row.id, agent_id=agent.id, stream_url=stream_url, sse_url=sse_url
    )


@router.delete(
    "/agents/{agent_id}/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an agent token",
    responses=error_responses(401, 403, 404),
)
async def delete_agent_token(
    request: Request,
    agent_id: Annotated[int, id_path("agent")],
    token_id: Annotated[int, id_path("token")],
    session: DbSession,
    principal: Admin,
) -> Response:
    """New connections and REST calls with the token are refused at once. Streams open
    with it end at once on every server sharing Redis (on the one answering, without it;
    elsewhere within `STAMGAST_STREAM_TOKEN_RECHECK_SECONDS`): a WebSocket closes with
    4401, an SSE stream ends."""
    found = await revoke_agent_token(
        session, tenant_id=principal.tenant_id, agent_id=agent_id, token_id=token_id
    )
    if not found:
        raise NotFound(f"No token {token_id} for agent {agent_id} in this tenant.")
    await session.commit()  # before the streams end: a reconnect must find it revoked
    await announce(_hub(request.app), Revoked("agent_token", principal.tenant_id, token_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def stream_websocket(websocket: WebSocket) -> None:
    """An agent's pops as WebSocket text frames; see the SSE route for the frames."""
    await websocket.accept()  # close codes and reasons only reach the client after accept
    try:
        after_seq = _parse_seq(websocket.query_params.get("last_seq"))
    except ValueError:
        await websocket.close(WS_BAD_REQUEST, "last_seq must be a non-negative integer.")
        return
    try:
        after_epoch = _parse_epoch(websocket.query_params.get("epoch"))
    except ValueError:
        await websocket.close(WS_BAD_REQUEST, BAD_EPOCH)
        return
    try:
        identity = await _identify(websocket.app, websocket.query_params.get("token"))
    except SQLAlchemyError:
        await websocket.close(WS_TRY_AGAIN_LATER, "Cannot verify the token right now.")
        return
    if identity is None:
        await websocket.close(WS_UNAUTHORIZED, BAD_TOKEN.replace("{agent_id}", "…"))
        return
    context.bind(tenant_id=identity.tenant_id, agent_id=identity.agent_id)
    hub = _hub(websocket.app)
    opened = hub.open_stream(
        identity.tenant_id, identity.agent_id, after_seq, identity.token_id, after_epoch
    )
    async with opened as stream:
        wire = Wire(websocket, stream)
        await wire.run()
        code = {
            "shutdown": WS_SERVICE_RESTART,
            "overflow": WS_TRY_AGAIN_LATER,
            "revoked": WS_UNAUTHORIZED,
        }.get(stream.end_reason or "", 1000)
        if isinstance(wire.error, BrokerUnavailable):
            code = WS_TRY_AGAIN_LATER
    reason = (
        BAD_TOKEN.replace("{agent_id}", str(identity.agent_id)) if code == WS_UNAUTHORIZED else ""
    )
    # The client may be gone already, or stuck: a close it never takes must not keep
    # this task waiting for it.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(SEND_TIMEOUT):
            await websocket.close(code, reason)


# A plain Starlette route, not FastAPI's: it takes no dependencies, and FastAPI's would keep
# three AsyncExitStacks and the solved dependencies alive for each connection's whole life
# (bench/agents.py: what an idle agent costs).
router.add_websocket_route("/stream", stream_websocket)


class StreamShortcut:
    """ASGI middleware that hands WebSocket `path` straight to `stream_websocket`.

    Added as the outermost middleware of the app: every layer between it and the route
    (the API gate, CORS, exception handling, the router) only passes a WebSocket through,
    yet would keep a coroutine frame alive for the connection's whole life; about 7 KiB
    per idle agent (bench/agents.py). Everything but this one WebSocket path goes on as
    before, and the route itself stays registered for apps built without it.
    """

    def __init__(self, app: ASGIApp, path: str = "/v1/stream") -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] in (
            self.path,
            scope.get("root_path", "") + self.path,
        ):
            request_ids.begin(scope)  # the connection's log lines; here, not in a layer
            await stream_websocket(WebSocket(scope, receive=receive, send=send))
            return
        await self.app(scope, receive, send)


def _sse_frame(event: StreamEvent, epoch: str) -> bytes:
    if event.kind == "keepalive":
        return b": keepalive\n\n"
    name = "pop" if event.kind == "pop" else event.kind
    # Every event carries the cursor and its epoch as its id, so EventSource's automatic
    # reconnect (Last-Event-ID) resumes exactly here, even before the first pop, and is
    # known to be stale after the server's log started again.
    return f"id: {event.cursor}@{epoch}\nevent: {name}\ndata: {event.data}\n\n".encode()


@router.get(
    "/stream/sse",
    summary="Receive an agent's screen-pops as Server-Sent Events",
    response_model=Delivery | CallbackOverdueDelivery | StreamNotice,
    response_class=_EventStreamSchema,
    response_description=(
        "`retry: 3000`, then events: `hello`, `resync`, `bye` (data: StreamNotice) and "
        "`pop` (data: Delivery; CallbackOverdueDelivery when a promised callback is overdue); "
        "every event's id is `seq@epoch`; a `: keepalive` comment every 15 s"
    ),
    responses={
        code: {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
        for code, text in ((401, "Missing, unknown or revoked agent token"), (422, "Bad last_seq"))
    },
)
async def stream_sse(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[str | None, Query(description="The agent token (`sga_…`)")] = None,
    last_seq: Annotated[
        int | None, Query(ge=0, description="Resume after this seq (WebSocket: same)")
    ] = None,
    epoch: Annotated[
        str | None,
        Query(
            max_length=64,
            description="The `epoch` of the `hello` that last_seq belongs to (WebSocket: same)",
        ),
    ] = None,
    last_event_id: Annotated[
        str | None, Header(alias="Last-Event-ID", description="Sent by EventSource on reconnect")
    ] = None,
) -> StreamingResponse:
    """The agent's pops as they happen, after what they missed since `last_seq`.

    The WebSocket `GET /v1/stream?token=…&last_seq=…` carries the same JSON as text
    frames (a Delivery or a StreamNotice each), closes with 4401 on a bad token, and
    answers a `{"type":"ping"}` frame with `{"type":"pong"}`. On both: the first message
    is `hello` (seq = the agent's last seq); `resync` means pops after your last seq are
    gone; `bye` comes before the server closes the stream: reconnect after `retry_ms`.
    """
    try:
        header_seq, header_epoch = _parse_event_id(last_event_id)
    except ValueError:
        # A foreign Last-Event-ID is no reason to refuse the stream.
        header_seq, header_epoch = None, None
    try:
        query_epoch = _parse_epoch(epoch)
    except ValueError:
        raise InvalidInput(
            BAD_EPOCH, fields=[FieldProblem(field="epoch", message=BAD_EPOCH)]
        ) from None
    after_seq: int | None = last_seq
    after_epoch = query_epoch
    if header_seq is not None:
        after_seq, after_epoch = header_seq, header_epoch
    given = credentials.credentials if credentials is not None else token
    try:
        identity = await _identify(request.app, given)
    except SQLAlchemyError as exc:
        raise _Unavailable("Cannot verify the token right now; try again shortly.") from exc
    if identity is None:
        raise Unauthorized(BAD_TOKEN)
    context.bind(tenant_id=identity.tenant_id, agent_id=identity.agent_id)
    hub = _hub(request.app)

    async def frames() -> AsyncIterator[bytes]:
        yield f"retry: {SSE_RETRY_MS}\n\n".encode()
        opened = hub.open_stream(
            identity.tenant_id, identity.agent_id, after_seq, identity.token_id, after_epoch
        )
        # A revoked token ends the stream (app/screen_pop/recheck.py); EventSource then
        # reconnects and gets the 401.
        async with opened as stream:
            try:
                async for event in stream.events(keepalive=SSE_KEEPALIVE):
                    yield _sse_frame(event, stream.epoch)
                    if event.kind == "pop" and not event.replayed:
                        webhook_timing.written(event.data, "sse")  # once it is sent
            except BrokerUnavailable:
                return  # EventSource reconnects after `retry` and resumes from its last id

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
