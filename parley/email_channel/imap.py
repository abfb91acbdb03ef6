"""The IMAP adapter: the few commands ingestion needs, over aioimaplib, with timeouts.

Ingestion (service.py) speaks to the mailbox only through `ImapSession`: log in, SELECT
the folder (its UIDVALIDITY), list the UIDs above a bookmark, ask the sizes of a set of
messages (RFC822.SIZE), fetch a set of messages' bytes in one UID FETCH without marking
them seen (BODY.PEEK[]), and wait for news with IDLE. Every wait on the server is bounded
by `timeout`; a server that stops answering raises `ImapError`, and the caller reconnects.

aioimaplib hands a FETCH response over as lines: for each message a line
`n FETCH (UID u ... BODY[] {size}` ending in the literal's size, the literal itself (a
bytearray), then the rest of that message's items (`)` or ` UID u)`: a server may name
the UID after the body). Lines for messages not asked for (a flag change the server
reports unasked) are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aioimaplib

from parley.platform.models import TlsMode

_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_FETCH_UID = re.compile(rb"\bUID (\d+)\b")
_FETCH_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)\b")
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

    async def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """The RFC822.SIZE of each of these messages still in the folder, in one command
        (a UID missing from the answer was expunged)."""
        if not uids:
            return {}
        wanted = set(uids)
        response = await self._command(
            self._client.uid("fetch", uid_set(uids), "(UID RFC822.SIZE)"), "UID FETCH sizes"
        )
        sizes: dict[int, int] = {}
        for line in response.lines:
            if isinstance(line, bytearray):
                continue  # a literal: no FETCH items in it
            uid, size = _FETCH_UID.search(line), _FETCH_SIZE.search(line)
            if uid and size and int(uid.group(1)) in wanted:
                sizes[int(uid.group(1))] = int(size.group(1))
        return sizes

    async def fetch_many(self, uids: Sequence[int]) -> dict[int, bytes]:
        """The full messages with these UIDs, in one UID FETCH, without setting \\Seen;
        a UID missing from the result was expunged."""
        if not uids:
            return {}
        wanted = set(uids)
        response = await self._command(
            self._client.uid("fetch", uid_set(uids), "(UID BODY.PEEK[])"),
            f"UID FETCH {len(uids)} messages",
        )
        lines = response.lines
        messages: dict[int, bytes] = {}
        for index, line in enumerate(lines):
            if isinstance(line, bytearray) or index + 1 >= len(lines):
                continue
            declared = _LITERAL_AT_END.search(line)
            literal = lines[index + 1]
            if not declared or not isinstance(literal, bytearray):
                continue
            after = bytes(lines[index + 2]) if index + 2 < len(lines) else b""
            if b"FETCH (" in after:
                after = b""  # the next message's line, not the rest of this one
            match = _FETCH_UID.search(line) or _FETCH_UID.search(after)
            if not match or int(match.group(1)) not in wanted:
                continue
            if len(literal) != int(declared.group(1)):
                raise ImapError(
                    f"UID FETCH {match.group(1).decode()}: the server announced "
                    f"{declared.group(1).decode()} bytes and sent {len(literal)}"
                )
            messages[int(match.group(1))] = bytes(literal)
        return messages

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


def uid_set(uids: Sequence[int]) -> str:
    """An IMAP sequence set naming exactly these UIDs, runs as ranges: `1:4,7,9:10`."""
    ordered = sorted(set(uids))
    runs: list[str] = []
    start = previous = ordered[0]
    for uid in [*ordered[1:], None]:
        if uid is not None and uid == previous + 1:
            previous = uid
            continue
        runs.append(str(start) if start == previous else f"{start}:{previous}")
        if uid is not None:
            start = previous = uid
    return ",".join(runs)


def _text(lines: list[Any]) -> str:
    return " ".join(bytes(line).decode("utf-8", "replace") for line in lines).strip()
