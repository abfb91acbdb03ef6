"""Call control over AMI (ARCHITECTURE.md §7; F-VO-3, -5, -10): what an agent does with
the call in hand, and a supervisor's listen / whisper / barge.

- hold: both legs leave their bridge, the caller to `parley-hold` (music or the hold
  tone), the agent to `parley-held` (silence); resume bridges them again (AMI `Bridge`);
- mute: the agent's audio stops reaching the caller (`MuteAudio` on the agent's leg);
- DTMF: digits played to the caller's side, e.g. a remote IVR (`PlayDTMF`);
- blind transfer: to a number (the caller dials out through `parley-outbound` and leaves
  Parley's queueing) or to a queue (a new interaction waits there; the caller holds);
- attended transfer: the agent's leg consults a number first (AMI `Atxfer`) and hands
  the caller over by hanging up, or takes them back (`CancelAtxfer`), or joins all three
  (the transfer feature's three-way, then the call's conference);
- conference: caller and agent move into a ConfBridge of the call's own, parties are
  called into it, listed and kicked; the agent may leave and the others talk on;
- recording: `MixMonitor` of the caller's leg (both directions) into the data directory,
  paused and resumed with `MixMonitorMute`, stopped with `StopMixMonitor`;
- pre-recorded messages: a Local channel in `parley-message` whose one side joins the
  call's bridge (`BridgeAdd`) and whose other side plays the sound, then hangs up, and
  the joined side leaves with it (F-VO-6; the REST routes are in messages.py);
- supervision: AMI originates the supervisor's device into `parley-spy`, which runs
  ChanSpy on the agent's leg in the chosen mode.

Every operation names the interaction; `VoiceService` knows its channels. Operations on a
call that is not connected raise `Conflict`, on an unknown one `NotFound`, and when
Asterisk does not do it, `VoiceUnavailable`.

The agent's desktop reaches all of it through the socket's `call.command` frames
(`run`, PROTOCOL.md): the REST routes (api.py) and the frames share these methods.
"""

from __future__ import annotations

import asyncio
import re
import time
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select

from parley.platform.agents import AgentState
from parley.platform.agents.protocol import CallCommand
from parley.platform.errors import Conflict, DomainError, NotFound
from parley.platform.models import Channel, Direction, Interaction, QueueVoiceSettings, User
from parley.telephony.ami import ActionFailed, AmiError
from parley.telephony.calls import Channel as LiveChannel
from parley.telephony.voice import AGENT_CONTEXT, HOLD_CONTEXT, VoiceService

log = structlog.get_logger(__name__)

HELD_CONTEXT = "parley-held"
CONFERENCE_CONTEXT = "parley-conference"
SPY_CONTEXT = "parley-spy"
OUTBOUND_CONTEXT = "parley-outbound"
MESSAGE_CONTEXT = "parley-message"
MESSAGE_CHANNEL = f"Local/join@{MESSAGE_CONTEXT}/n"
# The transfer feature's code for a three-way call (features.conf `atxferthreeway`).
ATXFER_THREEWAY = "*3"
# How long a message just started counts as playing before its channel shows up.
_MESSAGE_START_SECONDS = 5.0
_SETTLE_SECONDS = 3.0
_BRIDGE_ATTEMPTS = 5
_DTMF = re.compile(r"[0-9*#A-D]{1,32}")
_NUMBER = re.compile(r"\+?[0-9]{2,20}")


class SpyMode(StrEnum):
    LISTEN = "listen"  # hears both sides, heard by nobody
    WHISPER = "whisper"  # heard by the agent only
    BARGE = "barge"  # heard by both


class VoiceUnavailable(DomainError):
    status_code = 503

    def __init__(self, reason: str) -> None:
        super().__init__("voice_unavailable", f"Asterisk did not carry this out: {reason}")


