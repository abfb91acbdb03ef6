"""The IMAP adapter: the few commands ingestion needs, over aioimaplib, with timeouts.

Ingestion (service.py) speaks to the mailbox only through `ImapSession`: log in, SELECT
the folder (its UIDVALIDITY), list the UIDs above a bookmark, fetch one message's bytes
without marking it seen (BODY.PEEK[]), and wait for news with IDLE. Every wait on the
server is bounded by `timeout`; a server that stops answering raises `ImapError`, and the
caller reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from dataclasses import dataclass
from typing import Any

import aioimaplib

from parley.platform.models import TlsMode

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_FETCH_UID = re.compile(rb"\bUID (\d+)\b")
_LITERAL_AT_END = re.compile(rb"\{(\d+)\}\s*$")


class ImapError(Exception):
    """The server refused a command, closed the connection, or did not answer in time."""


class ImapLoginFailed(ImapError):
    """Wrong user name or password (or the server does not let this user in)."""


@dataclass(frozen=True, slots=True)
class ImapEndpoint:
    host: str
    port: int
    tls: TlsMode
    username: str
    password: str
    timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class SelectedFolder:
    uidvalidity: int


class ImapSession:
    """One logged-in connection. Use `connect`; close with `logout`."""

    def __init__(self, client: aioimaplib.IMAP4, timeout: float) -> None:
        self._client = client
        self._timeout = timeout

    @classmethod
    async def connect(cls, endpoint: ImapEndpoint) -> ImapSession:
        if endpoint.tls is TlsMode.STARTTLS:
            # aioimaplib has no STARTTLS; refusing is better than sending a password in
            # clear to a server that expects it to be protected.
            raise ImapError("STARTTLS is not supported for IMAP yet: use tls (port 993)")
        client: aioimaplib.IMAP4
        if endpoint.tls is TlsMode.TLS:
            client = aioimaplib.IMAP4_SSL(
                endpoint.host,
                endpoint.port,
                timeout=endpoint.timeout,
                ssl_context=ssl.create_default_context(),
            )
        else:
            client = aioimaplib.IMAP4(endpoint.host, endpoint.port, timeout=endpoint.timeout)
        session = cls(client, endpoint.timeout)
        try:
            await client.wait_hello_from_server()
            response = await client.login(endpoint.username, endpoint.password)
        except (OSError, TimeoutError, aioimaplib.AioImapException) as error:
            await session.logout()
            raise ImapError(f"cannot reach {endpoint.host}:{endpoint.port}: {error!r}") from error
        if response.result != "OK":
            await session.logout()
            raise ImapLoginFailed(_text(response.lines) or "login refused")
        return session

    @property
    def supports_idle(self) -> bool:
        return bool(self._client.has_capability("IDLE"))

    async def select(self, folder: str) -> SelectedFolder:
        response = await self._command(self._client.select(folder), f"SELECT {folder}")
        for line in response.lines:
            match = _UIDVALIDITY.search(bytes(line))
            if match:
                return SelectedFolder(int(match.group(1)))
        raise ImapError(f"SELECT {folder}: the server sent no UIDVALIDITY")

    async def uids_after(self, last_uid: int) -> list[int]:
        """UIDs above `last_uid`, ascending. (`n:*` always matches the newest message,
        even below n, so the result is filtered here.)"""
        response = await self._command(
            self._client.uid_search("UID", f"{last_uid + 1}:*", charset=None), "UID SEARCH"
        )
        uids: set[int] = set()
        for line in response.lines:
            words = bytes(line).split()
            if words[:1] == [b"SEARCH"]:
                words = words[1:]
            uids.update(int(word) for word in words if word.isdigit())
        return sorted(uid for uid in uids if uid > last_uid)

    async def fetch(self, uid: int) -> bytes | None:
        """The full message with this UID, without setting \\Seen; None if it is gone."""
        response = await self._command(
            self._client.uid("fetch", str(uid), "(UID BODY.PEEK[])"), f"UID FETCH {uid}"
        )
        lines = response.lines
        for index, line in enumerate(lines):
            if isinstance(line, bytearray) or index + 1 >= len(lines):
                continue
            literal = lines[index + 1]
            if not _LITERAL_AT_END.search(line) or not isinstance(literal, bytearray):
                continue
            after = bytes(lines[index + 2]) if index + 2 < len(lines) else b""
            match = _FETCH_UID.search(line) or _FETCH_UID.search(after)
            if match and int(match.group(1)) == uid:
                return bytes(literal)
        return None

    async def wait_for_news(self, seconds: float) -> None:
        """IDLE until the server reports a change or `seconds` pass, then end the IDLE."""
        try:
            idle = await asyncio.wait_for(self._client.idle_start(timeout=seconds), self._timeout)
            try:
                await self._client.wait_server_push(timeout=seconds + self._timeout)
            except TimeoutError:
                pass
            finally:
                self._client.idle_done()
            await asyncio.wait_for(idle, self._timeout)
        except (OSError, TimeoutError, aioimaplib.AioImapException) as error:
            raise ImapError(f"IDLE failed: {error!r}") from error

    async def logout(self) -> None:
        """Say goodbye if the connection still works; never raises."""
        # A connection already gone has nothing to close politely.
        with contextlib.suppress(OSError, TimeoutError, aioimaplib.AioImapException):
            await asyncio.wait_for(self._client.logout(), min(self._timeout, 5.0))

    async def _command(self, call: Any, what: str) -> Any:
        try:
            response = await asyncio.wait_for(call, self._timeout)
        except (OSError, TimeoutError, aioimaplib.AioImapException) as error:
            raise ImapError(f"{what}: {error!r}") from error
        if response.result != "OK":
            raise ImapError(f"{what}: {_text(response.lines)}")
        return response


def _text(lines: list[Any]) -> str:
    return " ".join(bytes(line).decode("utf-8", "replace") for line in lines).strip()
