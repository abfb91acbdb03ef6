"""Queries of email ingestion: which cases hold given messages, contacts by address,
our own addresses. Most come in a form for many at once, so one transaction stores a
batch of fetched messages with a handful of statements rather than a handful each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parley.platform.models import (
    Case,
    Channel,
    Contact,
    ContactIdentity,
    EmailAccount,
    Interaction,
    InteractionState,
    Message,
)

EMAIL_IDENTITY = "email"
_OPEN_STATES = (InteractionState.QUEUED, InteractionState.OFFERED, InteractionState.ACTIVE)


async def cases_by_message_id(db: AsyncSession, message_ids: Iterable[str]) -> dict[str, int]:
    """Message-ID -> the case its message is in, for those already stored; merged cases
    answer the case they were merged into."""
    return await cases_of(db, await stored_messages(db, message_ids))


async def stored_messages(
    db: AsyncSession, message_ids: Iterable[str]
) -> dict[str, tuple[int, int | None]]:
    """Message-ID -> (message id, case id) for those already stored."""
    wanted = list(dict.fromkeys(message_ids))
    if not wanted:
        return {}
    rows = await db.execute(
        select(Message.external_id, Message.id, Message.case_id).where(
            Message.external_id.in_(wanted)
        )
    )
    return {str(key): (message_id, case_id) for key, message_id, case_id in rows}


async def cases_of(
    db: AsyncSession, stored: Mapping[str, tuple[int, int | None]]
) -> dict[str, int]:
    """`cases_by_message_id` of what `stored_messages` found."""
    found = {key: case_id for key, (_, case_id) in stored.items() if case_id is not None}
    merged = await _merge_targets(db, found.values())
    return {key: merged.get(case_id, case_id) for key, case_id in found.items()}


async def cases_by_number(db: AsyncSession, numbers: Iterable[int]) -> dict[int, int]:
    """Case number -> case id for the numbers that exist (the number is the id)."""
    wanted = list(dict.fromkeys(numbers))
    if not wanted:
        return {}
    rows = await db.scalars(select(Case.id).where(Case.id.in_(wanted)))
    found = {int(case_id): int(case_id) for case_id in rows}
    merged = await _merge_targets(db, found.values())
    return {number: merged.get(case_id, case_id) for number, case_id in found.items()}


async def _merge_targets(db: AsyncSession, case_ids: Iterable[int]) -> dict[int, int]:
    ids = list(set(case_ids))
    if not ids:
        return {}
    rows = await db.execute(
        select(Case.id, Case.merged_into_id).where(
            Case.id.in_(ids), Case.merged_into_id.is_not(None)
        )
    )
    return {case_id: target for case_id, target in rows if target is not None}


async def contact_for_address(db: AsyncSession, address: str, name: str) -> int:
    """The contact with this email address, created (with `name`) when there is none."""
    contact_id = await db.scalar(
        select(ContactIdentity.contact_id).where(
            ContactIdentity.kind == EMAIL_IDENTITY, ContactIdentity.value == address
        )
    )
    if contact_id is not None:
        return int(contact_id)
    contact = Contact(name=name[:200])
    db.add(contact)
    await db.flush()
    db.add(ContactIdentity(contact_id=contact.id, kind=EMAIL_IDENTITY, value=address))
    await db.flush()
    return contact.id


async def contacts_for_addresses(db: AsyncSession, names: Mapping[str, str]) -> dict[str, int]:
    """`contact_for_address` for many addresses (address -> name) in a few statements:
    one lookup, then the missing contacts and their identities inserted together."""
    wanted = list(names)
    if not wanted:
        return {}
    rows = await db.execute(
        select(ContactIdentity.value, ContactIdentity.contact_id).where(
            ContactIdentity.kind == EMAIL_IDENTITY, ContactIdentity.value.in_(wanted)
        )
    )
    found = {str(value): int(contact_id) for value, contact_id in rows}
    created = {
        address: Contact(name=names[address][:200]) for address in wanted if address not in found
    }
    if created:
        db.add_all(created.values())
        await db.flush()
        db.add_all(
            ContactIdentity(contact_id=contact.id, kind=EMAIL_IDENTITY, value=address)
            for address, contact in created.items()
        )
        await db.flush()
    return found | {address: contact.id for address, contact in created.items()}


async def load_cases(db: AsyncSession, case_ids: Iterable[int]) -> dict[int, Case]:
    """The cases with these ids, in one query (kept in the session for later `get`s)."""
    wanted = list(set(case_ids))
    if not wanted:
        return {}
    return {row.id: row for row in await db.scalars(select(Case).where(Case.id.in_(wanted)))}


async def open_email_interactions(db: AsyncSession, case_ids: Iterable[int]) -> dict[int, int]:
    """`open_email_interaction` of many cases in one query (cases without one absent)."""
    wanted = list(set(case_ids))
    if not wanted:
        return {}
    rows = await db.execute(
        select(Interaction.case_id, func.max(Interaction.id))
        .where(
            Interaction.case_id.in_(wanted),
            Interaction.channel == Channel.EMAIL,
            Interaction.state.in_(_OPEN_STATES),
        )
        .group_by(Interaction.case_id)
    )
    return {
        int(case_id): int(interaction_id)
        for case_id, interaction_id in rows
        if case_id is not None and interaction_id is not None
    }


async def open_email_interaction(db: AsyncSession, case_id: int) -> int | None:
    """The case's email interaction still waiting for or with an agent, if any."""
    found = await db.scalar(
        select(Interaction.id)
        .where(
            Interaction.case_id == case_id,
            Interaction.channel == Channel.EMAIL,
            Interaction.state.in_(_OPEN_STATES),
        )
        .order_by(Interaction.id.desc())
        .limit(1)
    )
    return None if found is None else int(found)


async def interactions_by_refs(db: AsyncSession, external_refs: Iterable[str]) -> dict[str, int]:
    """The interaction of each external ref, in one query (refs without one absent)."""
    wanted = list(dict.fromkeys(external_refs))
    if not wanted:
        return {}
    rows = await db.execute(
        select(Interaction.external_ref, Interaction.id).where(Interaction.external_ref.in_(wanted))
    )
    return {str(ref): int(interaction_id) for ref, interaction_id in rows if ref is not None}


async def set_message_interactions(db: AsyncSession, assigned: Mapping[int, int]) -> None:
    """Put each message (id -> interaction id) on its interaction, in one statement."""
    if assigned:
        await db.execute(
            update(Message),  # bulk UPDATE by primary key
            [
                {"id": message_id, "interaction_id": interaction_id}
                for message_id, interaction_id in assigned.items()
            ],
        )


async def own_addresses(db: AsyncSession) -> set[str]:
    """Every address our mailboxes send or receive as, lower-cased: mail from one of them
    is never acknowledged (a loop between two of our own mailboxes)."""
    rows = await db.execute(
        select(EmailAccount.from_address, EmailAccount.imap_username, EmailAccount.smtp_username)
    )
    return {value.strip().lower() for row in rows for value in row if value and "@" in value}
