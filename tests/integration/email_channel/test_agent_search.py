"""Searching email from the desktop (F-EM-4), on SQLite and PostgreSQL: by subject,
sender, text and case number, within what the caller may see."""

from __future__ import annotations

from tests.integration.email_channel import test_email_send as sending
from tests.integration.email_channel.test_email_send import Desk, mail

# The mail servers, the agents and the mailbox of the sending tests.
desk = sending.desk
settings = sending.settings


async def _search(client: object, q: str) -> list[dict[str, object]]:
    response = await client.get("/api/email-search", params={"q": q})  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    found: list[dict[str, object]] = response.json()
    return found


async def test_search_finds_by_subject_sender_text_and_case_number(desk: Desk) -> None:
    await desk.receive(mail("Broken kettle", "The lid cracked after a week.")[0])
    kettle_id = await desk.take()
    await desk.receive(
        mail("Invoice question", "Why 100% VAT?", sender="Olga Smirnova <olga@example.net>")[0]
    )
    invoice_id = await desk.take()
    kettle_case = (await desk.agent.get(f"/api/emails/{kettle_id}")).json()["case_id"]

    [by_subject] = await _search(desk.agent, "kettle")
    assert by_subject["interaction_id"] == kettle_id and by_subject["case_id"] == kettle_case
    assert by_subject["from"] == {"name": "Ivan Petrov", "address": "ivan@example.org"}
    [by_text] = await _search(desk.agent, "LID CRACKED")
    assert by_text["case_id"] == kettle_case and "lid cracked" in str(by_text["snippet"])
    [by_sender] = await _search(desk.agent, "olga@example")
    assert by_sender["interaction_id"] == invoice_id
    assert [f["interaction_id"] for f in await _search(desk.agent, "Smirnova")] == [invoice_id]
    # LIKE's wildcards are searched for as they are.
    assert [f["interaction_id"] for f in await _search(desk.agent, "100%")] == [invoice_id]
    assert await _search(desk.agent, "10_%") == []
    for number in (str(kettle_case), f"#{kettle_case}", f"[#{kettle_case}]"):
        assert kettle_case in {f["case_id"] for f in await _search(desk.agent, number)}

    # A reply is found too, newest first.
    sent = await desk.agent.post(
        f"/api/emails/{kettle_id}/send", json={"text": "We will send a new kettle lid."}
    )
    assert sent.status_code == 201, sent.text
    found = await _search(desk.agent, "kettle")
    assert [f["direction"] for f in found] == ["outbound", "inbound"]


async def test_search_stays_within_the_callers_access(desk: Desk) -> None:
    await desk.receive(mail("Private matter", "Only for the agent who has it.")[0])
    await desk.take()
    assert len(await _search(desk.agent, "private")) == 1
    assert await _search(desk.other, "private") == []
    [seen] = await _search(desk.supervisor, "private")
    assert seen["interaction_id"] is not None  # a supervisor may open any
    blank = await desk.agent.get("/api/email-search", params={"q": "   "})
    assert blank.status_code == 422
    assert (await desk.agent.get("/api/email-search")).status_code == 422
    anonymous = await desk.api.client.get("/api/email-search", params={"q": "private"})
    assert anonymous.status_code == 401
