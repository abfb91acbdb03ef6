"""PROTOCOL.md stays true: its desktop examples validate, its server examples are frames
the server sends, and every frame type the code accepts is documented."""

from __future__ import annotations

import json
import re
import typing
from pathlib import Path

import pytest

from parley.platform.agents import protocol

DOC = Path(protocol.__file__).with_name("PROTOCOL.md").read_text()


def _section(title: str) -> str:
    return DOC.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _examples(title: str) -> list[dict[str, object]]:
    return [
        json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", _section(title), re.S)
    ]


def _table_types(title: str) -> set[str]:
    return {
        name
        for row in re.findall(r"^\| (`.*?`(?:, `.*?`)*) \|", _section(title), re.M)
        for name in re.findall(r"`([a-z_.]+)`", row)
    }


@pytest.mark.parametrize("example", _examples("From the desktop"), ids=lambda e: str(e["type"]))
def test_desktop_examples_are_valid_frames(example: dict[str, object]) -> None:
    protocol.client_frame.validate_python(example)


@pytest.mark.parametrize("example", _examples("From the server"), ids=lambda e: str(e["type"]))
def test_server_examples_are_documented_frame_types(example: dict[str, object]) -> None:
    assert example["type"] in _table_types("From the server")


def test_every_accepted_frame_type_is_documented() -> None:
    union = typing.get_args(typing.get_args(protocol.ClientFrame)[0])
    accepted = {typing.get_args(frame.model_fields["type"].annotation)[0] for frame in union}
    assert accepted == _table_types("From the desktop")
