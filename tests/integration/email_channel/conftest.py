"""A throwaway Dovecot per test (tests/dovecot.py: its own config, runtime dir, log and
maildirs, plaintext IMAP with IDLE on a free loopback port, and two users; mail delivered
by IMAP APPEND into the user's INBOX).

Beside it a real SMTP server (aiosmtpd) on a free port, which keeps what it is sent and
can hand it on into Dovecot, so a reply goes out by SMTP and comes back in by IMAP."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.conftest import free_port
from tests.dovecot import DOVECOT, Dovecot, DovecotFailed, running_dovecot


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[Dovecot]:
    if not DOVECOT.exists():
        pytest.skip(f"{DOVECOT} is missing: run scripts/install-dovecot (as root)")
    try:
        with running_dovecot(tmp_path / "dovecot") as server:
            yield server
    except DovecotFailed as error:
        pytest.fail(str(error))


# --- a real SMTP server -----------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One message as the SMTP server took it: the envelope and the exact bytes."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    login: str | None

    def parsed(self) -> EmailMessage:
        parsed = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


def body_of(message: EmailMessage, subtype: str) -> str:
    """The text of the message's text/<subtype> body (it must have one)."""
    part = message.get_body((subtype,))
    assert part is not None, f"no text/{subtype} body"
    content: str = part.get_content()
    return content


@dataclass
class SmtpServer:
    """aiosmtpd in a thread of its own, as the receiving MTA: it keeps every message,
    and delivers those for a mapped address into that Dovecot user's INBOX (the way the
    customer's mail server and ours would). `refuse_with` makes it refuse every DATA."""

    host: str
    port: int
    users: dict[str, str]
    received: list[Received] = field(default_factory=list)
    delivery: dict[str, tuple[Dovecot, str]] = field(default_factory=dict)
    refuse_with: str | None = None

    def deliver_to(self, address: str, dovecot: Dovecot, user: str) -> None:
        self.delivery[address.lower()] = (dovecot, user)

    async def wait_for(self, count: int, seconds: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + seconds
        while len(self.received) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"{len(self.received)} messages reached SMTP, expected {count}")
            await asyncio.sleep(0.05)
        return list(self.received)


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, _smtp: SMTP, session: Session, envelope: Envelope) -> str:
        if self.server.refuse_with:
            return self.server.refuse_with
        raw = envelope.original_content or envelope.content or b""
        content = raw.encode() if isinstance(raw, str) else bytes(raw)
        login = session.auth_data.login.decode() if session.auth_data else None
        for rcpt in envelope.rcpt_tos:
            target = self.server.delivery.get(rcpt.lower())
            if target is not None:
                dovecot, user = target
                await asyncio.to_thread(dovecot._append, user, content, "INBOX")
        self.server.received.append(
            Received(envelope.mail_from or "", tuple(envelope.rcpt_tos), content, login)
        )
        return "250 2.0.0 OK: queued"


SMTP_USERS = {"parley-out": "smtp-out-secret"}


def start_smtp(
    server: SmtpServer, *, tls_context: ssl.SSLContext | None = None, implicit_tls: bool = False
) -> Controller:
    """Start aiosmtpd for `server`: plain (AUTH allowed without TLS, for the tests),
    STARTTLS required (`tls_context`), or TLS from the first byte (`implicit_tls`)."""

    def authenticate(
        _smtp: SMTP, _session: Session, _envelope: Envelope, _mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and server.users.get(data.login.decode()) == data.password.decode()
        )
        return AuthResult(success=ok, handled=False, auth_data=data)

    options: dict[str, Any] = {
        "authenticator": authenticate,
        "auth_require_tls": tls_context is not None and not implicit_tls,
    }
    if tls_context is not None and implicit_tls:
        options["ssl_context"] = tls_context
    elif tls_context is not None:
        options.update(tls_context=tls_context, require_starttls=True)
    controller = Controller(_Handler(server), hostname=server.host, port=server.port, **options)
    controller.start()
    return controller


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer("127.0.0.1", free_port(), dict(SMTP_USERS))
    controller = start_smtp(server)
    try:
        yield server
    finally:
        controller.stop()
