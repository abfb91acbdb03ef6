"""Contacts and their identities (phones in E.164, lower-case emails) over HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from parley.platform.models import Role
from tests.conftest import Api, audit_rows, fields


def set_default_phone_region(api: Api, region: str) -> None:
    api.app.state.runtime.settings.default_phone_region = region  # type: ignore[attr-defined]


def phone(value: str) -> dict[str, str]:
    return {"kind": "phone", "value": value}


def email(value: str) -> dict[str, str]:
    return {"kind": "email", "value": value}


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/contacts", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_contact_round_trip_normalizes_phones_and_emails(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    contact = await create(
        agent,
        name="Jan Kowalski",
        company="ACME",
        notes="Prefers mornings",
        custom_fields={"tier": "gold", "seats": 12},
        identities=[
            phone("+48 601-000-000"),
            email("Jan.Kowalski@Example.COM"),
            {"kind": "visitor", "value": "v-123"},
            phone("+48601000000"),  # the same number twice is stored once
        ],
    )
    assert contact["identities"] == [
        phone("+48601000000"),
        email("jan.kowalski@example.com"),
        {"kind": "visitor", "value": "v-123"},
    ]
    assert contact["custom_fields"] == {"tier": "gold", "seats": 12}
    assert (await agent.get(f"/api/contacts/{contact['id']}")).json() == contact

    changed = await agent.patch(
        f"/api/contacts/{contact['id']}",
        json={
            "company": "ACME Ltd",
            "identities": [phone("+48601000000"), phone("+44 20 7946 0958")],
        },
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["identities"] == [phone("+48601000000"), phone("+442079460958")]
    assert changed.json()["name"] == "Jan Kowalski"

    create_row, update_row = await audit_rows(api, "contact")
    assert create_row.changes["name"] == {"old": None, "new": "Jan Kowalski"}
    assert set(update_row.changes) == {"company", "identities"}
    assert update_row.changes["identities"]["new"] == [
        phone("+48601000000"),
        phone("+442079460958"),
    ]


async def test_a_phone_without_country_needs_a_default_region(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    refused = await agent.post("/api/contacts", json={"identities": [phone("601 000 000")]})
    message = fields(refused)["identities.0.value"]
    assert "needs a + and the country code" in message

    set_default_phone_region(api, "PL")
    contact = await create(agent, identities=[phone("601 000 000"), phone("+44 20 7946 0958")])
    assert [identity["value"] for identity in contact["identities"]] == [
        "+48601000000",
        "+442079460958",
    ]


async def test_bad_phones_and_emails_are_422_naming_the_identity(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    set_default_phone_region(api, "PL")
    not_a_number = await agent.post("/api/contacts", json={"identities": [phone("call me")]})
    assert "is not a phone number" in fields(not_a_number)["identities.0.value"]
    too_short = await agent.post("/api/contacts", json={"identities": [phone("+48 12")]})
    assert "not a possible phone number" in fields(too_short)["identities.0.value"]
    bad_email = await agent.post(
        "/api/contacts", json={"identities": [phone("+48601000000"), email("jan@")]}
    )
    assert "email" in fields(bad_email)["identities.1.value"]
    unknown_kind = await agent.post(
        "/api/contacts", json={"identities": [{"kind": "fax", "value": "1"}]}
    )
    assert set(fields(unknown_kind)) == {"identities.0.kind"}


async def test_an_identity_belongs_to_one_contact_only(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    jan = await create(agent, name="Jan", identities=[phone("+48601000000"), email("jan@x.pl")])

    taken = await agent.post(
        "/api/contacts", json={"name": "Eva", "identities": [phone("+48 601 000 000")]}
    )
    assert taken.status_code == 409
    assert taken.json()["error"] == {
        "code": "identity_taken",
        "message": f"The phone +48601000000 already belongs to contact {jan['id']} (Jan).",
    }

    eva = await create(agent, name="Eva")
    taken = await agent.patch(
        f"/api/contacts/{eva['id']}", json={"identities": [email("JAN@x.pl")]}
    )
    assert taken.status_code == 409
    assert f"contact {jan['id']}" in taken.json()["error"]["message"]

    # Keeping its own identities is no conflict; dropping one frees it for others.
    kept = await agent.patch(f"/api/contacts/{jan['id']}", json={"identities": [email("jan@x.pl")]})
    assert kept.status_code == 200
    freed = await agent.patch(
        f"/api/contacts/{eva['id']}", json={"identities": [phone("+48601000000")]}
    )
    assert freed.status_code == 200


async def test_search_covers_name_company_and_identities(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    set_default_phone_region(api, "PL")
    jan = await create(agent, name="Jan Kowalski", identities=[phone("+48601000000")])
    eva = await create(agent, name="Eva", company="Kowal & Sons", identities=[email("eva@shop.pl")])
    bob = await create(agent, name="Bob", identities=[email("bob@kowal.example")])

    async def found(q: str) -> list[int]:
        response = await agent.get("/api/contacts", params={"q": q})
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await found("kowal") == [jan["id"], eva["id"], bob["id"]]
    assert await found("SHOP.pl") == [eva["id"]]
    assert await found("601000") == [jan["id"]]
    assert await found("601 000 000") == [jan["id"]]  # read as a phone number too
    assert await found("nobody") == []


async def test_filter_by_phone_or_email_matches_exactly_in_any_format(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    jan = await create(agent, name="Jan", identities=[phone("+48601000000"), email("jan@x.pl")])
    await create(agent, name="Eva", identities=[phone("+48601000001")])

    async def found(**params: str) -> list[int]:
        response = await agent.get("/api/contacts", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert await found(phone="+48 601 000 000") == [jan["id"]]
    assert await found(email="JAN@X.PL") == [jan["id"]]
    assert await found(phone="+48601000002") == []
    bad = await agent.get("/api/contacts", params={"phone": "601000000"})
    assert "needs a + and the country code" in fields(bad)["query.phone"]
    assert "query.email" in fields(await agent.get("/api/contacts", params={"email": "jan@"}))


async def test_personal_manager_must_be_a_user_and_filters_the_list(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    me = (await agent.get("/api/auth/me")).json()["id"]
    mine = await create(agent, name="Jan", personal_manager_id=me)
    await create(agent, name="Eva")
    listed = (await agent.get("/api/contacts", params={"personal_manager_id": me})).json()
    assert [item["id"] for item in listed["items"]] == [mine["id"]]
    missing = await agent.post("/api/contacts", json={"personal_manager_id": 999})
    assert fields(missing) == {"personal_manager_id": "User 999 does not exist."}


async def test_every_role_writes_contacts_but_only_admins_delete_them(api: Api) -> None:
    agent = await api.token_for(Role.AGENT)
    supervisor = await api.token_for(Role.SUPERVISOR)
    admin = await api.token_for(Role.ADMIN)
    contact = await create(agent, name="Jan")
    assert (await supervisor.patch(f"/api/contacts/{contact['id']}", json={"name": "J"})).is_success
    assert (await agent.delete(f"/api/contacts/{contact['id']}")).status_code == 403
    assert (await supervisor.delete(f"/api/contacts/{contact['id']}")).status_code == 403
    assert (await admin.delete(f"/api/contacts/{contact['id']}")).status_code == 204
    assert (await agent.get(f"/api/contacts/{contact['id']}")).status_code == 404
    # Its identities went with it.
    again = await agent.post("/api/contacts", json={"identities": []})
    assert again.status_code == 201
