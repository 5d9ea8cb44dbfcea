"""Real HTTP servers for stream tests: uvicorn in a thread, or `python -m uvicorn` processes.

In-process ASGI transports cannot carry WebSockets, and SSE needs a real disconnect, so
stream tests talk to a listening socket.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Coroutine, Iterator, Sequence
from concurrent.futures import Future
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI

from app.main import create_app
from app.screen_pop.broker import make_broker
from app.screen_pop.hub import ScreenPopHub
from app.screen_pop.router import router as screen_pop_router
from app.settings import Settings
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def build_app(settings: Settings) -> FastAPI:
    """The app with the screen-pop hub and routes, whether or not app.main wires them yet."""
    app = create_app(settings)
    included = any(
        getattr(route, "original_router", None) is screen_pop_router  # FastAPI's include
        or getattr(route, "path", None) == "/v1/stream"  # older FastAPI copies routes
        for route in app.routes
    )
    if not included:
        app.include_router(screen_pop_router, prefix="/v1")
    wrapped = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with wrapped(application) as state:
            application.state.loop = asyncio.get_running_loop()
            own_hub = getattr(application.state, "hub", None) is None
            if own_hub:
                application.state.hub = ScreenPopHub(make_broker(settings), settings)
                await application.state.hub.start()
            try:
                yield state
            finally:
                if own_hub:
                    await application.state.hub.stop()

    app.router.lifespan_context = lifespan
    return app


class ThreadServer:
    """A uvicorn server on its own event loop in a thread."""

    def __init__(self, app: FastAPI, port: int) -> None:
        self.app = app
        self.base_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{port}", daemon=True)

    @property
    def hub(self) -> ScreenPopHub:
        hub: ScreenPopHub = self.app.state.hub
        return hub

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> Future[T]:
        """Run a coroutine on the server's loop (the hub's queues live there)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.app.state.loop)

    async def call(self, coroutine: Coroutine[Any, Any, T], seconds: float = 5.0) -> T:
        """Run a coroutine on the server's loop and wait (at most `seconds`) for its result."""
        return await asyncio.wait_for(asyncio.wrap_future(self.submit(coroutine)), seconds)

    def begin_shutdown(self) -> None:
        """What SIGTERM does in a real process: `bye` to every stream."""
        self.app.state.loop.call_soon_threadsafe(self.hub.begin_shutdown)

    def start(self, timeout: float = 15.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        if self.server.started and not self.hub.closing:
            self.begin_shutdown()  # else open SSE responses keep uvicorn waiting forever
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout)


@contextmanager
def thread_server(settings: Settings) -> Iterator[ThreadServer]:
    """The app (with its hub) served on 127.0.0.1 from a thread, for the block's duration."""
    server = ThreadServer(build_app(settings), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def live_server(
    database_url: str, redis_url: str | None = None, timeout: float = 30.0
) -> Iterator[str]:
    """`python -m uvicorn app.main:app` on a free port; yields its base URL."""
    with live_server_process(database_url, redis_url, timeout) as (base_url, _process):
        yield base_url


@contextmanager
def live_server_process(
    database_url: str,
    redis_url: str | None = None,
    timeout: float = 30.0,
    extra_env: dict[str, str] | None = None,
    port: int | None = None,
    uvicorn_args: Sequence[str] = ("--log-level", "warning"),
    output: BinaryIO | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Like `live_server`, also yielding the process (to signal it); on `port` when given
    (a restarted server where its clients expect it). `uvicorn_args` replace the quiet log
    level (e.g. the container's --log-config); `output` receives stdout and stderr."""
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAMGAST_")}
    env.update(extra_env or {})
    env["STAMGAST_DATABASE_URL"] = database_url
    if redis_url:
        env["STAMGAST_REDIS_URL"] = redis_url
    with tempfile.TemporaryFile() as scratch:
        log = output or scratch
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1",
             "--port", str(port), *uvicorn_args],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(process, base_url, timeout, log)
            yield base_url, process
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)


def _wait_healthy(
    process: subprocess.Popen[bytes], base_url: str, timeout: float, log: Any
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            output = log.read().decode(errors="replace")
            raise RuntimeError(f"server exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {base_url} not healthy within {timeout}s")
