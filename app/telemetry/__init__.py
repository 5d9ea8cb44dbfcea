"""What the server tells operators about itself: structured log lines and optional traces.

- `context`: the request's fields (request id, call id, tenant, provider, outcome) that
  every log line written while serving it carries.
- `request_ids`: the `X-Request-ID` taken from the request or made, and returned.
- `json_lines`, `config`: log lines as JSON or text, for our loggers and uvicorn's.
- `tracing`: OpenTelemetry spans of the webhook path, only when OTEL_* asks for them.
"""
