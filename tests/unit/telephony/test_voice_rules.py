"""The pure rules of inbound voice: the AMI URL, callers' numbers, the blocklist, agents'
dial strings, and reading a FastAGI request's variables."""

from __future__ import annotations

import pytest

from parley.telephony.voice import (
    _agi_headers,
    caller_number,
    dial_string,
    is_blocked,
    parse_ami_url,
)


def test_the_ami_url_gives_host_port_and_credentials() -> None:
    endpoint = parse_ami_url("ami://parley:s%3Acret@10.0.0.5:5039")
    assert (endpoint.host, endpoint.port, endpoint.username, endpoint.secret) == (
        "10.0.0.5",
        5039,
        "parley",
        "s:cret",
    )
    assert parse_ami_url("ami://parley:topsecret@pbx").port == 5038
    assert "topsecret" not in repr(parse_ami_url("ami://parley:topsecret@pbx"))


@pytest.mark.parametrize("url", ["http://a:b@pbx", "ami://pbx:5038", "ami://user@pbx", ""])
def test_an_ami_url_without_user_secret_or_host_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="ami://user:secret@host:port"):
        parse_ami_url(url)


def test_callers_numbers_are_read_in_e164_when_they_are_phone_numbers() -> None:
    assert caller_number("22 123 45 67", "PL") == "+48221234567"
    assert caller_number("+7 495 123-45-67", "") == "+74951234567"
    assert caller_number("1001", "") == "1001"  # an extension stays as it is
    assert caller_number("anonymous", "PL") == ""
    assert caller_number("  ", "PL") == ""


def test_the_blocklist_matches_exact_numbers_and_prefixes() -> None:
    patterns = ["+74951234567", "+4870*"]
    assert is_blocked("+74951234567", patterns)
    assert is_blocked("+48701112233", patterns)
    assert not is_blocked("+74951234568", patterns)
    assert not is_blocked("+48221234567", patterns)
    assert not is_blocked("", ["*"])  # a caller with no number is never matched


@pytest.mark.parametrize(
    ("device", "dialled"),
    [
        ("PJSIP/agent-1001", "PJSIP/agent-1001"),
        ("Local/answer@phones/n", "Local/answer@phones/n"),
        ("+48221234567", "Local/+48221234567@parley-outbound"),
    ],
)
def test_agents_devices_become_dial_strings(device: str, dialled: str) -> None:
    assert dial_string(device) == dialled


@pytest.mark.parametrize(
    "device",
    ["", "PJSIP/a,1,G(evil)", "PJSIP/a&PJSIP/b", "PJSIP/${EXTEN}", "agent-1001", "SIP/a b"],
)
def test_devices_that_would_smuggle_dial_options_are_refused(device: str) -> None:
    assert dial_string(device) is None


def test_agi_variables_are_read_and_a_request_without_them_is_refused() -> None:
    block = "agi_network: yes\nagi_network_script: inbound\nagi_callerid: +4822\n\n"
    assert _agi_headers(block)["agi_network_script"] == "inbound"
    with pytest.raises(ValueError):
        _agi_headers("GET / HTTP/1.1\nHost: x\n\n")
