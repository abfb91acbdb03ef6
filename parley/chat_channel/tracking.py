"""Visitor tracking (F-CH-5): what the agents' visitor list shows about a browser
beyond what the widget reports in `hello` and `page_view`.

- Browser and OS come from the User-Agent, read by the `user-agents` library (the
  ua-parser rules); what it cannot name stays blank.
- City and country come from a MaxMind-format database (GeoLite2/GeoIP2 City, or any
  .mmdb with the same record shape) when `geoip_database_path` is configured, read with
  `geoip2`; without one, or for an address it does not know (a private one, say), they
  stay blank. Nothing is ever guessed.
- Pages: each page view moves "time on page" and adds the page to the visit's recent
  pages (`record_page_view`).

The database is read whole into memory when it is opened (`GeoLookup.open`, in a
thread), so lookups do no file I/O in the event loop.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import geoip2.database
import geoip2.errors
import maxminddb
import structlog
from user_agents import parse as parse_user_agent

from parley.chat_channel.domain import RateLimit
from parley.platform.models import ChatVisitor

log = structlog.get_logger(__name__)

MAX_PAGES_KEPT = 20
# `page_view` frames of one socket (a single-page site changes address often, a person
# does not read five pages a second).
PAGE_VIEW_LIMIT = RateLimit(per_second=2.0, burst=5.0)
_UNKNOWN = "Other"


@dataclass(frozen=True, slots=True)
class Software:
    browser: str = ""
    os: str = ""


def describe_user_agent(user_agent: str) -> Software:
    """Browser and OS with their major versions (`Chrome 131`, `Windows 10`)."""
    if not user_agent:
        return Software()
    parsed = parse_user_agent(user_agent)
    return Software(
        _name(parsed.browser.family, parsed.browser.version),
        _name(parsed.os.family, parsed.os.version),
    )


def _name(family: str, version: tuple[Any, ...]) -> str:
    if not family or family == _UNKNOWN:
        return ""
    major = next((str(part) for part in version[:1] if part != ""), "")
    return f"{family} {major}".strip()[:100]


@dataclass(frozen=True, slots=True)
class Location:
    city: str = ""
    country: str = ""

    @property
    def text(self) -> str:
        """ "City, Country" as the conditions and rules read it; blank when unknown."""
        return ", ".join(part for part in (self.city, self.country) if part)


class GeoLookup:
    """City and country by IP address; blank for everything when not configured."""

    def __init__(self, reader: geoip2.database.Reader | None = None) -> None:
        self._reader = reader

    @classmethod
    async def open(cls, path: Path | None) -> GeoLookup:
        """The lookup for a configured database (None: not configured). A database that
        cannot be read is an error at start, not a silent blank later."""
        if path is None:
            return cls()
        reader = await asyncio.to_thread(
            geoip2.database.Reader, str(path), mode=maxminddb.MODE_MEMORY
        )
        log.info("geoip.opened", path=str(path), type=reader.metadata().database_type)
        return cls(reader)

    @property
    def is_configured(self) -> bool:
        return self._reader is not None

    def locate(self, ip: str) -> Location:
        if self._reader is None or not ip:
            return Location()
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return Location()
        try:
            found = self._reader.city(address)
        except geoip2.errors.AddressNotFoundError:
            return Location()
        return Location((found.city.name or "")[:100], (found.country.name or "")[:100])

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()


def recent_pages(
    pages: list[dict[str, Any]], url: str, title: str, now: datetime
) -> list[dict[str, Any]]:
    """The visit's recent pages after a view of `url`, newest last, at most
    `MAX_PAGES_KEPT`: a reload of the same page only updates its title."""
    if pages and pages[-1].get("url") == url:
        return [*pages[:-1], {**pages[-1], "title": title}]
    return [*pages, {"url": url, "title": title, "at": now.isoformat()}][-MAX_PAGES_KEPT:]


def start_visit(visitor: ChatVisitor, referrer: str, now: datetime) -> None:
    """A visitor back after a pause: a new visit, with its own pages and referrer."""
    visitor.visit_started_at = now
    visitor.page_started_at = now
    visitor.page_views = 0
    visitor.pages = []
    visitor.referrer = referrer


def record_page_view(visitor: ChatVisitor, url: str, title: str, now: datetime) -> None:
    """A page load (`hello`) or a `page_view`: time on page restarts on another address;
    the same address again (a reload, a reconnect) only updates the title."""
    pages = list(visitor.pages or [])
    if not pages or pages[-1].get("url") != url:
        visitor.page_views = (visitor.page_views or 0) + 1
        visitor.page_started_at = now
    visitor.pages = recent_pages(pages, url, title, now)
    visitor.page_url = url
    visitor.page_title = title
    visitor.left_at = None


def record_browser(visitor: ChatVisitor, browser: str, os: str, city: str, country: str) -> None:
    visitor.browser = browser
    visitor.os = os
    visitor.city = city
    visitor.country = country
