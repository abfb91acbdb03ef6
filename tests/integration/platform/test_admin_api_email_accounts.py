"""Mailboxes over HTTP: admins only, passwords sealed at rest and never returned."""

from __future__ import annotations

from sqlalchemy import select

from parley.platform.models import EmailAccount, Role
from parley.platform.secret_box import SecretBox
from tests.conftest import Api, audit_rows


async def test_admins_configure_mailboxes_whose_passwords_are_sealed(api: Api) -> None:
    admin = await api.token_for(Role.ADMIN)
    supervisor = await api.token_for(Role.SUPERVISOR)
    queue = await admin.post("/api/queues", json={"name": "Mail", "channels": ["email"]})
    body = {
        "name": "Support inbox",
        "queue_id": queue.json()["id"],
        "imap_host": "imap.example.com",
        "imap_username": "support@example.com",
        "imap_password": "imap-secret-1",
        "smtp_host": "smtp.example.com",
        "smtp_username": "support@example.com",
        "smtp_password": "smtp-secret-2",
        "from_address": "support@example.com",
    }

    created = await admin.post("/api/email-accounts", json=body)

    assert created.status_code == 201, created.text
    shown = created.json()
    assert shown["has_imap_password"] and shown["has_smtp_password"]
    assert "secret" not in created.text
    runtime = api.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.database.sessions() as db:
        row = await db.scalar(select(EmailAccount))
    assert row is not None and "imap-secret-1" not in row.imap_password_sealed
    box = SecretBox(runtime.settings.resolved_secret_key())
    assert box.open(row.imap_password_sealed) == "imap-secret-1"
    assert box.open(row.smtp_password_sealed) == "smtp-secret-2"
    assert all("secret" not in str(a.changes) for a in await audit_rows(api, "email_account"))

    cleared = await admin.patch(f"/api/email-accounts/{shown['id']}", json={"smtp_password": ""})
    assert cleared.json()["has_smtp_password"] is False
    assert cleared.json()["has_imap_password"] is True
    assert (await supervisor.get("/api/email-accounts")).status_code == 403
    bad = await admin.post("/api/email-accounts", json={**body, "imap_port": 0, "name": "x"})
    assert bad.status_code == 422
