"""The AMI connector against a real Asterisk: login and readiness, the rendered
configuration loading, the live call model following calls and bridges from Originate to
Hangup, reconciling after Asterisk dies and comes back, and a clear readiness failure
(not a crash loop) for a wrong secret or no Asterisk."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from parley.telephony.ami import ActionFailed, AmiConnector, AmiEndpoint, AmiUnavailable
from parley.telephony.calls import CallChange, Channel, ChannelChange
from parley.telephony.pbx import Asterisk, free_port

MakeConnector = Callable[..., Awaitable[AmiConnector]]
HOLD = "parley-hold"
# What the voice channel is built on (the list); each must load, not just exist.
PARLEY_MODULES = (
    "chan_pjsip",
    "app_queue",
    "app_chanspy",
    "app_confbridge",
    "app_mixmonitor",
    "app_amd",
    "chan_audiosocket",
    "res_srtp",
    "res_http_websocket",
    "res_agi",
    "res_musiconhold",
    "app_playtones",
)


@pytest.fixture
async def make_connector() -> AsyncIterator[MakeConnector]:
    started: list[AmiConnector] = []

    async def make(endpoint: AmiEndpoint, **options: Any) -> AmiConnector:
        options = {"backoff_initial": 0.1, "backoff_max": 1.0, **options}
        connector = AmiConnector(endpoint, **options)
        started.append(connector)
        await connector.start()
        return connector

    yield make
    for connector in started:
        await connector.stop()


async def ready(connector: AmiConnector, seconds: float = 15) -> AmiConnector:
    async with asyncio.timeout(seconds):
        await connector.wait_until(lambda: connector.is_ready)
    return connector


async def eventually(connector: AmiConnector, predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        await connector.wait_until(predicate)


def local_call(connector: AmiConnector) -> list[Channel]:
    return sorted(connector.calls.find("Local/100@parley-inbound-"), key=lambda c: c.name)


async def originate(connector: AmiConnector, caller: str = "5551234") -> None:
    """A call into the inbound context, as a trunk would place it: the ;2 half runs
    parley-inbound and goes to hold, the ;1 half just waits."""
    await connector.send(
        {
            "Action": "Originate",
            "Channel": "Local/100@parley-inbound",
            "Application": "Wait",
            "Data": "60",
            "CallerID": f"Customer <{caller}>",
            "Async": "true",
        }
    )


async def test_connects_logs_in_and_is_ready_once_asterisk_has_booted(
    asterisk: Asterisk, make_connector: MakeConnector
) -> None:
    connector = await ready(await make_connector(asterisk.endpoint))
    assert connector.not_ready_reason is None
    assert connector.logins == 1
    settings = await connector.send({"Action": "CoreSettings"})
    assert settings["AsteriskVersion"].startswith("22.")
    assert connector.calls.channels == {}


async def test_rendered_configuration_loads_modules_phones_trunk_and_contexts(
    asterisk: Asterisk, make_connector: MakeConnector
) -> None:
    connector = await ready(await make_connector(asterisk.endpoint))
    # ModuleCheck says yes for a module that declined to load; `module show` tells.
    listing = await connector.send({"Action": "Command", "Command": "module show"})
    running = {
        line.split()[0].removesuffix(".so")
        for line in listing["Output"]
        if " Running " in line and "Not Running" not in line
    }
    assert set(PARLEY_MODULES) <= running, set(PARLEY_MODULES) - running
    endpoints = await connector.send({"Action": "PJSIPShowEndpoints"})
    names = {m["ObjectName"] for m in endpoints if m.event == "EndpointList"}
    assert names == {"agent-1001", "carrier"}
    for context in ("parley-inbound", "parley-hold", "parley-agent", "parley-spy"):
        plan = await connector.send({"Action": "ShowDialPlan", "Context": context})
        assert any(m.event == "ListDialplan" for m in plan), context
    with pytest.raises(ActionFailed):
        await connector.send({"Action": "ShowDialPlan", "Context": "no-such-context"})


async def test_an_originated_call_appears_in_the_call_model_and_goes_on_hangup(
    asterisk: Asterisk, make_connector: MakeConnector
) -> None:
    connector = await ready(await make_connector(asterisk.endpoint))
    changes: list[CallChange] = []
    connector.add_listener(changes.append)

    await originate(connector)
    await eventually(
        connector,
        lambda: [c.context for c in local_call(connector)][1:] == [HOLD],
    )
    waiting, inbound = local_call(connector)
    assert waiting.name.endswith(";1") and inbound.name.endswith(";2")
    assert inbound.is_up
    assert inbound.linkedid == waiting.linkedid == waiting.uniqueid
    assert inbound.caller_id_num == "5551234"
    assert list(connector.calls.calls()) == [waiting.linkedid]
    added = {
        c.channel.uniqueid for c in changes if isinstance(c, ChannelChange) and c.kind == "added"
    }
    assert added == {waiting.uniqueid, inbound.uniqueid}

    await connector.send({"Action": "Hangup", "Channel": waiting.name})
    await eventually(connector, lambda: not connector.calls.channels)
    removed = [c for c in changes if isinstance(c, ChannelChange) and c.kind == "removed"]
    assert {c.channel.uniqueid for c in removed} == {waiting.uniqueid, inbound.uniqueid}
    assert all(c.cause for c in removed)


async def test_a_connector_started_during_a_call_learns_it_from_core_show_channels(
    asterisk: Asterisk, make_connector: MakeConnector
) -> None:
    first = await ready(await make_connector(asterisk.endpoint))
    await originate(first, caller="5550000")
    await eventually(first, lambda: [c.context for c in local_call(first)][1:] == [HOLD])

    late = await ready(await make_connector(asterisk.endpoint))
    assert [c.uniqueid for c in local_call(late)] == [c.uniqueid for c in local_call(first)]
    assert local_call(late)[1].caller_id_num == "5550000"
    assert local_call(late)[1].context == HOLD


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_after_asterisk_restarts_it_reconnects_and_reconciles(
    asterisk: Asterisk, make_connector: MakeConnector, how: str
) -> None:
    connector = await ready(await make_connector(asterisk.endpoint))
    await originate(connector)
    await eventually(connector, lambda: len(local_call(connector)) == 2)
    stale = {c.uniqueid for c in local_call(connector)}

    with capture_logs() as logs:
        # Killed, Asterisk says nothing: the channels stay in the model until reconciled.
        await asyncio.to_thread(asterisk.stop if how == "stop" else asterisk.kill)
        await eventually(connector, lambda: not connector.is_ready)
        assert connector.not_ready_reason is not None
        with pytest.raises(AmiUnavailable):
            await connector.send({"Action": "Ping"})
        if how == "kill":
            assert {c.uniqueid for c in local_call(connector)} == stale
        await asyncio.to_thread(asterisk.start)
        await ready(connector)

    assert connector.logins == 2
    assert connector.calls.channels == {}
    names = [entry["event"] for entry in logs]
    assert "ami.connection_lost" in names
    assert "ami.reconciled" in names

    # Events of the new instance reach the model. (Its uniqueids may repeat the stale
    # ones: they are seconds since the epoch and a counter that restarts with Asterisk.)
    await originate(connector)
    await eventually(connector, lambda: [c.context for c in local_call(connector)][1:] == [HOLD])
    assert len(connector.calls.channels) == 2


async def test_a_wrong_secret_is_a_readiness_failure_with_a_logged_reason(
    asterisk: Asterisk, make_connector: MakeConnector
) -> None:
    wrong = dataclasses.replace(asterisk.endpoint, secret="not-the-secret")
    with capture_logs() as logs:
        connector = await make_connector(wrong, backoff_initial=0.2, backoff_max=0.8)
        await asyncio.sleep(3)
    assert not connector.is_ready
    assert connector.not_ready_reason is not None
    assert "login rejected" in connector.not_ready_reason
    rejected = [entry for entry in logs if entry["event"] == "ami.login_rejected"]
    assert rejected and rejected[0]["log_level"] == "error"
    assert rejected[0]["username"] == "parley"
    assert "not-the-secret" not in repr(logs)
    # It keeps trying, but with backoff: a handful of attempts in 3 s, not hundreds.
    assert 2 <= connector.attempts <= 8
    assert len(rejected) == connector.attempts or len(rejected) == connector.attempts - 1


async def test_no_asterisk_listening_is_a_readiness_failure_not_a_crash(
    make_connector: MakeConnector,
) -> None:
    nobody = AmiEndpoint("127.0.0.1", free_port(), "parley", "secret")
    with capture_logs() as logs:
        connector = await make_connector(nobody, backoff_initial=0.1, backoff_max=0.4)
        async with asyncio.timeout(5):
            await connector.wait_until(lambda: connector.attempts >= 3)
    assert not connector.is_ready
    assert connector.not_ready_reason is not None
    assert f"127.0.0.1:{nobody.port}" in connector.not_ready_reason
    assert any(entry["event"] == "ami.unavailable" for entry in logs)
    with pytest.raises(AmiUnavailable):
        await connector.send({"Action": "Ping"})


async def test_a_call_connected_through_parley_agent_is_one_bridge_in_the_model(
    asterisk: Asterisk, make_connector: MakeConnector
) -> None:
    connector = await ready(await make_connector(asterisk.endpoint))
    # The customer leg runs parley-agent, which dials the "agent" (another Local channel
    # that answers in parley-inbound): the two ;1 halves end up in one bridge.
    await connector.send(
        {
            "Action": "Originate",
            "Channel": "Local/100@parley-inbound",
            "Context": "parley-agent",
            "Exten": "s",
            "Priority": "1",
            "Variable": "PARLEY_AGENT_DEVICE=Local/200@parley-inbound",
            "Async": "true",
        }
    )

    def bridged() -> list[Channel]:
        bridges = list(connector.calls.bridges.values())
        if len(bridges) != 1 or len(bridges[0].channel_ids) != 2:
            return []
        return [connector.calls.channels[uid] for uid in sorted(bridges[0].channel_ids)]

    await eventually(connector, lambda: len(bridged()) == 2)
    (bridge,) = connector.calls.bridges.values()
    customer, agent = sorted(bridged(), key=lambda c: c.name)
    assert customer.name.startswith("Local/100@parley-inbound-") and customer.name.endswith(";1")
    assert agent.name.startswith("Local/200@parley-inbound-") and agent.name.endswith(";1")
    assert customer.bridge_id == agent.bridge_id == bridge.uniqueid
    assert len({c.linkedid for c in connector.calls.channels.values()}) == 1  # one call

    late = await ready(await make_connector(asterisk.endpoint))
    assert late.calls.bridges.keys() == {bridge.uniqueid}
    assert late.calls.bridges[bridge.uniqueid].channel_ids == bridge.channel_ids
    assert late.calls.channels[customer.uniqueid].bridge_id == bridge.uniqueid

    await connector.send({"Action": "Hangup", "Channel": customer.name})
    await eventually(connector, lambda: not connector.calls.channels)
    await eventually(connector, lambda: not connector.calls.bridges)
    await eventually(late, lambda: not late.calls.channels and not late.calls.bridges)
