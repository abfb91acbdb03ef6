"""Mailboxes (F-EM-1), for admins: the IMAP inbox a queue's email is read from and the
SMTP server its replies leave by.

Passwords are write-only: sent in clear over the API (HTTPS in production), sealed with
the application's key before they are stored (`parley.platform.secret_box`), never
returned; `has_imap_password` / `has_smtp_password` say whether one is set. Sending an
empty password clears it. The engine role reads the mailboxes it follows at start-up: a
mailbox added or switched on is followed after the next restart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, EmailStr, Field

from parley.platform.admin_api.resources import Access, Context, Filter, Resource, Unique
from parley.platform.admin_api.schemas import Input, Name
from parley.platform.models import EmailAccount, EmailTemplate, Queue, TlsMode
from parley.platform.secret_box import SecretBox
from parley.platform.web.deps import ADMINS

Host = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.:-]+$")]
Port = Annotated[int, Field(ge=1, le=65535)]
Login = Annotated[str, Field(max_length=320)]
Password = Annotated[str, Field(max_length=500)]


class EmailAccountCreate(Input):
    name: Name
    queue_id: int = Field(description="The queue its email waits in.")
    imap_host: Host
    imap_port: Port = 993
    imap_username: Login
    imap_password: Password = ""
    imap_tls: TlsMode = TlsMode.TLS
    imap_folder: str = Field("INBOX", min_length=1, max_length=200)
    smtp_host: Host | None = None
    smtp_port: Port = 587
    smtp_username: Login = ""
    smtp_password: Password = ""
    smtp_tls: TlsMode = TlsMode.STARTTLS
    from_address: EmailStr | None = None
    auto_ack_enabled: bool = False
    auto_ack_template_id: int | None = None
    is_active: bool = True


class EmailAccountOut(BaseModel):
    id: int
    name: str
    queue_id: int
    imap_host: str
    imap_port: int
    imap_username: str
    imap_tls: TlsMode
    imap_folder: str
    has_imap_password: bool
    smtp_host: str
    smtp_port: int
    smtp_username: str
    smtp_tls: TlsMode
    has_smtp_password: bool
    from_address: str
    auto_ack_enabled: bool
    auto_ack_template_id: int | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class EmailAccountResource(Resource[EmailAccount]):
    async def prepare(
        self, ctx: Context, values: dict[str, Any], row: EmailAccount | None
    ) -> dict[str, Any]:
        box = SecretBox(ctx.runtime.settings.resolved_secret_key())
        for kind in ("imap", "smtp"):
            if f"{kind}_password" in values:
                password = values.pop(f"{kind}_password")
                values[f"{kind}_password_sealed"] = box.seal(password) if password else ""
        for text in ("smtp_host", "from_address"):
            if text in values and values[text] is None:
                values[text] = ""
        return values

    def dump(self, row: EmailAccount) -> BaseModel:
        fields = {name: getattr(row, name) for name in _COLUMNS_SHOWN}
        return EmailAccountOut(
            **fields,
            has_imap_password=bool(row.imap_password_sealed),
            has_smtp_password=bool(row.smtp_password_sealed),
        )


_COLUMNS_SHOWN = tuple(name for name in EmailAccountOut.model_fields if not name.startswith("has_"))


email_accounts = EmailAccountResource(
    model=EmailAccount,
    path="/api/email-accounts",
    noun="email account",
    create=EmailAccountCreate,
    out=EmailAccountOut,
    access=Access(read=ADMINS, write=ADMINS),
    filters={"queue_id": Filter(int), "is_active": Filter(bool)},
    sortable=("name", "created_at"),
    search=("name", "imap_username", "from_address"),
    unique=(Unique("name"),),
    references={"queue_id": Queue, "auto_ack_template_id": EmailTemplate},
    write_only=("imap_password", "smtp_password"),
)


def routers() -> list[APIRouter]:
    return [email_accounts.router()]
