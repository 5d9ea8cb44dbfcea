"""FreeSWITCH event socket (inbound) over TCP: authenticate, subscribe, read events."""

from __future__ import annotations

import asyncio

from app.connectors.base import (
    ConnectorError,
    LoginRefused,
    Runtime,
    StreamConnector,
    close_tcp,
    open_tcp,
    read_some,
)
from telephony_adapters.freeswitch_esl import (
    PROVIDER,
    SUBSCRIBE,
    EslCallTracker,
    EslFrame,
    EslParser,
    auth_command,
    parse_event_plain,
)

# A cheap command whose reply proves the connection alive when events are quiet.
PROBE = b"api status\n\n"


class EslConnector(StreamConnector):
    """One ESL connection; the call tracker outlives reconnects (see EslCallTracker)."""

    provider = PROVIDER

    def __init__(self, runtime: Runtime, *, host: str, port: int, password: str) -> None:
        super().__init__(runtime)
        self._host, self._port = host, port
        self._password = password
        self.tracker = EslCallTracker(internal_max_digits=runtime.internal_max_digits)

    async def _session(self) -> None:
        reader, writer = await open_tcp(self._host, self._port, self._connect_timeout)
        try:
            parser = EslParser()
            try:
                async with asyncio.timeout(self._connect_timeout):
                    backlog = await self._handshake(reader, writer, parser)
            except TimeoutError:
                raise ConnectorError(
                    f"no ESL handshake answer within {self._connect_timeout:g}s"
                ) from None
            self._connected()
            frames = backlog
            while True:
                events, notice = _events(frames)
                self._emit(self.tracker.feed(events))
                if notice is not None:
                    _check_not_refused(notice)
                frames = await self._read_batch(reader, parser.feed, lambda: writer.write(PROBE))
        finally:
            await close_tcp(writer)

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: EslParser
    ) -> list[EslFrame]:
        """auth/request → auth → +OK → event plain … → +OK; frames that came after."""
        frames: list[EslFrame] = []

        async def next_frame() -> EslFrame:
            while not frames:
                frames.extend(parser.feed(await read_some(reader, "during the handshake")))
            frame = frames.pop(0)
            _check_not_refused(frame)
            return frame

        greeting = await next_frame()
        if greeting.content_type != "auth/request":
            raise ConnectorError(f"not a FreeSWITCH event socket: got {greeting.content_type!r}")
        writer.write(auth_command(self._password))
        await writer.drain()
        reply = await next_frame()
        if not reply.reply_ok:
            detail = reply.headers.get("Reply-Text") or "no reason given"
            raise LoginRefused(f"ESL auth refused: {detail}")
        writer.write(SUBSCRIBE)
        await writer.drain()
        subscribed = await next_frame()
        if not subscribed.reply_ok:
            detail = subscribed.headers.get("Reply-Text") or "no reason given"
            raise ConnectorError(f"ESL event subscription refused: {detail}")
        return frames


def _check_not_refused(frame: EslFrame) -> None:
    if frame.content_type == "text/rude-rejection":  # the ACL does not let us in
        detail = frame.body.decode("utf-8", errors="replace").strip()
        raise LoginRefused(f"ESL connection rejected: {detail or 'access denied'}")
    if frame.content_type == "text/disconnect-notice":
        raise ConnectorError("FreeSWITCH disconnected us")


def _events(frames: list[EslFrame]) -> tuple[list[dict[str, str]], EslFrame | None]:
    """The events among the frames, up to a disconnect notice (returned second)."""
    events: list[dict[str, str]] = []
    for frame in frames:
        if frame.content_type in ("text/disconnect-notice", "text/rude-rejection"):
            return events, frame
        if frame.content_type == "text/event-plain":
            events.append(parse_event_plain(frame.body))
    return events, None
