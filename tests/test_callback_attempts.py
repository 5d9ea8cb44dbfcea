"""Call-back attempts over HTTP, on both databases: counted, listed, `reached` keeps the promise."""

from __future__ import annotations

import httpx

from tests.test_api_callbacks import promise


async def test_attempts_are_counted_until_the_caller_is_reached(api: httpx.AsyncClient) -> None:
    agent = (await api.post("/v1/agents", json={"name": "Sanne"})).json()
    callback = await promise(api, number="06-12345678")
    path = f"/v1/callbacks/{callback['id']}/attempts"
    first = await api.post(path, json={"outcome": "no_answer", "agent_id": agent["id"]})
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["attempt"]["outcome"] == "no_answer"
    assert body["attempt"]["agent_id"] == agent["id"]
    assert (body["callback"]["attempts"], body["callback"]["status"]) == (1, "open")
    voicemail = {"outcome": "voicemail", "note": "Ingesproken", "at": "2030-01-02T09:00:00+01:00"}
    assert (await api.post(path, json=voicemail)).json()["callback"]["attempts"] == 2
    reached = (await api.post(path, json={"outcome": "reached"})).json()["callback"]
    assert (reached["attempts"], reached["status"]) == (3, "done")
    assert reached["closed_at"] is not None
    listed = (await api.get(path)).json()
    assert [(a["outcome"], a["note"]) for a in listed] == [
        ("no_answer", ""),
        ("reached", ""),
        ("voicemail", "Ingesproken"),
    ]
    assert listed[2]["attempted_at"] == "2030-01-02T08:00:00Z"
    # A kept promise takes no more attempts until it is reopened.
    again = await api.post(path, json={"outcome": "busy"})
    assert again.status_code == 409
    assert "reopen it" in again.json()["message"]
    assert (await api.patch(f"/v1/callbacks/{callback['id']}", json={"status": "open"})).is_success
    assert (await api.post(path, json={"outcome": "busy"})).json()["callback"]["attempts"] == 4
    # An access request hands over the attempts (their notes are about the person) too.
    export = (await api.get("/v1/export", params={"number": "0612345678"})).json()
    assert [a["note"] for a in export["callback_attempts"]] == ["", "Ingesproken", "", ""]
    assert {a["callback_request_id"] for a in export["callback_attempts"]} == {callback["id"]}


async def test_bad_attempts_are_refused(api: httpx.AsyncClient) -> None:
    callback = await promise(api, number="06-12345678")
    path = f"/v1/callbacks/{callback['id']}/attempts"
    wrong = await api.post(path, json={"outcome": "maybe"})
    assert wrong.status_code == 422 and wrong.json()["fields"][0]["field"] == "outcome"
    nobody = await api.post(path, json={"outcome": "busy", "agent_id": 999999})
    assert nobody.status_code == 422
    assert nobody.json()["message"] == "agent_id 999999 does not exist in this tenant."
    missing = await api.post("/v1/callbacks/999999/attempts", json={"outcome": "busy"})
    assert missing.status_code == 404
    assert (await api.get(f"/v1/callbacks/{callback['id']}")).json()["attempts"] == 0
