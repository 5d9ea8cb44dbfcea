"""`http`: any JSON API, asked with a URL template and read with JMESPath expressions."""

from __future__ import annotations

import functools
import ssl
from typing import Any
from urllib.parse import quote

import certifi
import httpx
import jmespath

from app.phone import PhoneNumber
from app.sources.base import SourceRecord, SourceRefused, SourceUnreachable, number_forms, text
from app.sources.schemas import HttpConfig

MAX_RECORDS = 5
MAX_BODY_BYTES = 1024 * 1024  # a reverse lookup answers a few records, never megabytes


class HttpSource:
    """Asks a JSON API who a number is (see HttpConfig)."""

    def __init__(self, config: HttpConfig, secret: str | None, timeout: float) -> None:
        self._config = config
        self._records = jmespath.compile(config.records) if config.records else None
        self._mapping = {
            name: jmespath.compile(expression)
            for name, expression in config.mapping.model_dump().items()
            if expression is not None
        }
        headers = {"Accept": "application/json", **config.headers}
        auth: httpx.BasicAuth | None = None
        if config.auth == "bearer":
            headers["Authorization"] = f"Bearer {secret or ''}"
        elif config.auth == "api_key":
            headers[config.api_key_header] = secret or ""
        elif config.auth == "basic":
            auth = httpx.BasicAuth(config.username or "", secret or "")
        self._client = httpx.AsyncClient(
            headers=headers,
            auth=auth,
            timeout=timeout,
            follow_redirects=False,
            verify=_tls(),
        )

    async def lookup(self, number: PhoneNumber) -> list[SourceRecord]:
        """GET the URL for this number and map what it returns."""
        forms = {key: quote(value, safe="") for key, value in number_forms(number).items()}
        url = self._config.url.format(**forms)
        try:
            response = await self._client.get(url)
        except httpx.TimeoutException as exc:
            raise SourceUnreachable(f"no answer in time ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise SourceUnreachable(f"cannot reach it ({type(exc).__name__})") from None
        if response.status_code == 404:
            return []  # many CRMs say "nobody with this number" so
        if response.status_code >= 400:
            raise SourceRefused(f"answered HTTP {response.status_code}")
        if len(response.content) > MAX_BODY_BYTES:
            raise SourceRefused(f"answered {len(response.content)} bytes, more than a lookup needs")
        try:
            body = response.json()
        except ValueError:
            raise SourceRefused("answered something that is not JSON") from None
        return self.read(body)

    def read(self, body: Any) -> list[SourceRecord]:
        """The records in a response body, mapped to our fields."""
        found = self._records.search(body) if self._records is not None else body
        if found is None:
            return []
        items = found if isinstance(found, list) else [found]
        records = [self._record(item) for item in items[:MAX_RECORDS] if isinstance(item, dict)]
        return [record for record in records if record.display_name]

    def _record(self, item: dict[str, Any]) -> SourceRecord:
        values = {name: expression.search(item) for name, expression in self._mapping.items()}
        flags = values.get("flags")
        return SourceRecord(
            display_name=text(values.get("display_name")),
            form_of_address=text(values.get("form_of_address")),
            external_id=text(values.get("external_id"), 120),
            deep_link=_link(values.get("deep_link")),
            organisation=text(values.get("organisation")),
            language=text(values.get("language"), 35),
            flags=tuple(f for f in (text(v, 32) for v in flags or []) if f)
            if isinstance(flags, list)
            else (),
            last_activity=text(values.get("last_activity"), 64),
        )

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every source: making one reads the CA bundle (~30 ms)."""
    return ssl.create_default_context(cafile=certifi.where())


def _link(value: object) -> str | None:
    """Only http(s) links reach the widget: a `javascript:` link from a source must not."""
    shown = text(value, 2000)
    if shown is None or not shown.lower().startswith(("https://", "http://")):
        return None
    return shown
