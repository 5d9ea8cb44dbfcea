"""Asterisk Manager Interface over TCP: log in, turn events on, read them."""

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
from telephony_adapters.asterisk_ami import (
    PROVIDER,
    AmiCallTracker,
    AmiMessage,
    AmiParser,
    format_action,
    login_action,
)

LOGIN_ID = "stamgast-login"


class AmiConnector(StreamConnector):
    """One AMI connection; the call tracker outlives reconnects (see AmiCallTracker)."""

    provider = PROVIDER

    def __init__(
        self, runtime: Runtime, *, host: str, port: int, username: str, secret: str
    ) -> None:
        super().__init__(runtime)
        self._host, self._port = host, port
        self._username, self._secret = username, secret
        self.tracker = AmiCallTracker(internal_max_digits=runtime.internal_max_digits)

    async def _session(self) -> None:
        reader, writer = await open_tcp(self._host, self._port, self._connect_timeout)
        try:
            parser = AmiParser()
            backlog = await self._login(reader, writer, parser)

            def probe() -> None:
                writer.write(format_action("Ping", {"ActionID": "stamgast-ping"}))

            self._connected()
            self._emit(self.tracker.feed(backlog))
            while True:
                messages = await self._read_batch(reader, parser.feed, probe)
                self._emit(self.tracker.feed(messages))
        finally:
            await close_tcp(writer)

    async def _login(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: AmiParser
    ) -> list[AmiMessage]:
        """Send Login once the banner came; the events that followed its Success."""
        try:
            async with asyncio.timeout(self._connect_timeout):
                return await self._login_steps(reader, writer, parser)
        except TimeoutError:
            raise ConnectorError(f"no AMI login answer within {self._connect_timeout:g}s") from None

    async def _login_steps(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: AmiParser
    ) -> list[AmiMessage]:
        pending: list[AmiMessage] = []
        while parser.banner is None:
            pending = parser.feed(await read_some(reader, "before login"))
        writer.write(login_action(self._username, self._secret, LOGIN_ID))
        await writer.drain()
        while True:
            for index, message in enumerate(pending):
                if message.get("ActionID") == LOGIN_ID and "Response" in message:
                    _check_login(message)
                    return pending[index + 1 :]
            pending = parser.feed(await read_some(reader, "during login"))


def _check_login(reply: AmiMessage) -> None:
    if reply.get("Response", "").lower() != "success":
        detail = reply.get("Message") or reply.get("Response") or "no reason given"
        raise LoginRefused(f"AMI login refused: {detail}")
