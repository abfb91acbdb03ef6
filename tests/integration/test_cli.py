"""The `parley` command as people run it: real processes, real files, real HTTP."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from parley import __version__
from parley.app import create_app
from parley.platform.config import Settings
from parley.platform.db.migrate import head_revision
from tests.conftest import free_port

DEMO_TABLES = {
    "users": 4,
    "skills": 5,
    "agent_skills": 8,
    "teams": 1,
    "schedules": 2,
    "queues": 2,
    "queue_skills": 2,
    "reason_codes": 4,
    "dispositions": 4,
    "quick_replies": 2,
}
DEMO_USERNAMES = ("admin", "supervisor", "anna", "piotr")


def _environment(**variables: str) -> dict[str, str]:
    """The test process's environment without its PARLEY_* settings, plus `variables`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    environment.update(variables)
    return environment


def _parley(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    # stdin is not a terminal, as in a script or CI: nothing may wait for typing.
    return subprocess.run(
        [sys.executable, "-m", "parley.cli", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _row_counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as connection:
        return {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in DEMO_TABLES
        }


def _settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        secret_key="test-secret-key-not-for-production",  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )


async def _form_login(data_dir: Path, username: str, password: str) -> dict[str, str]:
    """Log in through the login form of an app on `data_dir`; the `/api/auth/me` answer."""
    app = create_app(_settings(data_dir))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        response = await client.post("/login", data={"username": username, "password": password})
        assert response.status_code == 303, response.text
        me = await client.get("/api/auth/me")
        assert me.status_code == 200
        answer: dict[str, str] = me.json()
        return answer


async def test_demo_seeds_once_prints_the_logins_and_the_passwords_work(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = _environment(PARLEY_DATA_DIR=str(data_dir))

    first = _parley("demo", "--no-serve", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "Migrating" in first.stdout and "Seeding demo data" in first.stdout
    counts = _row_counts(data_dir / "parley.sqlite3")
    assert counts == DEMO_TABLES

    second = _parley("demo", "--no-serve", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert "nothing to add" in second.stdout
    assert _row_counts(data_dir / "parley.sqlite3") == counts
    for output in (first.stdout, second.stdout):
        for username in DEMO_USERNAMES:
            assert re.search(rf"^\s+{username}\s", output, re.MULTILINE), output

    # Outside the demo's own data directory the passwords are random and shown once.
    assert "demo-admin" not in first.stdout
    shown = re.search(r"^\s+admin\s.*password: (\S+)\s+\(shown once", first.stdout, re.MULTILINE)
    assert shown, first.stdout
    assert shown.group(1) not in second.stdout
    me = await _form_login(data_dir, "admin", shown.group(1))
    assert me["role"] == "admin"


def test_well_known_demo_passwords_only_in_the_demo_data_directory(tmp_path: Path) -> None:
    result = _parley("demo", "--no-serve", cwd=tmp_path, env=_environment())
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "demo" / "parley.sqlite3").is_file()
    assert "password: demo-admin" in result.stdout
    assert "WARNING: these are well-known demo passwords" in result.stdout
    assert "desktop at http://127.0.0.1:8000/agent" in result.stdout


async def test_created_user_logs_in_with_the_password_from_the_environment(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    env = _environment(
        PARLEY_DATA_DIR=str(data_dir), PARLEY_NEW_USER_PASSWORD="a long secret phrase"
    )
    result = _parley(
        "create-user",
        "Olga",
        "--role",
        "supervisor",
        "--display-name",
        "Olga Petrova",
        "--email",
        "olga@example.com",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "Created supervisor 'olga'" in result.stdout

    me = await _form_login(data_dir, "olga", "a long secret phrase")
    assert me["role"] == "supervisor"
    assert me["display_name"] == "Olga Petrova"

    again = _parley("create-user", "olga", "--role", "agent", cwd=tmp_path, env=env)
    assert again.returncode != 0
    assert "already exists" in again.stderr


def test_create_user_refuses_a_short_or_missing_password(tmp_path: Path) -> None:
    env = _environment(PARLEY_DATA_DIR=str(tmp_path / "data"))
    short = _parley(
        "create-user",
        "bob",
        "--role",
        "agent",
        cwd=tmp_path,
        env=env | {"PARLEY_NEW_USER_PASSWORD": "short"},
    )
    assert short.returncode == 2
    assert "too short" in short.stderr
    missing = _parley("create-user", "bob", "--role", "agent", cwd=tmp_path, env=env)
    assert missing.returncode == 2
    assert "PARLEY_NEW_USER_PASSWORD" in missing.stderr


def test_migrate_prints_the_head_revision(tmp_path: Path) -> None:
    env = _environment(PARLEY_DATA_DIR=str(tmp_path / "data"))
    result = _parley("migrate", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert f"Database is at revision {head_revision()} (head)." in result.stdout


@pytest.mark.postgres
def test_migrate_against_postgresql(tmp_path: Path, postgres_database: str) -> None:
    env = _environment(PARLEY_DATABASE_URL=postgres_database)
    result = _parley("migrate", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert f"Database is at revision {head_revision()} (head)." in result.stdout
    assert "postgresql+asyncpg://" in result.stdout


def test_version(tmp_path: Path) -> None:
    result = _parley("version", cwd=tmp_path, env=_environment())
    assert result.stdout.strip() == f"parley {__version__}"


def test_asterisk_config_writes_the_dialplan_and_says_how_to_connect(tmp_path: Path) -> None:
    result = _parley(
        "asterisk-config",
        "--dir",
        "pbx",
        "--phone",
        "agent-1001",
        "--trunk",
        "sip.carrier.example:5070",
        cwd=tmp_path,
        env=_environment(PARLEY_FASTAGI_PORT="4600"),
    )

    assert result.returncode == 0, result.stderr
    etc = tmp_path / "pbx" / "etc"
    assert "AGI(agi://127.0.0.1:4600/inbound)" in (etc / "extensions.conf").read_text()
    pjsip = (etc / "pjsip.conf").read_text()
    assert "[agent-1001]" in pjsip and "contact = sip:sip.carrier.example:5070" in pjsip
    ami_url = re.search(r"PARLEY_AMI_URL=(ami://parley:(\w+)@127.0.0.1:5038)", result.stdout)
    assert ami_url is not None
    assert f"secret = {ami_url.group(2)}" in (etc / "manager.conf").read_text()
    assert "PJSIP/agent-1001" in result.stdout
    refused = _parley(
        "asterisk-config", "--dir", "x", "--phone", "bad name", cwd=tmp_path, env=_environment()
    )
    assert refused.returncode != 0 and "SIP phone name" in refused.stderr


def _wait_until_up(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"parley serve exited early: {process.communicate()}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"parley serve did not answer on {url} within {timeout} s")


def test_serve_answers_health_checks_over_http_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = _environment(PARLEY_DATA_DIR=str(tmp_path / "data"))
    process = subprocess.Popen(
        [sys.executable, "-m", "parley.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{base}/healthz", process)
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"]["database"] == "ok"
        assert httpx.get(f"{base}/login", timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, stderr
    assert "Application shutdown complete" in stderr
    assert "Traceback" not in stderr
    assert "Migrating" in stdout  # embedded mode migrates before serving
