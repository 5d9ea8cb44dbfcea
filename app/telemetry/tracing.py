"""OpenTelemetry spans of the webhook path, when the standard OTEL_* variables ask for them.

Off by default, and then nothing of the SDK is imported and a span costs one attribute
test. Tracing is on when OTEL_TRACES_EXPORTER names an exporter (`otlp`, `console`) or an
OTLP endpoint is set (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), and
OTEL_SDK_DISABLED is not `true`. The OTLP exporter (HTTP/protobuf) comes with the `otel`
extra (`pip install 'stamgast[otel]'`) and reads its own OTEL_EXPORTER_OTLP_* variables;
OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES name the service (default `stamgast`).

Spans: `webhook` for each phone-system request (attributes `stamgast.provider`,
`stamgast.tenant`, `stamgast.outcome`, `http.response.status_code`), with children
`record` (the database work) and `publish` (each pop to the broker).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import Any

log = logging.getLogger("stamgast.tracing")

_NO_SPAN: AbstractContextManager[Any] = contextlib.nullcontext()
_tracer: Any = None  # an opentelemetry Tracer while tracing is on
_owned: Any = None  # the TracerProvider made from OTEL_*, flushed by `shutdown`


def enabled() -> bool:
    """Whether spans are being made."""
    return _tracer is not None


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether the OTEL_* variables ask for traces."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def configure_from_environment(environ: Mapping[str, str] = os.environ) -> bool:
    """Start tracing if the environment asks for it; whether it is on."""
    if _tracer is not None or not wanted(environ):
        return enabled()
    try:
        provider = _provider(environ)
    except ImportError:
        log.error(
            "OTEL_* asks for traces but OpenTelemetry's SDK is not installed: "
            "pip install 'stamgast[otel]' (tracing stays off)"
        )
        return False
    global _owned
    _owned = provider
    use(provider)
    return True


def _provider(environ: Mapping[str, str]) -> Any:
    # Imported here only: a server without OTEL_* never loads the SDK.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    service = {"service.name": environ.get("OTEL_SERVICE_NAME") or "stamgast"}
    provider = TracerProvider(resource=Resource.create(service))
    names = environ.get("OTEL_TRACES_EXPORTER", "otlp").lower() or "otlp"
    for name in (n.strip() for n in names.split(",")):
        exporter: Any
        if name == "console":
            exporter = ConsoleSpanExporter()
        elif name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        else:
            log.warning("OTEL_TRACES_EXPORTER %r is not supported here (otlp, console)", name)
            continue
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def use(provider: Any) -> None:
    """Make spans with this TracerProvider (tests hand in one with an in-memory exporter)."""
    global _tracer
    _tracer = provider.get_tracer("stamgast")


def stop() -> None:
    """Stop making spans; spans made from OTEL_* are sent before this returns."""
    global _tracer, _owned
    _tracer = None
    if _owned is not None:
        _owned.shutdown()
        _owned = None


def span(
    name: str, attributes: Mapping[str, str | int] | None = None
) -> AbstractContextManager[Any]:
    """A span as a child of the current one; a reusable no-op (yielding None) while off."""
    if _tracer is None:
        return _NO_SPAN
    made: AbstractContextManager[Any] = _tracer.start_as_current_span(name, attributes=attributes)
    return made


def annotate(current: Any, attributes: Mapping[str, str | int]) -> None:
    """Set attributes on a span from `span` (nothing while tracing is off)."""
    if current is not None:
        current.set_attributes(attributes)
