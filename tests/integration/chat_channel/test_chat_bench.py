"""The chat benchmark still runs, and every message it sends arrives once, in its own
chat, both ways: a handful of visitors and agents on a real server (bench/chat/run.py
in its quick mode; a smoke run, not a measurement: no speed is asserted)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.chat.run import main


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_quick_run_delivers_every_message_once_both_ways(tmp_path: Path, database: str) -> None:
    if database == "postgres" and not os.environ.get("PARLEY_TEST_DATABASE_URL"):
        pytest.skip("PostgreSQL not configured: set PARLEY_TEST_DATABASE_URL")
    output = tmp_path / "chat.json"
    arguments = ["--quick", "--chats", "6", "--capacity", "2", "--database", database]
    code = main([*arguments, "--output", str(output)])
    result = json.loads(output.read_text())
    assert code == 0, result
    assert (result["chats"], result["agents"]) == (6, 3)
    assert result["messages_expected"] > 0
    assert result["messages_delivered"] == result["messages_expected"]
    assert result["messages_lost"] == result["duplicates"] == result["misrouted"] == 0
    assert result["failed_sends"] == 0
    assert result["correct"] is True
    for direction in ("visitor_to_agent", "agent_to_visitor"):
        assert result["latency"][direction]["p50_ms"] > 0
    assert "loopback address" in result["rate_limits"]
