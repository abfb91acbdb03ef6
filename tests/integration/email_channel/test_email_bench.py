"""The email benchmark still runs, and its corpus goes through ingestion as intended:
every message stored once or known as a duplicate, replies threaded, malformed mail
kept with a note (bench/email/run.py; a smoke run, not a measurement)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.email.run import main


def test_a_small_benchmark_run_ingests_the_whole_corpus(tmp_path: Path) -> None:
    output = tmp_path / "email.json"
    main(["--messages", "300", "--skip-idle", "--output", str(output)])
    rate = json.loads(output.read_text())["rate"]
    mix = rate["mix"]
    assert rate["stored"] + rate["duplicates"] == 300
    assert rate["duplicates"] == mix.get("duplicate", 0)
    assert rate["messages_in_database"] == rate["stored"]
    assert rate["threaded_by"]["in_reply_to"] == mix["reply"]
    assert rate["threaded_by"]["subject_token"] == mix["token_reply"]
    assert rate["messages_with_problem_notes"] >= mix["malformed"]
    assert rate["cases"] == rate["cases_with_sla_due_at"] == rate["interactions"]
    assert rate["parse_thread_store"]["messages_per_second"] > 0
