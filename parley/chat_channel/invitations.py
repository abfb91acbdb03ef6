"""Proactive invitations (F-CH-3): which of a widget's scenarios invites a browsing
visitor now, if any. Pure: the visitor socket (api.py) asks `choose` again while the
visitor browses, with the visitor's state at that moment, and sends what it picks.

A scenario's conditions are all optional; one left unset matches everyone. Of the
scenarios whose conditions all hold, the most specific wins: the one with the most
conditions set (ties: the one configured first, the lowest id). So "any visitor after
60 s on the site" is the fallback and "a visitor from the ad campaign on a product page"
beats it when both hold.

"Contains" conditions hold when one of their texts is in the visitor's value, ignoring
case; in a page URL text `*` stands for any run of characters
(`/product/*/reviews`). A blank location (no GeoIP database, or an address it does not
know) contains nothing, so a location scenario never fires on a guess.

An agent's manual invitation is not a scenario: it may be sent again only
`MANUAL_REINVITE_AFTER` after the visitor's last invitation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from parley.chat_channel.widget import matches as matches_url_rule

MANUAL_REINVITE_AFTER = timedelta(seconds=10)


@dataclass(frozen=True, slots=True)
class Scenario:
    id: int
    message: str
    min_time_on_site: timedelta | None = None
    min_time_on_page: timedelta | None = None
    max_invitations_seen: int | None = None  # invited at most this many times before
    min_since_last_invitation: timedelta | None = None
    requires_agent_online: bool = False
    is_new_visitor: bool | None = None  # True: first visit only; False: returning only
    url_patterns: tuple[str, ...] = ()
    referrer_contains: tuple[str, ...] = ()
    location_contains: tuple[str, ...] = ()

    @property
    def specificity(self) -> int:
        """How many conditions are set: the most specific matching scenario wins."""
        return sum(
            (
                self.min_time_on_site is not None,
                self.min_time_on_page is not None,
                self.max_invitations_seen is not None,
                self.min_since_last_invitation is not None,
                self.requires_agent_online,
                self.is_new_visitor is not None,
                bool(self.url_patterns),
                bool(self.referrer_contains),
                bool(self.location_contains),
            )
        )


@dataclass(frozen=True, slots=True)
class VisitorState:
    """A browsing visitor as the conditions see them, at one moment."""

    time_on_site: timedelta
    time_on_page: timedelta
    invitations_seen: int
    since_last_invitation: timedelta | None  # None: never invited
    is_agent_online: bool
    is_new_visitor: bool
    page_url: str
    referrer: str
    location: str  # "City, Country", blank when unknown


def _contains(value: str, texts: Sequence[str]) -> bool:
    folded = value.casefold()
    return any(text.casefold() in folded for text in texts if text)


def _url_contains(url: str, patterns: Sequence[str]) -> bool:
    folded = url.casefold()
    return any(matches_url_rule(f"*{pattern.casefold()}*", folded) for pattern in patterns)


def matches(scenario: Scenario, visitor: VisitorState) -> bool:
    """Whether every condition the scenario sets holds for the visitor."""
    if scenario.min_time_on_site is not None and visitor.time_on_site < scenario.min_time_on_site:
        return False
    if scenario.min_time_on_page is not None and visitor.time_on_page < scenario.min_time_on_page:
        return False
    if (
        scenario.max_invitations_seen is not None
        and visitor.invitations_seen > scenario.max_invitations_seen
    ):
        return False
    if (
        scenario.min_since_last_invitation is not None
        and visitor.since_last_invitation is not None
        and visitor.since_last_invitation < scenario.min_since_last_invitation
    ):
        return False
    if scenario.requires_agent_online and not visitor.is_agent_online:
        return False
    if scenario.is_new_visitor is not None and scenario.is_new_visitor != visitor.is_new_visitor:
        return False
    if scenario.url_patterns and not _url_contains(visitor.page_url, scenario.url_patterns):
        return False
    if scenario.referrer_contains and not _contains(visitor.referrer, scenario.referrer_contains):
        return False
    return not scenario.location_contains or _contains(visitor.location, scenario.location_contains)


def choose(scenarios: Iterable[Scenario], visitor: VisitorState) -> Scenario | None:
    """The most specific scenario that matches the visitor (the lowest id of equals)."""
    best: Scenario | None = None
    for scenario in scenarios:
        if not matches(scenario, visitor):
            continue
        if (
            best is None
            or scenario.specificity > best.specificity
            or (scenario.specificity == best.specificity and scenario.id < best.id)
        ):
            best = scenario
    return best


def may_invite_manually(last_invited_at: datetime | None, now: datetime) -> bool:
    """An agent may invite a visitor who was never invited, or not in the last 10 s."""
    return last_invited_at is None or now - last_invited_at >= MANUAL_REINVITE_AFTER
