"""Asterisk's ARI REST side on 127.0.0.1: `POST /ari/channels` (originate) as documented.

https://docs.asterisk.org/Latest_API/API_Documentation/Asterisk_REST_Interface/Channels_REST_API/#originate
Basic auth as ari.conf; the endpoint is required and of the form Tech/resource; either
`app` or `extension`/`context` says where the answered channel goes; `variables` in the JSON
body. Answers 200 with the Channel (its `dialplan` and `caller` as the request set them),
400 with `{"message": …}` for bad parameters, 401 for wrong credentials, as Asterisk does.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class FakeAriRest:
    """Originated channels, as Asterisk would have them."""

    username: str
    password: str
    url: str = ""
    channels: list[dict[str, Any]] = field(default_factory=list)
    variables: list[dict[str, str]] = field(default_factory=list)
    refused: int = 0


def _originate(fake: FakeAriRest, query: dict[str, str], body: bytes) -> tuple[int, object]:
    endpoint = query.get("endpoint", "")
    if not endpoint:
        return 400, {"message": "Endpoint must be specified"}
    if "/" not in endpoint:
        return 400, {"message": "Endpoint must be in the form Tech/resource"}
    if query.get("app") and query.get("extension"):
        return 400, {"message": "Application and dialplan location are mutually exclusive"}
    if not query.get("app") and not query.get("extension"):
        return 400, {"message": "Application or extension must be specified"}
    if not query.get("timeout", "30").lstrip("-").isdigit():
        return 400, {"message": "timeout must be an integer"}
    variables = json.loads(body or b"{}").get("variables", {})
    fake.variables.append(variables)
    channel = {
        "id": f"1714557600.{len(fake.channels) + 100}",
        "name": f"{endpoint}-00000001",
        "state": "Down",
        "caller": {"name": "", "number": query.get("callerId", "")},
        "connected": {"name": "", "number": ""},
        "dialplan": {
            "context": query.get("context", "default"),
            "exten": query.get("extension", "s"),
            "priority": int(query.get("priority", "1")),
        },
        "creationtime": "2026-12-04T10:00:00.000+0100",
        "language": "en",
    }
    fake.channels.append({**channel, "timeout": int(query.get("timeout", "30"))})
    return 200, channel


def _handler(fake: FakeAriRest) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            expected = base64.b64encode(f"{fake.username}:{fake.password}".encode()).decode()
            if self.headers.get("Authorization") != f"Basic {expected}":
                fake.refused += 1
                status, answer = 401, {"message": "Authentication required"}
            elif parts.path != "/ari/channels":
                status, answer = 404, {"message": "Resource not found"}
            else:
                status, answer = _originate(fake, query, body)
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def fake_ari_rest(*, username: str, password: str) -> Iterator[FakeAriRest]:
    """A running fake; `url` is the base to give the connector (http://127.0.0.1:port)."""
    fake = FakeAriRest(username=username, password=password)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)
