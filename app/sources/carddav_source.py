"""`carddav`: a CardDAV address book, read whole and kept in memory by number.

A CardDAV server matches TEL text as text (`06-1234 5678` is not `+31612345678`), so the
book is read once with one REPORT and every TEL is put through our normaliser; after
`refresh_seconds` the book's own change signal (its sync-token, else its CTag) is asked
with one PROPFIND, and the book is read again only when that changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from urllib.parse import quote, urljoin

import httpx
import vobject  # type: ignore[import-untyped]

from app.phone import PhoneNumber, normalise
from app.sources.base import SourceError, SourceRecord, SourceRefused, SourceUnreachable, text
from app.sources.schemas import CardDavConfig

DAV, CARD, CS = "DAV:", "urn:ietf:params:xml:ns:carddav", "http://calendarserver.org/ns/"
log = logging.getLogger("stamgast.sources")
MAX_BOOK_BYTES = 50 * 1024 * 1024
CHANGE_SIGNAL = (
    '<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" '
    'xmlns:cs="http://calendarserver.org/ns/"><d:prop><d:sync-token/><cs:getctag/>'
    "</d:prop></d:propfind>"
)
EVERY_CARD = (
    '<?xml version="1.0" encoding="utf-8"?><c:addressbook-query xmlns:d="DAV:" '
    'xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><c:address-data/>'
    "</d:prop></c:addressbook-query>"
)


class CardDavSource:
    """Looks numbers up in an address book kept in memory (see CardDavConfig)."""

    def __init__(self, config: CardDavConfig, secret: str | None, timeout: float) -> None:
        self._config = config
        auth = httpx.BasicAuth(config.username, secret or "") if config.username else None
        self._client = httpx.AsyncClient(auth=auth, timeout=timeout, follow_redirects=False)
        self._index: dict[str, list[SourceRecord]] = {}
        self._signal: str | None = None
        self._checked_at = -float("inf")
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def lookup(self, number: PhoneNumber) -> list[SourceRecord]:
        """The cards with this number (the book is read first when it may have changed)."""
        if time.monotonic() - self._checked_at >= self._config.refresh_seconds:
            async with self._lock:  # one refresh at a time; the others wait for it
                if time.monotonic() - self._checked_at >= self._config.refresh_seconds:
                    try:
                        await self._refresh()
                    except SourceError:
                        if self._loaded_at is None:
                            raise
                        # The book was read before: answer from it, ask again next refresh.
                        self._checked_at = time.monotonic()
                        log.warning("address book unreachable; answering from the last copy")
        return list(self._index.get(number.e164 or "", []))

    async def _refresh(self) -> None:
        signal = await self._change_signal()
        if signal is None or signal != self._signal:
            self._index = self._read_book(await self._request("REPORT", EVERY_CARD, depth="1"))
            self._signal = signal
            self._loaded_at = time.monotonic()
        self._checked_at = time.monotonic()

    async def _change_signal(self) -> str | None:
        body = await self._request("PROPFIND", CHANGE_SIGNAL, depth="0")
        root = _xml(body)
        for tag in (f"{{{DAV}}}sync-token", f"{{{CS}}}getctag"):
            found = root.find(f".//{tag}")
            if found is not None and found.text:
                return found.text
        return None  # no signal: read the book every refresh

    async def _request(self, method: str, body: str, *, depth: str) -> bytes:
        try:
            response = await self._client.request(
                method,
                self._config.url,
                content=body.encode(),
                headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"},
            )
        except httpx.TimeoutException as exc:
            raise SourceUnreachable(f"no answer in time ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            raise SourceUnreachable(f"cannot reach it ({type(exc).__name__})") from None
        if response.status_code != 207:
            raise SourceRefused(f"answered HTTP {response.status_code} to {method}")
        if len(response.content) > MAX_BOOK_BYTES:
            raise SourceRefused("the address book is larger than 50 MB")
        return response.content

    def _read_book(self, body: bytes) -> dict[str, list[SourceRecord]]:
        index: dict[str, list[SourceRecord]] = defaultdict(list)
        for response in _xml(body).iter(f"{{{DAV}}}response"):
            data = response.find(f".//{{{CARD}}}address-data")
            href = response.findtext(f"{{{DAV}}}href") or ""
            if data is None or not data.text:
                continue
            try:
                card = vobject.readOne(data.text)
            except Exception:
                continue  # one broken card must not hide the others
            record = self._record(card, urljoin(self._config.url, href))
            for e164 in self._numbers(card):
                if record not in index[e164]:
                    index[e164].append(record)
        return dict(index)

    def _numbers(self, card: vobject.base.Component) -> set[str]:
        found = set()
        for tel in getattr(card, "tel_list", []):
            number = normalise(str(tel.value), self._config.region)
            if number.e164:
                found.add(number.e164)
        return found

    def _record(self, card: vobject.base.Component, href: str) -> SourceRecord:
        uid = text(card.uid.value, 120) if hasattr(card, "uid") else None
        org = card.org.value if hasattr(card, "org") else None
        organisation = text(" · ".join(p for p in org if p) if isinstance(org, list) else org)
        form = None
        if hasattr(card, "n") and card.n.value.prefix and card.n.value.family:
            form = text(f"{card.n.value.prefix} {card.n.value.family}")
        title = text(card.title.value) if hasattr(card, "title") else None
        link = None
        if self._config.deep_link:
            link = self._config.deep_link.format(external_id=quote(uid or "", safe=""), href=href)
        return SourceRecord(
            display_name=text(card.fn.value) if hasattr(card, "fn") else None,
            form_of_address=form,
            external_id=uid,
            deep_link=link,
            organisation=organisation,
            language=text(card.lang.value, 35) if hasattr(card, "lang") else None,
            details={"title": title} if title else {},
        )

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _xml(body: bytes) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise SourceRefused(f"answered XML we cannot read ({exc})") from None
