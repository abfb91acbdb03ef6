"""A throwaway Dovecot for the email tests and the email benchmark (bench/email): its own
config, runtime dir, log and maildirs, plaintext IMAP with IDLE on a free loopback port,
and two users. Mail is delivered the way a real MTA's final step looks to a client: IMAP
APPEND into the user's INBOX.

Parley itself never runs Dovecot (a deployment brings its own mail server), so this lives
with the tests rather than in the package; it does not need pytest, so the benchmark
imports it too. tests/integration/email_channel/conftest.py wraps it in the `dovecot`
fixture (skipped where Dovecot is not installed: scripts/install-dovecot).
"""

from __future__ import annotations

import asyncio
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

DOVECOT = Path(os.environ.get("PARLEY_TEST_DOVECOT", "/usr/sbin/dovecot"))
USERS = {"alice": "alice-imap-secret", "bob": "bob-imap-secret"}
START_SECONDS = 15.0


class DovecotFailed(RuntimeError):
    """Dovecot exited or did not listen in time; the message holds its output and log."""


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
            if status != "OK":
                raise DovecotFailed(f"APPEND to {user}/{folder} failed: {answer!r}")
        finally:
            client.logout()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def running_dovecot(root: Path) -> Iterator[Dovecot]:
    """Dovecot configured and running under the empty or missing directory `root`, stopped
    (and its mail removed) on exit. Raises `DovecotFailed` when it does not come up."""
    for name in ("run", "state"):
        (root / name).mkdir(parents=True)
    uid, gid = mail_owner()
    # A private directory of ours is no place for another mail user's maildirs.
    own_dir = uid == os.getuid()
    mail_root = root / "mail" if own_dir else Path(tempfile.mkdtemp(prefix="parley-mail-"))
    mail_root.mkdir(exist_ok=True)
    os.chown(mail_root, uid, gid)
    lines = [
        f"{user}:{{PLAIN}}{password}:{uid}:{gid}::{mail_root / user}"
        for user, password in USERS.items()
    ]
    (root / "users").write_text("\n".join(lines) + "\n")
    port = _free_port()
    config = root / "dovecot.conf"
    config.write_text(dovecot_config(root, port, uid))
    server = Dovecot("127.0.0.1", port, root / "dovecot.log")
    with open(root / "stderr.log", "wb") as stderr:
        process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _answers(port):
            if process.poll() is not None:
                output = (root / "stderr.log").read_text(errors="replace")
                raise DovecotFailed(
                    f"dovecot exited with {process.returncode}: {output}{server.log()}"
                )
            if time.monotonic() > deadline:
                raise DovecotFailed(f"dovecot did not listen on {port}: {server.log()}")
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


def mail_owner() -> tuple[int, int]:
    """Who owns the maildirs: Dovecot refuses mail users with UID 0, so as root the mail
    belongs to the package's `dovecot` system user."""
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    entry = pwd.getpwnam("dovecot")
    return entry.pw_uid, entry.pw_gid


def _run_as() -> str:
    """As root, Dovecot's auth process drops to the `dovecot` user, which cannot read
    the users file in our private directory: keep it root. As anyone else, every process
    runs as that user."""
    if os.getuid() == 0:
        return "service auth {\n  user = root\n}"
    user = pwd.getpwuid(os.getuid()).pw_name
    return f"default_internal_user = {user}\ndefault_login_user = {user}"


def dovecot_config(root: Path, port: int, uid: int) -> str:
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True
