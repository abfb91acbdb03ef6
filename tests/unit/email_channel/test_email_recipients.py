"""Whom a reply goes to, decided from the stored message it answers (no I/O)."""

from __future__ import annotations

from typing import Any

from parley.email_channel.agent_service import reply_recipients
from parley.email_channel.outbound import SendMode
from parley.platform.models import Direction, Message, MessageKind

OWN = {"support@parley.test"}


def stored(direction: Direction = Direction.INBOUND, **headers: Any) -> Message:
    def people(*addresses: str) -> list[dict[str, str]]:
        return [{"name": "", "address": address} for address in addresses]

    return Message(
        kind=MessageKind.EMAIL,
        direction=direction,
        headers={
            key: (people(*value) if isinstance(value, tuple) else value)
            for key, value in headers.items()
        },
    )


def test_a_reply_goes_to_the_sender() -> None:
    parent = stored(**{"from": {"name": "Ivan", "address": "ivan@example.org"}})
    assert reply_recipients(parent, SendMode.REPLY, OWN) == (["ivan@example.org"], [])


def test_reply_to_wins_over_from() -> None:
    parent = stored(
        reply_to=("orders@example.org",), **{"from": {"name": "", "address": "ivan@example.org"}}
    )
    assert reply_recipients(parent, SendMode.REPLY, OWN) == (["orders@example.org"], [])


def test_reply_all_copies_the_others_but_never_ourselves_or_twice() -> None:
    parent = stored(
        to=("Support@Parley.test", "anna@example.org"),
        cc=("IVAN@example.org", "anna@example.org", "boris@example.org"),
        **{"from": {"name": "", "address": "ivan@example.org"}},
    )
    assert reply_recipients(parent, SendMode.REPLY_ALL, OWN) == (
        ["ivan@example.org"],
        ["anna@example.org", "boris@example.org"],
    )


def test_answering_our_own_email_writes_to_its_recipients_again() -> None:
    parent = stored(
        Direction.OUTBOUND,
        to=("olga@example.org",),
        cc=("piotr@example.org",),
        **{"from": {"name": "", "address": "support@parley.test"}},
    )
    assert reply_recipients(parent, SendMode.REPLY_ALL, OWN) == (
        ["olga@example.org"],
        ["piotr@example.org"],
    )
