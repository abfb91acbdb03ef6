"""The live call model: Asterisk's channels and bridges as AMI reports them.

Pure (no I/O, no await): the AMI connector feeds it events and, after every (re)connect,
a `CoreShowChannels`/`BridgeList` snapshot; everything else in Parley reads it. A call is
the set of channels sharing a `linkedid`; a channel is keyed by its `uniqueid`, while its
name may change (masquerades, Local channel optimisation). A uniqueid is unique within
one run of Asterisk only: it is the start second and a counter, so an Asterisk restarted
within the same second hands out the same ones again.

Reconciling: events keep flowing while the snapshot is collected, so an event seen during
the reconcile is newer than the snapshot for the channel or bridge it names. `reconcile()`
therefore keeps what the live events said about those and takes the snapshot for the
rest, which drops what ended while Parley was not connected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

ChangeKind = Literal["added", "updated", "removed"]


@dataclass(frozen=True)
class Channel:
    uniqueid: str
    linkedid: str
    name: str
    state: str  # Asterisk's ChannelStateDesc: Down, Ring, Ringing, Up, Busy, …
    caller_id_num: str = ""
    caller_id_name: str = ""
    connected_line_num: str = ""
    connected_line_name: str = ""
    context: str = ""
    exten: str = ""
    bridge_id: str | None = None

    @property
    def is_up(self) -> bool:
        return self.state == "Up"


@dataclass(frozen=True)
class Bridge:
    uniqueid: str
    bridge_type: str = ""
    technology: str = ""
    channel_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ChannelChange:
    kind: ChangeKind
    channel: Channel
    cause: str = ""  # for "removed": Asterisk's hangup cause text


@dataclass(frozen=True)
class BridgeChange:
    kind: ChangeKind
    bridge: Bridge


CallChange = ChannelChange | BridgeChange


def _text(event: Mapping[str, Any], key: str) -> str:
    value = event.get(key)
    if isinstance(value, list):  # a repeated header: the last one wins
        value = value[-1] if value else ""
    return "" if value is None else str(value)


def _bridge_id(event: Mapping[str, Any]) -> str | None:
    return _text(event, "BridgeId") or _text(event, "BridgeUniqueid") or None


def channel_from_snapshot(event: Mapping[str, Any]) -> Channel:
    """A channel from the snapshot fields Asterisk puts in channel events and in each
    `CoreShowChannel` of a `CoreShowChannels` list."""
    return Channel(
        uniqueid=_text(event, "Uniqueid"),
        linkedid=_text(event, "Linkedid") or _text(event, "Uniqueid"),
        name=_text(event, "Channel"),
        state=_text(event, "ChannelStateDesc"),
        caller_id_num=_text(event, "CallerIDNum"),
        caller_id_name=_text(event, "CallerIDName"),
        connected_line_num=_text(event, "ConnectedLineNum"),
        connected_line_name=_text(event, "ConnectedLineName"),
        context=_text(event, "Context"),
        exten=_text(event, "Exten"),
        bridge_id=_bridge_id(event) if _text(event, "Event") == "CoreShowChannel" else None,
    )


def bridge_from_snapshot(event: Mapping[str, Any]) -> Bridge:
    """A bridge from `BridgeCreate` or a `BridgeListItem` (members come from channels)."""
    return Bridge(
        uniqueid=_text(event, "BridgeUniqueid"),
        bridge_type=_text(event, "BridgeType"),
        technology=_text(event, "BridgeTechnology"),
    )


@dataclass
class CallModel:
    channels: dict[str, Channel] = field(default_factory=dict)
    bridges: dict[str, Bridge] = field(default_factory=dict)
    # Ids that live events named since `begin_reconcile()`; None when not reconciling.
    _touched: set[str] | None = field(default=None, init=False, repr=False, compare=False)

    def calls(self) -> dict[str, list[Channel]]:
        """The channels of each call, by linkedid."""
        grouped: dict[str, list[Channel]] = {}
        for channel in self.channels.values():
            grouped.setdefault(channel.linkedid, []).append(channel)
        return grouped

    def find(self, name_prefix: str) -> list[Channel]:
        """The channels whose name starts with `name_prefix` (e.g. `Local/100@`)."""
        return [c for c in self.channels.values() if c.name.startswith(name_prefix)]

    def apply(self, event: Mapping[str, Any]) -> list[CallChange]:
        """Update the model from one AMI event; returns what changed (often nothing)."""
        name = _text(event, "Event")
        if name.startswith("Bridge"):
            return self._apply_bridge_event(name, event)
        uniqueid = _text(event, "Uniqueid")
        if not uniqueid or not _text(event, "Channel"):
            return []
        if name == "Hangup":
            self._touch(uniqueid)
            return self._remove_channel(uniqueid, _text(event, "Cause-txt"))
        known = self.channels.get(uniqueid)
        if known is None and name != "Newchannel":
            return []  # an event of a channel Parley never saw begin: the snapshot will tell
        if "ChannelStateDesc" not in event:
            return []
        self._touch(uniqueid)
        bridge_id = known.bridge_id if known else None
        channel = replace(channel_from_snapshot(event), bridge_id=bridge_id)
        if channel == known:
            return []
        self.channels[uniqueid] = channel
        return [ChannelChange("updated" if known else "added", channel)]

    def _apply_bridge_event(self, name: str, event: Mapping[str, Any]) -> list[CallChange]:
        bridge_id = _text(event, "BridgeUniqueid")
        if not bridge_id:
            return []
        self._touch(bridge_id)
        changes: list[CallChange] = []
        bridge = self.bridges.get(bridge_id)
        if name == "BridgeCreate" and bridge is None:
            bridge = bridge_from_snapshot(event)
            self.bridges[bridge_id] = bridge
            changes.append(BridgeChange("added", bridge))
        elif name == "BridgeDestroy" and bridge is not None:
            del self.bridges[bridge_id]
            changes.append(BridgeChange("removed", bridge))
        elif name in ("BridgeEnter", "BridgeLeave"):
            uniqueid = _text(event, "Uniqueid")
            if bridge is None:
                bridge = bridge_from_snapshot(event)
            members = (
                bridge.channel_ids | {uniqueid}
                if name == "BridgeEnter"
                else bridge.channel_ids - {uniqueid}
            )
            bridge = replace(bridge, channel_ids=members)
            kind: ChangeKind = "updated" if bridge_id in self.bridges else "added"
            self.bridges[bridge_id] = bridge
            changes.append(BridgeChange(kind, bridge))
            channel = self.channels.get(uniqueid)
            if channel is not None:
                self._touch(uniqueid)
                channel = replace(channel, bridge_id=bridge_id if name == "BridgeEnter" else None)
                self.channels[uniqueid] = channel
                changes.append(ChannelChange("updated", channel))
        return changes

    def _touch(self, uid: str) -> None:
        if self._touched is not None:
            self._touched.add(uid)

    def _remove_channel(self, uniqueid: str, cause: str) -> list[CallChange]:
        channel = self.channels.pop(uniqueid, None)
        if channel is None:
            return []
        changes: list[CallChange] = [ChannelChange("removed", channel, cause)]
        bridge = self.bridges.get(channel.bridge_id or "")
        if bridge is not None and uniqueid in bridge.channel_ids:
            bridge = replace(bridge, channel_ids=bridge.channel_ids - {uniqueid})
            self.bridges[bridge.uniqueid] = bridge
            changes.append(BridgeChange("updated", bridge))
        return changes

    def begin_reconcile(self) -> None:
        """Start noting which channels and bridges live events name (see `reconcile`)."""
        self._touched = set()

    def abandon_reconcile(self) -> None:
        """Stop noting, keeping the model as events left it (the snapshot never came)."""
        self._touched = None

    def reconcile(self, channels: Iterable[Channel], bridges: Iterable[Bridge]) -> list[CallChange]:
        """Replace the model with Asterisk's snapshot, except for what live events named
        since `begin_reconcile()`, which is newer; returns the differences."""
        touched = self._touched or set()
        self._touched = None
        old_channels, old_bridges = self.channels, self.bridges
        new_channels = {c.uniqueid: c for c in channels if c.uniqueid not in touched}
        new_channels.update({u: c for u, c in old_channels.items() if u in touched})
        members: dict[str, set[str]] = {}
        for channel in new_channels.values():
            if channel.bridge_id:
                members.setdefault(channel.bridge_id, set()).add(channel.uniqueid)
        new_bridges = {
            b.uniqueid: replace(b, channel_ids=frozenset(members.get(b.uniqueid, ())))
            for b in bridges
            if b.uniqueid not in touched
        }
        new_bridges.update({u: b for u, b in old_bridges.items() if u in touched})
        self.channels, self.bridges = new_channels, new_bridges

        changes: list[CallChange] = []
        for uniqueid, channel in old_channels.items():
            if uniqueid not in new_channels:
                changes.append(ChannelChange("removed", channel, "gone while disconnected"))
        for uniqueid, channel in new_channels.items():
            if uniqueid not in old_channels:
                changes.append(ChannelChange("added", channel))
            elif old_channels[uniqueid] != channel:
                changes.append(ChannelChange("updated", channel))
        for uniqueid, bridge in old_bridges.items():
            if uniqueid not in new_bridges:
                changes.append(BridgeChange("removed", bridge))
        for uniqueid, bridge in new_bridges.items():
            if uniqueid not in old_bridges:
                changes.append(BridgeChange("added", bridge))
            elif old_bridges[uniqueid] != bridge:
                changes.append(BridgeChange("updated", bridge))
        return changes
