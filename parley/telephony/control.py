"""Call control over AMI (ARCHITECTURE.md §7; F-VO-3, -5, -10): what an agent does with
the call in hand, and a supervisor's listen / whisper / barge.

- hold: both legs leave their bridge, the caller to `parley-hold` (music or the hold
  tone), the agent to `parley-held` (silence); resume bridges them again (AMI `Bridge`);
- mute: the agent's audio stops reaching the caller (`MuteAudio` on the agent's leg);
- DTMF: digits played to the caller's side, e.g. a remote IVR (`PlayDTMF`);
- blind transfer: to a number (the caller dials out through `parley-outbound` and leaves
  Parley's queueing) or to a queue (a new interaction waits there; the caller holds);
- attended transfer: the agent's leg consults a number first (AMI `Atxfer`) and hands
  the caller over by hanging up, or takes them back (`CancelAtxfer`);
- conference: caller and agent move into a ConfBridge of the call's own, parties are
  called into it, listed and kicked; the agent may leave and the others talk on;
- recording: `MixMonitor` of the caller's leg (both directions) into the data directory,
  paused and resumed with `MixMonitorMute`, stopped with `StopMixMonitor`;
- supervision: AMI originates the supervisor's device into `parley-spy`, which runs
  ChanSpy on the agent's leg in the chosen mode.

Every operation names the interaction; `VoiceService` knows its channels. Operations on a
call that is not connected raise `Conflict`, on an unknown one `NotFound`, and when
Asterisk does not do it, `VoiceUnavailable`.
"""

from __future__ import annotations

import asyncio
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

import structlog

from parley.platform.errors import Conflict, DomainError, NotFound
from parley.platform.models import User
from parley.telephony.ami import ActionFailed, AmiError
from parley.telephony.calls import Channel as LiveChannel
from parley.telephony.voice import HOLD_CONTEXT, VoiceService, dial_string

log = structlog.get_logger(__name__)

HELD_CONTEXT = "parley-held"
CONFERENCE_CONTEXT = "parley-conference"
SPY_CONTEXT = "parley-spy"
OUTBOUND_CONTEXT = "parley-outbound"
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

    def state(self, interaction_id: int) -> dict[str, Any]:
        """The call's phase, mute and recording, for the agent's desktop."""
        tracked = self.voice.call_of(interaction_id)
        if tracked is None:
            self._muted.discard(interaction_id)
            self._recording.pop(interaction_id, None)
            raise NotFound("Call", interaction_id)
        recording = self._recording.get(interaction_id)
        return {
            "phase": tracked[1],
            "is_muted": interaction_id in self._muted,
            "recording": "off" if recording is None else ("paused" if recording[1] else "on"),
        }

    async def record(self, interaction_id: int, action: str) -> None:
        """start / pause / resume / stop the call's recording; each start is a new part."""
        current = self._recording.get(interaction_id)
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
            del self._recording[interaction_id]
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
        self, agent_id: int, interaction_id: int, action: str, digits: str | None
    ) -> None:
        """The agent socket's `call.command`: the agent's own call only."""
        if self.voice.agent_of(interaction_id) != agent_id:
            raise NotFound("Call", interaction_id)
        if action == "hangup":
            await self.hangup(interaction_id)
        elif action in ("hold", "resume"):
            await (self.hold if action == "hold" else self.resume)(interaction_id)
        elif action in ("mute", "unmute"):
            await self.mute(interaction_id, action == "mute")
        else:
            await self.send_dtmf(interaction_id, digits or "")

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
        caller, _agent = self.voice.legs(interaction_id)
        await self._send(
            {
                "Action": "Redirect",
                "Channel": caller.name,
                "Context": OUTBOUND_CONTEXT,
                "Exten": number,
                "Priority": "1",
            }
        )
        await self.voice.release(interaction_id)

    async def attended_transfer(
        self, interaction_id: int, number: str, context: str = OUTBOUND_CONTEXT
    ) -> None:
        """Consult first: the caller holds while the agent's leg calls `number`; the
        agent's hanging up hands the caller over (Asterisk's attended transfer), and
        `cancel_transfer` takes them back instead."""
        if not _NUMBER.fullmatch(number) and context == OUTBOUND_CONTEXT:
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

    async def complete_transfer(self, interaction_id: int) -> None:
        """The agent leaves the consultation: the caller and the consulted party talk."""
        _caller, agent = self._connected(interaction_id)
        await self._send({"Action": "Hangup", "Channel": agent.name})

    async def cancel_transfer(self, interaction_id: int) -> None:
        _caller, agent = self._connected(interaction_id)
        await self._send({"Action": "CancelAtxfer", "Channel": agent.name})

    def conference_name(self, interaction_id: int) -> str:
        return f"parley-{interaction_id}"

    async def conference_add(
        self, interaction_id: int, number: str, context: str = OUTBOUND_CONTEXT
    ) -> None:
        """Add a party: the first time, caller and agent move into a conference of
        their own (ConfBridge); then `number` is called into it."""
        if not _NUMBER.fullmatch(number) and context == OUTBOUND_CONTEXT:
            raise DomainError("invalid_number", "A number is digits, with + for international.")
        caller, agent = self._connected(interaction_id)  # refused unless connected
        name = self.conference_name(interaction_id)
        if interaction_id not in self._conferences:
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
        await self._send(
            {
                "Action": "Originate",
                "Channel": f"Local/{number}@{context}",
                "Context": CONFERENCE_CONTEXT,
                "Exten": "s",
                "Priority": "1",
                "Variable": f"PARLEY_CONFERENCE={name}",
                "CallerID": f"Parley conference <{interaction_id}>",
                "Async": "true",
            }
        )

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

    async def transfer_to_queue(self, interaction_id: int, queue_id: int) -> int:
        self.voice.legs(interaction_id)  # connected, or refused here
        try:
            return await self.voice.requeue(interaction_id, queue_id)
        except (AmiError, TimeoutError) as exc:
            raise VoiceUnavailable(str(exc)) from None

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
        device = dial_string(supervisor.device or "")
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
