"""City and country from a real MaxMind-format database (F-CH-5, F-CH-1, F-CH-3): the
test writes a small GeoIP2-City .mmdb with `mmdb_writer` (loopback is "Testville,
Testland" in it), configures it, and a visitor through the real server is located;
location rules hide or show the widget, and a location scenario invites. Addresses the
database does not know, and a server without a database, stay blank."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import maxminddb
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from sqlalchemy import select

from parley.chat_channel.tracking import GeoLookup, Location
from parley.platform.config import Settings
from parley.platform.models import ChatInvitationScenario, ChatVisitor, ChatWidget
from tests.integration.chat_channel import test_visitor_socket
from tests.integration.chat_channel.test_visitor_socket import SITE, Live, _next
from tests.integration.chat_channel.test_visitors import _hello, _visitor

live = test_visitor_socket.live

LOOPBACK = {"city": {"names": {"en": "Testville"}}, "country": {"names": {"en": "Testland"}}}
DOCUMENTATION = {"country": {"names": {"en": "Exampleland"}}}  # a country, no city


def write_city_database(path: Path) -> Path:
    writer = MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoIP2-City",
        languages=["en"],
        description="Parley test cities",
    )
    writer.insert_network(IPSet(["127.0.0.0/8"]), LOOPBACK)
    writer.insert_network(IPSet(["192.0.2.0/24"]), DOCUMENTATION)
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    database = write_city_database(tmp_path / "cities.mmdb")
    return settings.model_copy(update={"geoip_database_path": database})


async def test_the_lookup_reads_the_database_and_knows_nothing_else(tmp_path: Path) -> None:
    geo = await GeoLookup.open(write_city_database(tmp_path / "cities.mmdb"))
    try:
        assert geo.locate("127.0.0.1") == Location("Testville", "Testland")
        assert geo.locate("192.0.2.10") == Location("", "Exampleland")
        assert geo.locate("192.0.2.10").text == "Exampleland"
        assert geo.locate("198.51.100.1") == Location()  # not in the database
        assert geo.locate("not an address") == Location()
        assert geo.locate("") == Location()
    finally:
        geo.close()
    unconfigured = await GeoLookup.open(None)
    assert not unconfigured.is_configured and unconfigured.locate("127.0.0.1") == Location()


async def test_a_database_that_cannot_be_read_fails_at_open(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(b"not a database")
    with pytest.raises(maxminddb.InvalidDatabaseError):
        await GeoLookup.open(broken)


async def test_a_visitor_is_located_and_a_location_scenario_invites(live: Live) -> None:
    async with live.app.state.runtime.database.transaction() as db:
        widget_id = await db.scalar(
            select(ChatWidget.id).where(ChatWidget.public_key == live.widget_key)
        )
        db.add(
            ChatInvitationScenario(
                widget_id=widget_id,
                name="Locals",
                message="Hello, neighbour!",
                location_contains=["testland"],
            )
        )
        db.add(
            ChatInvitationScenario(
                widget_id=widget_id, name="Abroad", message="Never", location_contains=["Mars"]
            )
        )
    async with _visitor(live) as ws:
        key = (await _hello(ws))["visitor_id"]
        invitation = await _next(ws, "invitation")
        assert invitation["text"] == "Hello, neighbour!"
        await ws.send(json.dumps({"type": "decline_invitation"}))
    visitor = await live.scalar(select(ChatVisitor).where(ChatVisitor.visitor_key == key))
    assert (visitor.city, visitor.country) == ("Testville", "Testland")


async def test_location_rules_show_and_hide_the_widget(live: Live) -> None:
    async def is_shown(**rules: list[str]) -> bool:
        async with live.app.state.runtime.database.transaction() as db:
            widget = await db.scalar(
                select(ChatWidget).where(ChatWidget.public_key == live.widget_key)
            )
            widget.show_in = rules.get("show_in", [])
            widget.hide_in = rules.get("hide_in", [])
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            response = await client.get(
                f"/chat/widgets/{live.widget_key}/config",
                params={"url": f"{SITE}/"},
                headers={"Origin": SITE},
            )
        assert response.status_code == 200, response.text
        shown: bool = response.json()["is_shown"]
        return shown

    assert await is_shown()
    assert await is_shown(show_in=["Testland"])
    assert not await is_shown(show_in=["Poland", "Germany"])
    assert not await is_shown(hide_in=["testville"])
    assert await is_shown(show_in=["Testland"], hide_in=["Otherville"])
