"""A real HTTP(S) server on 127.0.0.1 that records each request and answers as told.

Vendors' own SDKs and our originators send to it alike, so a test compares what each sent
on the wire (method, path, query, headers, body) rather than trusting either side's model.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Recorded:
    """One request as it arrived."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingServer:
    """Answers every request with `status` and `reply`; `delay` seconds first if set."""

    url: str = ""
    status: int = 201
    reply: bytes = b"{}"
    delay: float = 0.0
    requests: list[Recorded] = field(default_factory=list)
    ca_file: str = ""

    def last(self) -> Recorded:
        assert self.requests, "the server received no request"
        return self.requests[-1]


def _handler(server: RecordingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            server.requests.append(
                Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
            )
            if server.delay:
                threading.Event().wait(server.delay)
            try:
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.reply)))
                self.end_headers()
                self.wfile.write(server.reply)
            except (BrokenPipeError, ConnectionResetError):
                pass  # a client that gave up waiting (the timeout test) is gone

        do_GET = do_POST = do_PUT = do_DELETE = _record

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (it is its own CA) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@contextmanager
def recording_server(*, tls: bool = False) -> Iterator[RecordingServer]:
    """A running server; `tls` serves HTTPS with a certificate in `ca_file`."""
    state = RecordingServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    with tempfile.TemporaryDirectory() as directory:
        scheme = "http"
        if tls:
            cert_file, key_file = _self_signed(Path(directory))
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert_file, key_file)
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
            state.ca_file, scheme = str(cert_file), "https"
        state.url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}"
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield state
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join(5)
