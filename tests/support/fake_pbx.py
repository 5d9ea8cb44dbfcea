"""Fake phone systems on 127.0.0.1 speaking the real wire protocols, replaying recordings.

Asterisk AMI (TCP), FreeSWITCH ESL (TCP) and Asterisk ARI (WebSocket). Each checks the
credentials as the real one does and plays a script: the n-th connection that logs in
gets `sessions[n]`. After a session that is not the last the server drops the connection
(mid-stream, as a network failure would); after the last it keeps it open, answering
keepalive probes, until stopped.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from tests.support import vendor_fixtures

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def blocks(path: Path) -> list[str]:
    """A recording (a fixture with its provenance header) of `Key: value` messages."""
    text = vendor_fixtures.parse(path).text
    return [block.strip("\n") for block in text.split("\n\n") if block.strip()]


def ari_events(path: Path) -> list[dict[str, Any]]:
    """A recording of ARI events (a fixture whose body is a JSON array)."""
    events: list[dict[str, Any]] = json.loads(vendor_fixtures.parse(path).text)
    return events


class FakePbx:
    """What the three fakes share: the script, the counters, the open connections."""

    def __init__(self, sessions: Sequence[Sequence[Any]]) -> None:
        self.sessions = [list(session) for session in sessions]
        self.port = 0
        self.connections = 0
        self.logins_ok = 0
        self.logins_refused = 0
        self.probes = 0
        self.answer_probes = True  # False plays a peer that is gone without TCP noticing
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    def _next_session(self) -> tuple[list[Any], bool]:
        """This login's messages, and whether to keep the connection open afterwards."""
        index = self.logins_ok
        self.logins_ok += 1
        if index >= len(self.sessions):
            return [], True
        return self.sessions[index], index == len(self.sessions) - 1

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await asyncio.wait_for(self._server.wait_closed(), 5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            await self._talk(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _talk(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


class FakeAmi(FakePbx):
    """Asterisk's manager: banner, `Action: Login` → Success or Error, then events."""

    def __init__(
        self, sessions: Sequence[Sequence[str]], *, username: str = "stamgast", secret: str
    ) -> None:
        super().__init__(sessions)
        self.username, self.secret = username, secret
        self.logins: list[dict[str, str]] = []

    async def _talk(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/7.0.3\r\n")
        login = await _read_action(reader)
        self.logins.append(login)
        action_id = login.get("ActionID", "")
        if (login.get("Action"), login.get("Username"), login.get("Secret")) != (
            "Login",
            self.username,
            self.secret,
        ):
            self.logins_refused += 1
            writer.write(
                _ami(f"Response: Error\nActionID: {action_id}\nMessage: Authentication failed")
            )
            await writer.drain()
            return  # Asterisk hangs up on a failed login
        writer.write(
            _ami(f"Response: Success\nActionID: {action_id}\nMessage: Authentication accepted")
        )
        session, hold = self._next_session()
        writer.write(b"".join(_ami(block) for block in session))
        await writer.drain()
        while hold:
            action = await _read_action(reader)
            if action.get("Action") == "Ping" and self.answer_probes:
                self.probes += 1
                reply = f"Response: Success\nActionID: {action.get('ActionID', '')}\nPing: Pong"
                writer.write(_ami(reply))


def _ami(block: str) -> bytes:
    return block.replace("\n", "\r\n").encode() + b"\r\n\r\n"


async def _read_action(reader: asyncio.StreamReader) -> dict[str, str]:
    raw = await reader.readuntil(b"\r\n\r\n")
    fields = {}
    for line in raw.decode().split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            fields[key] = value
    return fields


class FakeEsl(FakePbx):
    """FreeSWITCH's event socket: auth/request, `auth` → +OK or -ERR, `event plain`, events."""

    def __init__(self, sessions: Sequence[Sequence[str]], *, password: str) -> None:
        super().__init__(sessions)
        self.password = password
        self.commands: list[str] = []
        self.jobs: list[str] = []  # what `bgapi` was asked to run

    async def _talk(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Content-Type: auth/request\n\n")
        auth = await self._command(reader)
        if auth != f"auth {self.password}":
            self.logins_refused += 1
            writer.write(b"Content-Type: command/reply\nReply-Text: -ERR invalid\n\n")
            writer.write(_disconnect_notice())
            await writer.drain()
            return
        writer.write(b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
        subscribe = await self._command(reader)
        if subscribe.startswith("bgapi "):
            # mod_event_socket: bgapi answers at once with the job's id; the command's own
            # result would follow as a BACKGROUND_JOB event (to subscribers only).
            job = f"7f4db78a-17d7-11dd-b7a0-{self.connections:012d}"
            self.jobs.append(subscribe.removeprefix("bgapi "))
            writer.write(
                f"Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job}\n"
                f"Job-UUID: {job}\n\n".encode()
            )
            await writer.drain()
            return
        if not subscribe.startswith("event plain "):
            writer.write(b"Content-Type: command/reply\nReply-Text: -ERR command not found\n\n")
            return
        writer.write(
            b"Content-Type: command/reply\nReply-Text: +OK event listener enabled plain\n\n"
        )
        session, hold = self._next_session()
        writer.write(b"".join(_event_frame(block) for block in session))
        await writer.drain()
        while hold:
            if await self._command(reader) == "api status" and self.answer_probes:
                self.probes += 1
                body = b"UP 0 years, 0 days, 1 hour\n"
                writer.write(
                    b"Content-Type: api/response\nContent-Length: %d\n\n" % len(body) + body
                )

    async def _command(self, reader: asyncio.StreamReader) -> str:
        command = (await reader.readuntil(b"\n\n")).decode().strip()
        self.commands.append(command)
        return command


def _event_frame(block: str) -> bytes:
    body = block.encode() + b"\n\n"
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body


def _disconnect_notice() -> bytes:
    body = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
    return b"Content-Type: text/disconnect-notice\nContent-Length: %d\n\n" % len(body) + body


class FakeAri(FakePbx):
    """Asterisk's HTTP server: /ari/events?app=NAME with basic auth (or api_key), then JSON."""

    def __init__(
        self,
        sessions: Sequence[Sequence[dict[str, Any]]],
        *,
        app: str = "stamgast",
        username: str = "stamgast",
        password: str,
    ) -> None:
        super().__init__(sessions)
        self.app, self.username, self.password = app, username, password
        self.paths: list[str] = []
        self._ws_server: Server | None = None

    async def start(self) -> Self:
        self._ws_server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._check, ping_interval=None
        )
        self.port = next(iter(self._ws_server.sockets)).getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._ws_server is not None:
            self._ws_server.close()
            await asyncio.wait_for(self._ws_server.wait_closed(), 5)

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        self.paths.append(request.path)
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        if url.path != "/ari/events":
            return connection.respond(404, "Not found\n")
        if query.get("app") != [self.app]:  # Asterisk: 400 "Missing parameter app"
            return connection.respond(400, "Missing or wrong parameter app\n")
        if _credentials(request.headers, query) != (self.username, self.password):
            self.logins_refused += 1
            response = connection.respond(401, "Authentication required\n")
            response.headers["WWW-Authenticate"] = 'Basic realm="Asterisk REST Interface"'
            return response
        return None

    async def _handle(self, websocket: ServerConnection) -> None:
        self.connections += 1
        session, hold = self._next_session()
        for event in session:
            await websocket.send(json.dumps(event))
        if hold:
            await websocket.wait_closed()
        else:
            await websocket.close(1001, "going away")


def _credentials(headers: Headers, query: dict[str, list[str]]) -> tuple[str, str] | None:
    authorization = headers.get("Authorization", "")
    if authorization.startswith("Basic "):
        with contextlib.suppress(ValueError):
            user, _sep, password = base64.b64decode(authorization[6:]).decode().partition(":")
            return user, password
    if "api_key" in query:
        user, _sep, password = query["api_key"][0].partition(":")
        return user, password
    return None
