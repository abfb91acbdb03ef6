"""Shared fixtures for platform integration tests: a real Redis, or a skip saying why."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pytest
import redis

DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/15"


def _printable(url: str) -> str:
    # The skip reason lands in CI logs: keep a password out of it.
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The test Redis URL (PARLEY_TEST_REDIS_URL), after checking it answers PING."""
    url = os.environ.get("PARLEY_TEST_REDIS_URL") or DEFAULT_TEST_REDIS_URL
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        pytest.skip(f"Redis not reachable at {_printable(url)} (set PARLEY_TEST_REDIS_URL): {exc}")
    finally:
        client.close()
    return url
