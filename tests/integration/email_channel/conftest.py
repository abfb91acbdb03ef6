"""A throwaway Dovecot per test: its own config, runtime dir, log and maildirs, plaintext
IMAP with IDLE on a free loopback port, and two users. Mail is delivered the way a real
MTA's final step looks to a client: IMAP APPEND into the user's INBOX.

Beside it a real SMTP server (aiosmtpd) on a free port, which keeps what it is sent and
can hand it on into Dovecot, so a reply goes out by SMTP and comes back in by IMAP."""

from __future__ import annotations

import asyncio
import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
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

DOVECOT = Path(os.environ.get("PARLEY_TEST_DOVECOT", "/usr/sbin/dovecot"))
USERS = {"alice": "alice-imap-secret", "bob": "bob-imap-secret"}


@dataclass
class Dovecot:
    host: str
    port: int
    log_path: Path
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))

    async def append(self, user: str, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver `raw` into `user`'s `folder` (imaplib, in a thread: it blocks)."""
        await asyncio.to_thread(self._append, user, raw, folder)

    def _append(self, user: str, raw: bytes, folder: str) -> None:
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            client.login(user, self.users[user])
            status, answer = client.append(folder, None, None, raw)
            assert status == "OK", answer
        finally:
            client.logout()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _mail_owner() -> tuple[int, int]:
    """Who owns the maildirs: Dovecot refuses mail users with UID 0, so as root the mail
    belongs to the package's `dovecot` system user."""
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    entry = pwd.getpwnam("dovecot")
    return entry.pw_uid, entry.pw_gid


def _run_as() -> str:
    """As root, Dovecot's auth process drops to the `dovecot` user, which cannot read
    the users file in our private tmp_path: keep it root. As anyone else, every process
    runs as that user."""
    if os.getuid() == 0:
        return "service auth {\n  user = root\n}"
    user = pwd.getpwuid(os.getuid()).pw_name
    return f"default_internal_user = {user}\ndefault_login_user = {user}"


def _config(root: Path, port: int, uid: int) -> str:
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = {uid}
last_valid_uid = {uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users
}}
userdb {{
  driver = passwd-file
  args = {root}/users
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
{_run_as()}
protocol imap {{
  mail_max_userip_connections = 50
  imap_idle_notify_interval = 1 secs
}}
"""


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


@pytest.fixture
def dovecot(tmp_path: Path) -> Iterator[Dovecot]:
    if not DOVECOT.exists():
        pytest.skip(f"{DOVECOT} is missing: run scripts/install-dovecot (as root)")
    root = tmp_path / "dovecot"
    for name in ("run", "state"):
        (root / name).mkdir(parents=True)
    uid, gid = _mail_owner()
    # pytest's tmp_path is private to its owner: another mail user needs a dir of its own.
    own_dir = uid == os.getuid()
    mail_root = tmp_path / "mail" if own_dir else Path(tempfile.mkdtemp(prefix="parley-mail-"))
    mail_root.mkdir(exist_ok=True)
    os.chown(mail_root, uid, gid)
    lines = [
        f"{user}:{{PLAIN}}{password}:{uid}:{gid}::{mail_root / user}"
        for user, password in USERS.items()
    ]
    (root / "users").write_text("\n".join(lines) + "\n")
    port = free_port()
    config = root / "dovecot.conf"
    config.write_text(_config(root, port, uid))
    server = Dovecot("127.0.0.1", port, root / "dovecot.log")
    with open(root / "stderr.log", "wb") as stderr:
        process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        deadline = time.monotonic() + 15
        while not _answers(port):
            if process.poll() is not None:
                output = (root / "stderr.log").read_text(errors="replace")
                pytest.fail(f"dovecot exited with {process.returncode}: {output}{server.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"dovecot did not listen on {port}: {server.log()}")
            time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if not own_dir:
            shutil.rmtree(mail_root, ignore_errors=True)


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