class CallControl:
    def __init__(self, voice: VoiceService) -> None:
        self.voice = voice
        self.recordings = voice.recordings_dir
        # What the desktop shows per call: muted, and the recording's part and pause.
        self._muted: set[int] = set()
        self._recording: dict[int, tuple[int, bool]] = {}
        self._parts: dict[int, int] = {}
        self._conferences: set[int] = set()
        self._consulting: set[int] = set()
        # Who the agent consults (a number or a colleague's name), per call.
        self._consulted: dict[int, str] = {}
        # The parties called into a call's conference: their channel's uniqueid -> who.
        self._parties: dict[int, dict[str, str]] = {}
        self._party_seq = 0
        # The message playing into a call: its channel's uniqueid, name, start, and
        # whether the channel was seen yet.
        self._playing: dict[int, tuple[str, str, float, bool]] = {}
        # Where numbers are dialled: the trunk's context; tests dial their own phones.
        self.outbound_context = OUTBOUND_CONTEXT

    def state(self, interaction_id: int) -> dict[str, Any]:
        """The call's phase, mute and recording, for the agent's desktop."""
        tracked = self.voice.call_of(interaction_id)
        if tracked is None:
            self._forget(interaction_id)
            raise NotFound("Call", interaction_id)
        recording = self._current_recording(interaction_id)
        return {
            "phase": tracked[1],
            "is_muted": interaction_id in self._muted,
            "recording": "off" if recording is None else ("paused" if recording[1] else "on"),
            "is_consulting": interaction_id in self._consulting,
            "is_conference": interaction_id in self._conferences,
            "message": self._message_playing(interaction_id),
        }

    def _forget(self, interaction_id: int) -> None:
        for kept in (self._muted, self._conferences, self._consulting):
            kept.discard(interaction_id)
        self._consulted.pop(interaction_id, None)
        self._recording.pop(interaction_id, None)
        self._parties.pop(interaction_id, None)
        self._playing.pop(interaction_id, None)

    def _current_recording(self, interaction_id: int) -> tuple[int, bool] | None:
        """(part, paused) of the recording running; part 0 is the queue's own recording
        (started at the answer, `VoiceService.recorded_by_queue`)."""
        current = self._recording.get(interaction_id)
        if current is None and interaction_id in self.voice.recorded_by_queue:
            return (0, False)
        return current

    async def record(self, interaction_id: int, action: str) -> None:
        """start / pause / resume / stop the call's recording; each start is a new part."""
        current = self._current_recording(interaction_id)
        if action == "start":
            if current is not None:
                raise Conflict("already_recording", "The call is being recorded already.")
            part = self._parts.get(interaction_id, 0) + 1
            await self.start_recording(interaction_id, part)
            self._parts[interaction_id] = part
            self._recording[interaction_id] = (part, False)
            return
        if current is None:
            raise Conflict("not_recording", "The call is not being recorded.")
        if action == "stop":
            await self.stop_recording(interaction_id)
            self._recording.pop(interaction_id, None)
            self.voice.recorded_by_queue.discard(interaction_id)
        else:
            paused = action == "pause"
            await self.pause_recording(interaction_id, paused)
            self._recording[interaction_id] = (current[0], paused)

    async def _send(self, action: dict[str, str]) -> Any:
        try:
            return await self.voice.connector.send(action)
        except (AmiError, TimeoutError) as exc:
            log.warning("voice.action_failed", action=action.get("Action"), reason=str(exc))
            raise VoiceUnavailable(str(exc)) from None

    async def command(
        self, agent_id: int, interaction_id: int, action: str, digits: str | None = None
    ) -> dict[str, Any]:
        """A `call.command` without targets (hangup, hold, mute, DTMF, …), as `run` does it."""
        frame = CallCommand.model_validate(
            {
                "type": "call.command",
                "interaction_id": interaction_id,
                "action": action,
                "digits": digits,
            }
        )
        return await self.run(agent_id, frame)

    async def run(self, agent_id: int, frame: CallCommand) -> dict[str, Any]:
        """The agent socket's `call.command` (PROTOCOL.md): the agent's own call only.
        Returns the ack's result fields: `new_interaction_id` for a transfer to a queue
        or an agent and for a redial, `members` for a conference's list."""
        interaction_id, action = frame.interaction_id, frame.action
        if action == "redial":
            return {"new_interaction_id": await self.redial(agent_id, interaction_id)}
        if self.voice.agent_of(interaction_id) != agent_id:
            raise NotFound("Call", interaction_id)
        if action.startswith("recording."):
            await self.record(interaction_id, action.removeprefix("recording."))
            return {}
        match action:
            case "hangup":
                await self.hangup(interaction_id)
            case "hold" | "resume":
                await (self.hold if action == "hold" else self.resume)(interaction_id)
            case "mute" | "unmute":
                await self.mute(interaction_id, action == "mute")
            case "dtmf":
                await self.send_dtmf(interaction_id, frame.digits or "")
            case "transfer":
                new_id = await self._transfer(agent_id, frame)
                return {} if new_id is None else {"new_interaction_id": new_id}
            case "consult" if frame.to == "agent":
                await self.consult_agent(interaction_id, frame.target_id or 0)
            case "consult":
                await self.attended_transfer(interaction_id, frame.number or "")
            case "transfer.complete":
                await self.complete_transfer(interaction_id)
            case "transfer.cancel":
                await self.cancel_transfer(interaction_id)
            case "transfer.conference":
                await self.join_consultation(interaction_id)
            case "conference.add":
                if frame.to == "agent":
                    await self.conference_add_agent(interaction_id, frame.target_id or 0)
                else:
                    await self.conference_add(interaction_id, frame.number or "")
            case "conference.list":
                return {"members": await self.conference_parties(interaction_id)}
            case "conference.kick":
                await self.conference_kick(interaction_id, frame.channel or "")
            case "conference.leave":
                if interaction_id not in self._conferences:
                    raise Conflict("no_conference", "The call has no conference to leave.")
                await self.complete_transfer(interaction_id)
            case "message.play":
                await self.play_message(interaction_id, frame.message or "")
        return {}

    async def _transfer(self, agent_id: int, frame: CallCommand) -> int | None:
        """A blind transfer: the new interaction's id, None for an outside number."""
        interaction_id = frame.interaction_id
        if frame.to == "number":
            await self.transfer_to_number(interaction_id, frame.number or "")
            return None
        if frame.to == "queue":
            return await self.transfer_to_queue(interaction_id, frame.target_id or 0)
        return await self.transfer_to_agent(interaction_id, frame.target_id or 0, agent_id)

    async def transfer_to_agent(self, interaction_id: int, target_id: int, by: int) -> int:
        """The caller waits in the call's queue, offered to `target_id` first (the
        router's preferred agent); refused unless that colleague is logged in."""
        self._connected(interaction_id)
        if target_id == by:
            raise Conflict("transfer_to_self", "The call is yours already.")
        view = self.voice.runtime.require_engine().agent(target_id)
        if view is None or view.state is AgentState.OFFLINE:
            raise Conflict("agent_unavailable", "That agent is not logged in.")
        queue_id = self.voice.queue_of(interaction_id)
        if not queue_id:
            raise Conflict("no_queue", "The call has no queue to wait in for that agent.")
        return await self.transfer_to_queue(interaction_id, queue_id, preferred_agent_id=target_id)

    async def redial(self, agent_id: int, interaction_id: int) -> int:
        """Call again the other party of one of the agent's calls (F-VO-3): the number
        they dialled, or the caller's; a new interaction of theirs."""
        async with self.voice.runtime.database.sessions() as db:
            row = await db.get(Interaction, interaction_id)
        if row is None or row.agent_id != agent_id or row.channel is not Channel.VOICE:
            raise NotFound("Call", interaction_id)
        attributes = row.attributes
        outbound = row.direction is Direction.OUTBOUND
        number = str(attributes.get("dialled_number" if outbound else "caller_number") or "")
        if not number:
            raise DomainError("no_number", "The call has no number to dial again.")
        return await self.voice.call_out(
            agent_id,
            number,
            queue_id=row.queue_id,
            contact_id=row.contact_id,
            context=self.outbound_context,
        )

    def _connected(
        self, interaction_id: int, gone: str = "call_not_connected"
    ) -> tuple[LiveChannel, LiveChannel]:
        """Both legs of a call in progress; Conflict (`gone`) when the agent's is not."""
        caller, agent = self.voice.legs(interaction_id)
        if agent is None:
            raise Conflict(gone, f"The agent's leg of call {interaction_id} is gone.")
        return caller, agent

    def _is_held(self, interaction_id: int) -> bool:
        tracked = self.voice.call_of(interaction_id)
        return tracked is not None and tracked[1] == "held"

    async def hangup(self, interaction_id: int) -> None:
        """End the call, also while it is still ringing (a call the agent dialled)."""
        channel = self.voice.tracked_channel(interaction_id)
        await self._send({"Action": "Hangup", "Channel": channel.name})

    async def hold(self, interaction_id: int) -> None:
        caller, agent = self._connected(interaction_id)
        if self._is_held(interaction_id):
            return
        self.voice.set_held(interaction_id, True)
        try:
            await self._send(
                {
                    "Action": "Redirect",
                    "Channel": caller.name,
                    "Context": HOLD_CONTEXT,
                    "Exten": "s",
                    "Priority": "1",
                    "ExtraChannel": agent.name,
                    "ExtraContext": HELD_CONTEXT,
                    "ExtraExten": "s",
                    "ExtraPriority": "1",
                }
            )
        except VoiceUnavailable:
            self.voice.set_held(interaction_id, False)
            raise

    async def resume(self, interaction_id: int) -> None:
        self._connected(interaction_id, gone="agent_gone")
        if not self._is_held(interaction_id):
            return
        # A resume right after the hold must wait for both legs to have left their bridge
        # and reached the hold contexts: Asterisk cannot bridge a channel mid-redirect.
        try:
            async with asyncio.timeout(_SETTLE_SECONDS):
                await self.voice.connector.wait_until(lambda: self._parked(interaction_id))
        except TimeoutError:
            pass  # bridge anyway: Asterisk says if it cannot
        for attempt in range(_BRIDGE_ATTEMPTS):
            caller, agent = self._connected(interaction_id, gone="agent_gone")
            try:
                await self.voice.connector.send(
                    {
                        "Action": "Bridge",
                        "Channel1": caller.name,
                        "Channel2": agent.name,
                        "Tone": "no",
                    }
                )
                break
            except ActionFailed as exc:
                # "Unable to add ChannelN to bridge": a leg still settling into its hold
                # context; it can be bridged a moment later.
                if attempt + 1 == _BRIDGE_ATTEMPTS:
                    raise VoiceUnavailable(str(exc)) from None
                await asyncio.sleep(0.2)
            except (AmiError, TimeoutError) as exc:
                raise VoiceUnavailable(str(exc)) from None
        self.voice.set_held(interaction_id, False)

    def _parked(self, interaction_id: int) -> bool:
        caller, agent = self.voice.legs(interaction_id)
        return (
            caller.context == HOLD_CONTEXT
            and agent is not None
            and agent.context == HELD_CONTEXT
            and caller.bridge_id is None
            and agent.bridge_id is None
        )

    async def mute(self, interaction_id: int, muted: bool) -> None:
        _caller, agent = self._connected(interaction_id)
        await self._send(
            {
                "Action": "MuteAudio",
                "Channel": agent.name,
                "Direction": "in",
                "State": "on" if muted else "off",
            }
        )
        if muted:
            self._muted.add(interaction_id)
        else:
            self._muted.discard(interaction_id)

    async def send_dtmf(self, interaction_id: int, digits: str) -> None:
        if not _DTMF.fullmatch(digits):
            raise DomainError("invalid_dtmf", "DTMF digits are 0-9, *, #, A-D (up to 32).")
        caller, _agent = self.voice.legs(interaction_id)
        for digit in digits:
            await self._send(
                {"Action": "PlayDTMF", "Channel": caller.name, "Digit": digit, "Duration": "200"}
            )

    async def transfer_to_number(self, interaction_id: int, number: str) -> None:
        if not _NUMBER.fullmatch(number):
            raise DomainError("invalid_number", "A number is digits, with + for international.")
        caller, _agent = self._connected(interaction_id)
        await self._send(
            {
                "Action": "Redirect",
                "Channel": caller.name,
                "Context": self.outbound_context,
                "Exten": number,
                "Priority": "1",
            }
        )
        await self.voice.release(interaction_id)
        self._forget(interaction_id)

    async def attended_transfer(
        self, interaction_id: int, number: str, context: str | None = None
    ) -> None:
        """Consult first: the caller holds while the agent's leg calls `number`; the
        agent's hanging up hands the caller over (Asterisk's attended transfer), and
        `cancel_transfer` takes them back instead. `context` is where `number` is
        dialled: the outbound context unless said."""
        if context is None:
            context = self.outbound_context
            if not _NUMBER.fullmatch(number):
                raise DomainError("invalid_number", "A number is digits, with + for international.")
        _caller, agent = self._connected(interaction_id)
        # With TRANSFER_EXTEN set, the transfer feature dials it at once: no prompt
        # (Parley's Asterisk has no sound files) and no digits to collect.
        for name, value in (("TRANSFER_EXTEN", number), ("TRANSFER_CONTEXT", context)):
            await self._send(
                {"Action": "Setvar", "Channel": agent.name, "Variable": name, "Value": value}
            )
        await self._send(
            {"Action": "Atxfer", "Channel": agent.name, "Exten": number, "Context": context}
        )
        self._consulting.add(interaction_id)
        self._consulted[interaction_id] = number

    async def consult_agent(self, interaction_id: int, agent_id: int) -> None:
        """Consult a colleague before handing the caller over: their device rings from
        `parley-agent` (the context that connects calls to agents) while the caller
        waits; then complete or cancel as for a number."""
        device, name = await self._device_of(agent_id)
        _caller, agent = self._connected(interaction_id)
        # Inherited by the channel the transfer feature dials, which Dial()s the device.
        await self._send(
            {
                "Action": "Setvar",
                "Channel": agent.name,
                "Variable": "__PARLEY_AGENT_DEVICE",
                "Value": device,
            }
        )
        await self.attended_transfer(interaction_id, "s", context=AGENT_CONTEXT)
        self._consulted[interaction_id] = name

    async def _device_of(self, agent_id: int) -> tuple[str, str]:
        """What Dial() rings for a colleague, and their name; NotFound / `no_device`."""
        async with self.voice.runtime.database.sessions() as db:
            colleague = await db.get(User, agent_id)
        if colleague is None or not colleague.is_active:
            raise NotFound("User", agent_id)
        device = self.voice.agent_dial_string(colleague.id, colleague.device or "")
        if device is None:
            raise DomainError("no_device", f"{colleague.display_name} has no phone (device).")
        return device, colleague.display_name

    async def complete_transfer(self, interaction_id: int) -> None:
        """The agent leaves the consultation (or the conference): the caller and the
        other parties talk on."""
        _caller, agent = self._connected(interaction_id)
        await self._send({"Action": "Hangup", "Channel": agent.name})
        self._consulting.discard(interaction_id)

    async def cancel_transfer(self, interaction_id: int) -> None:
        _caller, agent = self._connected(interaction_id)
        await self._send({"Action": "CancelAtxfer", "Channel": agent.name})
        self._consulting.discard(interaction_id)

    async def join_consultation(self, interaction_id: int) -> None:
        """While consulting: caller, agent and the consulted party all talk together in
        the call's conference (F-VO-3, a conference via consultation).

        The transfer feature's three-way (its code received on the agent's leg, as
        `CancelAtxfer` does with the abort code) ends the consultation with the three in
        one bridge; then they move into the call's ConfBridge, where more parties may
        be added, listed and kicked."""
        caller, agent = self._connected(interaction_id)
        if interaction_id not in self._consulting:
            raise Conflict("not_consulting", "The call has no consultation to join.")
        try:  # the consulted party may be answering right now
            async with asyncio.timeout(_SETTLE_SECONDS):
                await self.voice.connector.wait_until(
                    lambda: self._bridged_with(agent, but=caller) is not None
                )
        except TimeoutError:
            pass
        consulted = self._bridged_with(agent, but=caller)
        if consulted is None:
            raise Conflict("consultation_not_connected", "The consulted party has not answered.")
        for digit in ATXFER_THREEWAY:
            await self._send(
                {"Action": "PlayDTMF", "Channel": agent.name, "Digit": digit, "Receive": "true"}
            )
        try:
            async with asyncio.timeout(_SETTLE_SECONDS):
                await self.voice.connector.wait_until(
                    lambda: (
                        self._bridged_with(caller, but=agent) is not None
                        and self._bridge_of(caller) == self._bridge_of(agent)
                    )
                )
        except TimeoutError:
            raise VoiceUnavailable("the three parties were not joined") from None
        self._consulting.discard(interaction_id)
        # Found again: a Local channel that dialled the consulted party may have been
        # optimized away meanwhile, leaving the party's own channel in the bridge.
        consulted = self._bridged_with(caller, but=agent) or consulted
        name = self.conference_name(interaction_id)
        await self._send(
            {
                "Action": "Setvar",
                "Channel": consulted.name,
                "Variable": "PARLEY_CONFERENCE",
                "Value": name,
            }
        )
        await self._send(
            {
                "Action": "Redirect",
                "Channel": consulted.name,
                "Context": CONFERENCE_CONTEXT,
                "Exten": "s",
                "Priority": "1",
            }
        )
        self._parties.setdefault(interaction_id, {})[consulted.uniqueid] = self._consulted.pop(
            interaction_id, ""
        )
        await self._move_into_conference(interaction_id, caller, agent)

    def _bridge_of(self, leg: LiveChannel) -> str | None:
        current = self.voice.connector.calls.channels.get(leg.uniqueid)
        return None if current is None else current.bridge_id

    def _bridged_with(self, leg: LiveChannel, *, but: LiveChannel) -> LiveChannel | None:
        """A channel in `leg`'s bridge other than `leg` and `but`."""
        calls = self.voice.connector.calls
        bridge = calls.bridges.get(self._bridge_of(leg) or "")
        if bridge is None:
            return None
        others = bridge.channel_ids - {leg.uniqueid, but.uniqueid}
        return next((calls.channels[u] for u in sorted(others) if u in calls.channels), None)

    def conference_name(self, interaction_id: int) -> str:
        return f"parley-{interaction_id}"

    async def conference_add(
        self, interaction_id: int, number: str, context: str | None = None
    ) -> None:
        """Add a party: the first time, caller and agent move into a conference of
        their own (ConfBridge); then `number` is called into it (from the outbound
        context unless `context` is said)."""
        if context is None:
            context = self.outbound_context
            if not _NUMBER.fullmatch(number):
                raise DomainError("invalid_number", "A number is digits, with + for international.")
        await self._conference_call(interaction_id, f"Local/{number}@{context}", number)

    async def conference_add_agent(self, interaction_id: int, agent_id: int) -> None:
        """Ring a colleague's device into the call's conference."""
        device, name = await self._device_of(agent_id)
        await self._conference_call(interaction_id, device, name)

    async def _conference_call(self, interaction_id: int, channel: str, who: str) -> None:
        caller, agent = self._connected(interaction_id)  # refused unless connected
        name = self.conference_name(interaction_id)
        if interaction_id not in self._conferences:
            await self._move_into_conference(interaction_id, caller, agent)
        # The party's channel gets a uniqueid of Parley's, so the list can say who it is.
        self._party_seq += 1
        uniqueid = f"parley-conf-{interaction_id}-{self._party_seq}"
        await self._send(
            {
                "Action": "Originate",
                "Channel": channel,
                "Context": CONFERENCE_CONTEXT,
                "Exten": "s",
                "Priority": "1",
                "Variable": f"PARLEY_CONFERENCE={name}",
                "CallerID": f"Parley conference <{interaction_id}>",
                "ChannelId": uniqueid,
                "Async": "true",
            }
        )
        self._parties.setdefault(interaction_id, {})[uniqueid] = who

    async def _move_into_conference(
        self, interaction_id: int, caller: LiveChannel, agent: LiveChannel
    ) -> None:
        """Caller and agent leave their bridge for the call's ConfBridge."""
        name = self.conference_name(interaction_id)
        for leg in (caller, agent):
            await self._send(
                {
                    "Action": "Setvar",
                    "Channel": leg.name,
                    "Variable": "PARLEY_CONFERENCE",
                    "Value": name,
                }
            )
        await self._send(
            {
                "Action": "Redirect",
                "Channel": caller.name,
                "Context": CONFERENCE_CONTEXT,
                "Exten": "s",
                "Priority": "1",
                "ExtraChannel": agent.name,
                "ExtraContext": CONFERENCE_CONTEXT,
                "ExtraExten": "s",
                "ExtraPriority": "1",
            }
        )
        self._conferences.add(interaction_id)

    async def conference_members(self, interaction_id: int) -> list[str]:
        """The channels in the call's conference, as Asterisk lists them."""
        if interaction_id not in self._conferences:
            return []
        try:
            listing = await self.voice.connector.send(
                {"Action": "ConfbridgeList", "Conference": self.conference_name(interaction_id)}
            )
        except AmiError:
            return []  # Asterisk says "No active conferences" once it emptied
        messages = listing if isinstance(listing, list) else [listing]
        return [m["Channel"] for m in messages if m.get("Event") == "ConfbridgeList"]

    async def conference_parties(self, interaction_id: int) -> list[dict[str, str]]:
        """The conference's members for the desktop: each one's `channel` (to kick),
        `role` (`caller`, `agent` or `party`) and `name` (a party's number or agent)."""
        caller, agent = self._connected(interaction_id)
        called = self._parties.get(interaction_id, {})
        by_name = {c.name: c.uniqueid for c in self.voice.connector.calls.channels.values()}
        members = []
        for channel in await self.conference_members(interaction_id):
            if channel == caller.name:
                role, who = "caller", caller.caller_id_num
            elif channel == agent.name:
                role, who = "agent", ""
            else:
                role, who = "party", called.get(by_name.get(channel, ""), "")
            members.append({"channel": channel, "role": role, "name": who})
        return members

    async def conference_kick(self, interaction_id: int, channel: str) -> None:
        if channel not in await self.conference_members(interaction_id):
            raise Conflict("not_in_conference", "That party is not in the call's conference.")
        await self._send(
            {
                "Action": "ConfbridgeKick",
                "Conference": self.conference_name(interaction_id),
                "Channel": channel,
            }
        )

    async def transfer_to_queue(
        self, interaction_id: int, queue_id: int, *, preferred_agent_id: int | None = None
    ) -> int:
        """The caller waits in `queue_id` as a new interaction (returned), offered first
        to `preferred_agent_id` when given; the agent's interaction completes."""
        self.voice.legs(interaction_id)  # connected, or refused here
        try:
            new_id = await self.voice.requeue(
                interaction_id, queue_id, preferred_agent_id=preferred_agent_id
            )
        except (AmiError, TimeoutError) as exc:
            raise VoiceUnavailable(str(exc)) from None
        self._forget(interaction_id)
        return new_id

    async def messages(self, interaction_id: int) -> list[dict[str, str]]:
        """The pre-recorded messages of the call's queue (its `QueueVoiceSettings`): each
        one's `name` and `sound` (a file Asterisk plays, without its extension)."""
        queue_id = self.voice.queue_of(interaction_id)
        if queue_id is None:
            return []
        async with self.voice.runtime.database.sessions() as db:
            messages: list[Any] | None = await db.scalar(
                select(QueueVoiceSettings.messages).where(QueueVoiceSettings.queue_id == queue_id)
            )
        return [{"name": m["name"], "sound": m["sound"]} for m in messages or []]

    async def play_message(self, interaction_id: int, name: str) -> None:
        """Play the queue's message `name` into the connected call: caller and agent hear
        it from a Local channel that joins their bridge and leaves with the message's end."""
        _caller, agent = self._connected(interaction_id)
        if self._message_playing(interaction_id) is not None:
            raise Conflict("message_playing", "A message is playing into the call already.")
        chosen = next((m for m in await self.messages(interaction_id) if m["name"] == name), None)
        if chosen is None:
            raise NotFound("Message", name)
        # The playing side (;1) gets a uniqueid of Parley's: while it is up, it plays.
        self._party_seq += 1
        uniqueid = f"parley-message-{interaction_id}-{self._party_seq}"
        await self._send(
            {
                "Action": "Originate",
                "Channel": MESSAGE_CHANNEL,
                "Context": MESSAGE_CONTEXT,
                "Exten": "play",
                "Priority": "1",
                # `__`: inherited by the joining side of the Local channel.
                "Variable": f"__PARLEY_MESSAGE_CALL={agent.name},PARLEY_MESSAGE={chosen['sound']}",
                "CallerID": f"Parley message <{interaction_id}>",
                "ChannelId": uniqueid,
                "OtherChannelId": f"{uniqueid}-join",
                "Async": "true",
            }
        )
        self._playing[interaction_id] = (uniqueid, name, time.monotonic(), False)
        log.info("voice.message_played", interaction_id=interaction_id, sound=chosen["sound"])

    def _message_playing(self, interaction_id: int) -> str | None:
        """The name of the message playing into the call, None when none is."""
        playing = self._playing.get(interaction_id)
        if playing is None:
            return None
        uniqueid, name, started, seen = playing
        if uniqueid in self.voice.connector.calls.channels:
            self._playing[interaction_id] = (uniqueid, name, started, True)
            return name
        if not seen and time.monotonic() - started < _MESSAGE_START_SECONDS:
            return name  # originated, its channel not up yet
        del self._playing[interaction_id]
        return None

    def recording_path(self, interaction_id: int, part: int) -> Path:
        return self.recordings / f"interaction-{interaction_id}-{part}.wav"

    async def start_recording(self, interaction_id: int, part: int) -> Path:
        """Record the call (both directions) into a new file; returns its path."""
        caller, _agent = self.voice.legs(interaction_id)
        self.recordings.mkdir(parents=True, exist_ok=True)
        path = self.recording_path(interaction_id, part)
        await self._send({"Action": "MixMonitor", "Channel": caller.name, "File": str(path)})
        await self.voice.note_recording(interaction_id, path)
        return path

    async def pause_recording(self, interaction_id: int, paused: bool) -> None:
        """Keep card numbers and the like out of the file (F-VO-5): silence while paused."""
        caller, _agent = self.voice.legs(interaction_id)
        await self._send(
            {
                "Action": "MixMonitorMute",
                "Channel": caller.name,
                "Direction": "both",
                "State": "1" if paused else "0",
            }
        )

    async def stop_recording(self, interaction_id: int) -> None:
        caller, _agent = self.voice.legs(interaction_id)
        await self._send({"Action": "StopMixMonitor", "Channel": caller.name})

    async def spy(self, interaction_id: int, supervisor: User, mode: SpyMode) -> None:
        """Ring the supervisor's device into the call in `mode`."""
        _caller, agent = self._connected(interaction_id)
        device = self.voice.agent_dial_string(supervisor.id, supervisor.device or "")
        if device is None:
            raise DomainError("no_device", "Set a phone (device) for yourself to listen in.")
        await self._send(
            {
                "Action": "Originate",
                "Channel": device,
                "Context": SPY_CONTEXT,
                "Exten": mode.value,
                "Priority": "1",
                "Variable": f"PARLEY_SPY_CHANNEL={agent.name}",
                "CallerID": f"Parley {mode.value} <{interaction_id}>",
                "Async": "true",
            }
        )
        log.info("voice.spy", interaction_id=interaction_id, supervisor_id=supervisor.id, mode=mode)
