"""Asterisk REST Interface events over a WebSocket (basic auth); we only listen."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.connectors.base import (
    BATCH_WINDOW_SECONDS,
    MAX_BATCH,
    ConnectorError,
    LoginRefused,
    Runtime,
    StreamConnector,
    log,
)
from telephony_adapters.asterisk_ari import (
    PROVIDER,
    AriCallTracker,
    AriProtocolError,
    events_url,
    parse_event,
)

# ARI events are a few kB; a channel snapshot with many variables stays far below this.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


class AriConnector(StreamConnector):
    """One ARI WebSocket; the call tracker outlives reconnects (see AriCallTracker)."""

    provider = PROVIDER

    def __init__(
        self,
        runtime: Runtime,
        *,
        url: str,
        app_name: str,
        username: str,
        password: str,
        subscribe_all: bool = True,
    ) -> None:
        super().__init__(runtime)
        self.url = events_url(url, app_name, subscribe_all=subscribe_all)
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        # In a header, not the URL's api_key: URLs end up in logs.
        self._headers = {"Authorization": f"Basic {token}"}
        self.tracker = AriCallTracker(internal_max_digits=runtime.internal_max_digits)

    async def _session(self) -> None:
        try:
            websocket = await connect(
                self.url,
                additional_headers=self._headers,
                open_timeout=self._connect_timeout,
                ping_interval=self._idle,
                ping_timeout=self._idle,
                max_size=MAX_MESSAGE_BYTES,
                proxy=None,  # the PBX is reached directly, whatever proxy the environment names
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise LoginRefused(f"ARI refused the credentials (HTTP {status})") from None
            raise ConnectorError(f"ARI refused the WebSocket (HTTP {status})") from None
        async with websocket:
            self._connected()
            try:
                while True:
                    events = await _receive_batch(websocket)
                    self._emit(self.tracker.feed(events))
            except ConnectionClosed as exc:
                code = f" (close code {exc.rcvd.code})" if exc.rcvd else ""
                raise ConnectorError(f"the phone system closed the connection{code}") from None


async def _receive_batch(websocket: ClientConnection) -> list[dict[str, Any]]:
    """One event, plus those arriving within BATCH_WINDOW_SECONDS (a ring group's Dials)."""
    events: list[dict[str, Any]] = []
    _add(events, await websocket.recv())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BATCH_WINDOW_SECONDS
    while len(events) < MAX_BATCH and (remaining := deadline - loop.time()) > 0:
        try:
            message = await asyncio.wait_for(websocket.recv(), remaining)
        except (TimeoutError, ConnectionClosed):
            break  # a close is raised by the next recv, after this batch is handled
        _add(events, message)
    return events


def _add(events: list[dict[str, Any]], message: str | bytes) -> None:
    try:
        events.append(parse_event(message))
    except AriProtocolError as exc:  # one odd message is no reason to drop the stream
        log.warning("connector %s: message skipped: %s", PROVIDER, exc)
