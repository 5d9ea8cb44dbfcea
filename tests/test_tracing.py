"""OpenTelemetry spans of the webhook path, kept by the SDK's in-memory exporter; the SDK
not loaded at all unless OTEL_* asks for traces; X-Request-ID taken or made, and returned."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.telemetry import tracing
from app.telemetry.request_ids import new_request_id
from tests.conftest import TenantCtx
from tests.support.live_server import ROOT
from tests.test_webhooks import SECRET, add_ada, connect, generic_event, post_generic


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        yield exporter
    finally:
        tracing.stop()
        provider.shutdown()


async def test_a_webhook_is_one_span_with_record_and_publish_below_it(
    app: FastAPI,
    api: httpx.AsyncClient,
    client: httpx.AsyncClient,
    tenant: TenantCtx,
    spans: InMemorySpanExporter,
) -> None:
    await add_ada(app, tenant)
    await connect(api, "generic", SECRET)
    call = uuid.uuid4().hex
    event = generic_event(call, "ringing", extension="201")
    assert (await post_generic(client, tenant, event)).status_code == 200
    assert (await post_generic(client, tenant, event)).status_code == 200  # a retry
    assert (await post_generic(client, tenant, event, secret="wrong")).status_code == 401

    finished = spans.get_finished_spans()
    webhooks = [s for s in finished if s.name == "webhook"]
    assert [w.attributes["stamgast.outcome"] for w in webhooks if w.attributes] == [
        "recorded",
        "duplicate",
        "bad_signature",
    ]
    first = webhooks[0]
    assert first.attributes is not None
    assert first.attributes["stamgast.provider"] == "generic"
    assert first.attributes["stamgast.tenant"] == tenant.slug
    assert first.attributes["http.response.status_code"] == 200
    assert webhooks[2].attributes and webhooks[2].attributes["http.response.status_code"] == 401
    children = {
        s.name: s
        for s in finished
        if s.parent and first.context and s.parent.span_id == first.context.span_id
    }
    assert set(children) == {"record", "publish"}
    assert children["publish"].attributes == {"stamgast.pops": 1}
    assert all(
        s.context and s.context.trace_id == first.context.trace_id for s in children.values()
    )


async def test_no_span_and_no_cost_while_tracing_is_off(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    assert not tracing.enabled()
    await connect(api, "generic", SECRET)
    with tracing.span("record") as span:
        assert span is None
    assert (await post_generic(client, tenant, generic_event("c1", "ringing"))).status_code == 200


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "stamgast"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
    ],
)
def test_only_the_standard_variables_turn_tracing_on(environ: dict[str, str], wanted: bool) -> None:
    assert tracing.wanted(environ) is wanted


def _sdk_loaded(env: dict[str, str]) -> str:
    probe = (
        "import sys; from app.main import create_app; create_app(); "
        "print(sorted({m.split('.')[1] for m in sys.modules "
        "if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter'))}))"
    )
    clean = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def test_the_sdk_is_loaded_only_when_otel_asks_for_traces() -> None:
    assert _sdk_loaded({}) == "[]"
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    assert _sdk_loaded(endpoint) == "['exporter', 'sdk']"


async def test_the_request_id_is_taken_when_sound_else_made_and_always_returned(
    client: httpx.AsyncClient,
) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "lb-7f3a.2:9_x"})
    assert given.headers["X-Request-ID"] == "lb-7f3a.2:9_x"
    unsound_ids = [b"x" * 65, b"two words", "naïve".encode("latin-1"), b"a\tb", b""]
    for unsound in unsound_ids:
        made = await client.get("/healthz", headers={b"X-Request-ID": unsound})
        assert made.headers["X-Request-ID"].encode() != unsound
        assert len(made.headers["X-Request-ID"]) == 32
    first, second = [await client.get("/healthz") for _ in range(2)]
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    refused = await client.get("/v1/contacts")  # errors name their request too
    assert refused.status_code == 401 and len(refused.headers["X-Request-ID"]) == 32


def test_made_ids_never_hold_what_the_log_would_mask() -> None:
    from app.log_privacy import mask_numbers

    for _ in range(2000):
        request_id = new_request_id()
        assert mask_numbers(request_id) == request_id
