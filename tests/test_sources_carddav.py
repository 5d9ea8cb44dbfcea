"""The `carddav` source against Radicale, a real CardDAV server started by the test.

Numbers typed in any notation in the address book are found by the caller's number; the
book is read again only when its sync-token says it changed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.phone import normalise
from app.sources.carddav_source import CardDavSource
from app.sources.schemas import CardDavConfig
from tests.support.radicale_server import PASSWORD, USER, put_card, running_radicale
from tests.support.servers import free_port
from tests.test_sources import add_source, try_number


@pytest.fixture(scope="module")
def book() -> Iterator[str]:
    with running_radicale(free_port()) as url:
        yield url


def carddav_source(url: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Adresboek",
        "kind": "carddav",
        "secret": PASSWORD,
        "config": {
            "url": url,
            "username": USER,
            "deep_link": "https://contacts.example.org/card/{external_id}",
        },
    }
    body.update(extra)
    return body


async def test_numbers_in_any_notation_are_found(api: httpx.AsyncClient, book: str) -> None:
    created = await add_source(api, carddav_source(book))
    assert created["has_secret"] is True
    body = (await try_number(api, created["id"], "0612349876")).json()
    assert body["ok"] is True, body
    [record] = body["records"]
    assert record["display_name"] == "Fatima Yilmaz"
    assert record["form_of_address"] == "Mevrouw Yilmaz"
    assert record["organisation"] == "Thuiszorg Oost · Planning"
    assert record["details"] == {"title": "Planner"}
    assert record["deep_link"] == "https://contacts.example.org/card/yilmaz-1"
    # "+31 (0)30 …" and "0031 33 …" and a vCard 4 tel: URI from abroad.
    for number, name in [
        ("030 123 4567", "Fatima Yilmaz"),
        ("+31337654321", "Jonas Müller"),
        ("+49 30 1234567", "Jonas Müller"),
    ]:
        card = (await api.get("/v1/lookup", params={"number": number})).json()
        assert card["display_name"] == name, (number, card)
        assert card["sources"][0]["source"] == "Adresboek"
    assert (await api.get("/v1/lookup", params={"number": "0612000000"})).json()["sources"] == []


async def test_a_wrong_password_is_a_failing_source(api: httpx.AsyncClient, book: str) -> None:
    created = await add_source(api, carddav_source(book, secret="wrong"))
    body = (await try_number(api, created["id"], "0612349876")).json()
    assert body["ok"] is False and "401" in body["error"]


async def test_a_username_needs_a_password(api: httpx.AsyncClient, book: str) -> None:
    body = carddav_source(book)
    del body["secret"]
    response = await api.post("/v1/sources", json=body)
    assert response.status_code == 422 and "password" in response.json()["message"]


async def test_the_book_is_read_again_only_when_its_sync_token_changes(book: str) -> None:
    config = CardDavConfig(url=book, username=USER, refresh_seconds=1)
    source = CardDavSource(config, PASSWORD, timeout=2)
    newcomer = normalise("+31 6 5555 0000", "NL")
    try:
        assert await source.lookup(newcomer) == []
        loaded = source._loaded_at
        await asyncio.sleep(1.1)
        assert await source.lookup(newcomer) == []
        assert source._loaded_at == loaded  # asked, unchanged: not read again
        put_card(
            book.split("/alice/")[0],
            "newcomer",
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:new-3\r\nFN:Noor Bakker\r\n"
            "TEL:06 5555 0000\r\nEND:VCARD\r\n",
        )
        assert await source.lookup(newcomer) == []  # within refresh_seconds: from memory
        await asyncio.sleep(1.1)
        [record] = await source.lookup(newcomer)
        assert record.display_name == "Noor Bakker" and source._loaded_at != loaded
    finally:
        await source.close()
