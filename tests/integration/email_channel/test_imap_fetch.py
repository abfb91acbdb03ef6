"""UID FETCH in ranges against a real Dovecot: a batch of messages costs two commands (their
sizes, then their bodies), a message larger than the batch byte budget is fetched alone,
and a crash in the middle of a ranged batch still loses and duplicates nothing.

Every command the client sends is recorded by wrapping aioimaplib's `execute` (the one
place a command goes to the wire), the real command still being sent."""

from __future__ import annotations

import imaplib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aioimaplib
import pytest

from parley.email_channel.imap import ImapEndpoint, ImapSession, uid_set
from parley.platform.models import Case, EmailAccount, Interaction, TlsMode
from tests.integration.email_channel import test_email_ingest
from tests.integration.email_channel.test_email_ingest import World, mail

world = test_email_ingest.world  # the mailbox, its account and the engine, as there


@dataclass(frozen=True)
class Sent:
    name: str
    args: tuple[str, ...]

    @property
    def is_body_fetch(self) -> bool:
        return self.name == "FETCH" and "BODY.PEEK[]" in " ".join(self.args)

    @property
    def is_size_fetch(self) -> bool:
        return self.name == "FETCH" and "RFC822.SIZE" in " ".join(self.args)

    @property
    def uid_set(self) -> str:
        return self.args[0]


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Sent]]:
    sent: list[Sent] = []
    execute = aioimaplib.IMAP4ClientProtocol.execute

    async def recording(self: Any, command: aioimaplib.Command, *args: Any, **kwargs: Any) -> Any:
        sent.append(Sent(command.name, tuple(str(arg) for arg in command.args)))
        return await execute(self, command, *args, **kwargs)

    monkeypatch.setattr(aioimaplib.IMAP4ClientProtocol, "execute", recording)
    yield sent


def test_uid_sets_name_runs_as_ranges() -> None:
    assert uid_set([1, 2, 3, 4, 7, 9, 10]) == "1:4,7,9:10"
    assert uid_set([5]) == "5"
    assert uid_set([3, 1, 2, 2]) == "1:3"
    assert uid_set([1, 3, 5]) == "1,3,5"


async def test_many_messages_are_fetched_in_few_commands(
    world: World, commands: list[Sent]
) -> None:
    mails = [mail(f"Ranged {n}", f"Body number {n}.") for n in range(1, 26)]
    for raw, _ in mails:
        await world.dovecot.append("alice", raw)

    result = await world.ingest(batch_size=10).ingest_once(world.account_id)

    assert (result.stored, result.duplicates) == (25, 0)
    # Batches of 10, 10 and 5: one size command and one body command each.
    assert [c.uid_set for c in commands if c.is_size_fetch] == ["1:10", "11:20", "21:25"]
    assert [c.uid_set for c in commands if c.is_body_fetch] == ["1:10", "11:20", "21:25"]
    assert len([c for c in commands if c.name == "FETCH"]) == 6
    messages = await world.messages()
    assert [m.external_id for m in messages] == [message_id for _, message_id in mails]
    assert [m.body_text.strip() for m in messages] == [f"Body number {n}." for n in range(1, 26)]


async def test_a_message_larger_than_the_budget_is_fetched_alone(
    world: World, commands: list[Sent]
) -> None:
    smalls = [mail(f"Small {n}") for n in range(4)]
    large = mail("Large", "A long story. " * 5000)
    for raw, _ in (smalls[0], smalls[1], large, smalls[2], smalls[3]):
        await world.dovecot.append("alice", raw)
    # Room for two small messages (CRLF on the server makes each a little larger).
    budget = 3 * len(smalls[0][0])
    assert budget < len(large[0])

    result = await world.ingest(batch_size=10, batch_bytes=budget).ingest_once(world.account_id)

    assert result.stored == 5
    assert [c.uid_set for c in commands if c.is_body_fetch] == ["1:2", "3", "4:5"]
    messages = await world.messages()
    assert [m.subject for m in messages] == ["Small 0", "Small 1", "Large", "Small 2", "Small 3"]
    assert messages[2].body_text.count("A long story.") == 5000


async def test_fetched_messages_stay_unseen_and_expunged_ones_are_skipped(
    world: World,
) -> None:
    for n in range(1, 6):
        await world.dovecot.append("alice", mail(f"Kept {n}")[0])
    _expunge(world, uid=3)
    session = await ImapSession.connect(
        ImapEndpoint(
            world.dovecot.host, world.dovecot.port, TlsMode.NONE, "alice", "alice-imap-secret"
        )
    )
    try:
        await session.select("INBOX")
        sizes = await session.sizes([1, 2, 3, 4, 5])
        bodies = await session.fetch_many([1, 2, 3, 4, 5])
    finally:
        await session.logout()
    assert sorted(sizes) == sorted(bodies) == [1, 2, 4, 5]
    assert all(sizes[uid] == len(bodies[uid]) for uid in bodies)
    assert [b"Subject: Kept %d" % n in bodies[n] for n in (1, 2, 4, 5)] == [True] * 4
    assert _seen(world) == []  # BODY.PEEK[]: nothing marked read


@pytest.mark.parametrize("stage", ["parsed", "stored"])
async def test_a_crash_in_a_ranged_batch_loses_and_duplicates_nothing(
    world: World, commands: list[Sent], stage: str
) -> None:
    mails = [mail(f"Crash {n}") for n in range(1, 12)]
    for raw, _ in mails:
        await world.dovecot.append("alice", raw)
    ingest = world.ingest(batch_size=4)

    def crash_on_sixth(at: str, uid: int) -> None:
        if at == stage and uid == 6:
            raise RuntimeError("power cut")

    ingest.fault_hook = crash_on_sixth
    with pytest.raises(RuntimeError, match="power cut"):
        await ingest.ingest_once(world.account_id)
    # UIDs 1-4 were one command and one commit; 5-8 were fetched together and lost whole.
    assert "5:8" in [c.uid_set for c in commands if c.is_body_fetch]
    assert [m.external_id for m in await world.messages()] == [mid for _, mid in mails[:4]]
    async with world.database.transaction() as db:
        assert (await db.get_one(EmailAccount, world.account_id)).last_uid == 4

    ingest.fault_hook = None
    commands.clear()
    result = await ingest.ingest_once(world.account_id)
    assert (result.stored, result.duplicates) == (7, 0)
    assert [c.uid_set for c in commands if c.is_body_fetch] == ["5:8", "9:11"]
    assert (await ingest.ingest_once(world.account_id)).stored == 0
    messages = await world.messages()
    assert [m.external_id for m in messages] == [message_id for _, message_id in mails]
    assert await world.count(Case) == 11
    assert await world.count(Interaction) == 11


def _imap(world: World) -> imaplib.IMAP4:
    client = imaplib.IMAP4(world.dovecot.host, world.dovecot.port, timeout=10)
    client.login("alice", world.dovecot.users["alice"])
    client.select("INBOX")
    return client


def _expunge(world: World, uid: int) -> None:
    client = _imap(world)
    try:
        client.uid("STORE", str(uid), "+FLAGS", "(\\Deleted)")
        client.expunge()
    finally:
        client.logout()


def _seen(world: World) -> list[bytes]:
    client = _imap(world)
    try:
        status, found = client.uid("SEARCH", "SEEN")
        assert status == "OK"
        return found[0].split()
    finally:
        client.logout()
