"""PROTOCOL.md of the visitor websocket stays true: its visitor examples pass `read_frame`,
its server examples are exactly what the server would send, both tables list the frame
types the code knows, and the limits it states are the code's."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import pytest

from parley.chat_channel import domain, protocol

DOC = Path(protocol.__file__).with_name("PROTOCOL.md").read_text()


def _section(title: str) -> str:
    return DOC.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _examples(title: str) -> list[str]:
    return re.findall(r"```json\n(.*?)\n```", _section(title), re.S)


def _table_types(title: str) -> set[str]:
    return {
        name
        for row in re.findall(r"^\| (`.*?`(?:, `.*?`)*) \|", _section(title), re.M)
        for name in re.findall(r"`([a-z_.]+)`", row)
    }


def _frame_types(union: object) -> set[str]:
    frames = typing.get_args(typing.get_args(union)[0])
    return {typing.get_args(frame.model_fields["type"].annotation)[0] for frame in frames}


def _type_of(example: str) -> str:
    return str(json.loads(example)["type"])


@pytest.mark.parametrize("example", _examples("From the visitor"), ids=_type_of)
def test_visitor_examples_pass_read_frame(example: str) -> None:
    frame = protocol.read_frame(example)
    assert frame.type == _type_of(example)


@pytest.mark.parametrize("example", _examples("From the server"), ids=_type_of)
def test_server_examples_are_what_the_server_sends(example: str) -> None:
    frame = protocol.server_frame.validate_json(example)
    assert json.loads(protocol.encode(frame)) == json.loads(example)


def test_every_frame_type_is_documented_and_shown() -> None:
    visitor = _frame_types(protocol.ClientFrame)
    server = _frame_types(protocol.ServerFrame)
    assert _table_types("From the visitor") == visitor
    assert _table_types("From the server") == server
    assert {_type_of(example) for example in _examples("From the visitor")} == visitor
    assert {_type_of(example) for example in _examples("From the server")} == server


def test_the_error_codes_and_close_reasons_are_the_codes() -> None:
    limits = _section("Errors and limits")
    documented = set(re.findall(r"`([a-z_]+)`\s\(", limits))
    assert documented == {code.value for code in protocol.ErrorCode}
    closed_row = next(line for line in DOC.splitlines() if line.startswith("| `closed` |"))
    assert set(re.findall(r"`([a-z_]+)`", closed_row)) - {"closed", "reason"} == {
        reason.value for reason in domain.CloseReason
    }


def test_the_limits_stated_are_the_codes() -> None:
    limits = _section("Errors and limits")
    assert f"over {protocol.MAX_FRAME_BYTES // 1024} KiB" in limits
    assert f"code {protocol.CLOSE_RATE_LIMITED}" in limits
    visitor, ip = domain.VISITOR_LIMIT, domain.IP_LIMIT
    assert (
        f"more than {visitor.per_second:g} frames a second on average with bursts of "
        f"{visitor.burst:g} from one visitor, or {ip.per_second:g} a\nsecond with bursts "
        f"of {ip.burst:g} from one IP address"
    ) in limits
    assert f"`text` (1\N{EN DASH}{protocol.MAX_TEXT_CHARS} characters" in _section(
        "From the visitor"
    )
    assert f"1\N{EN DASH}{protocol.MAX_ID_CHARS} characters" in _section("Durable messages")
    timeout = f"{domain.DEFAULT_TYPING_TIMEOUT.total_seconds():g} s"
    assert _section("Typing and read receipts").count(timeout) == 2
