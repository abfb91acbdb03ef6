"""The visitor websocket's frames (protocol.py): what passes `read_frame`, the error each
kind of bad frame gets, the size limit, and server frames built from the domain."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from parley.chat_channel import domain, protocol
from parley.chat_channel.protocol import ErrorCode, FrameRejected, read_frame
from parley.platform.errors import DomainError

T0 = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
PAGE = {"url": "https://shop.example.com/", "title": "Shop"}


def frame(**fields: Any) -> str:
    return json.dumps(fields, ensure_ascii=False)


def rejected(text: str) -> FrameRejected:
    with pytest.raises(FrameRejected) as caught:
        read_frame(text)
    return caught.value


def field_errors(text: str) -> dict[str, str]:
    error = rejected(text)
    assert error.error_code is ErrorCode.BAD_FRAME
    return {field.field: field.message for field in error.fields}


# --- good frames -------------------------------------------------------------------------


def test_a_first_hello_needs_only_the_page() -> None:
    hello = read_frame(frame(type="hello", page={"url": "https://shop.example.com/"}))
    assert isinstance(hello, protocol.Hello)
    assert (hello.visitor_id, hello.resume, hello.page.title, hello.referrer) == (None, 0, "", "")
    assert hello.screen is None
    assert hello.language is None


def test_a_returning_hello_carries_everything() -> None:
    hello = read_frame(
        frame(
            type="hello",
            visitor_id="v_1",
            resume=7,
            page=PAGE,
            referrer="https://www.google.com/",
            screen={"width": 390, "height": 844},
            language="pt-BR",
        )
    )
    assert isinstance(hello, protocol.Hello)
    assert hello.resume == 7
    assert hello.screen == protocol.Screen(width=390, height=844)
    assert hello.language == "pt-BR"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            frame(type="message", client_msg_id="m-1", text="Hi"),
            protocol.SendMessage(type="message", client_msg_id="m-1", text="Hi"),
        ),
        (
            frame(type="message", client_msg_id="m" * 64, text="é" * 4000),
            protocol.SendMessage(type="message", client_msg_id="m" * 64, text="é" * 4000),
        ),
        (frame(type="typing", is_typing=False), protocol.SetTyping(type="typing", is_typing=False)),
        (frame(type="read", up_to=3), protocol.MarkRead(type="read", up_to=3)),
        (frame(type="heartbeat"), protocol.Heartbeat(type="heartbeat")),
    ],
    ids=["message", "longest_message", "typing", "read", "heartbeat"],
)
def test_good_frames_parse_to_their_model(text: str, expected: protocol.ClientFrame) -> None:
    assert read_frame(text) == expected


# --- bad frames --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["", "hello", "{", '{"type": "heartbeat"', '"\\ud800"', "[" * 300 + "]" * 300]
)
def test_what_is_not_json_is_a_bad_frame(text: str) -> None:
    error = rejected(text)
    assert error.error_code is ErrorCode.BAD_FRAME
    assert error.message.startswith("The frame is not JSON (")
    assert error.fields == ()


@pytest.mark.parametrize("text", ["[]", '[{"type": "heartbeat"}]', '"heartbeat"', "42", "null"])
def test_json_that_is_not_an_object_is_a_bad_frame(text: str) -> None:
    error = rejected(text)
    assert (error.error_code, error.message) == (
        ErrorCode.BAD_FRAME,
        "A frame must be a JSON object.",
    )


@pytest.mark.parametrize("surrogate", ["\\udc00", "\udc00"], ids=["escaped", "raw"])
def test_an_unpaired_surrogate_in_a_message_is_refused(surrogate: str) -> None:
    error = rejected('{"type": "message", "client_msg_id": "m-1", "text": "a' + surrogate + 'b"}')
    assert error.error_code is ErrorCode.BAD_FRAME


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({}, "type", "Field required"),
        ({"type": "bye"}, "type", "Unknown frame type; expected one of hello, message, typing"),
        ({"type": 1}, "type", "Unknown frame type"),
        ({"type": "heartbeat", "at": 1}, "heartbeat.at", "Extra inputs are not permitted"),
        ({"type": "hello"}, "hello.page", "Field required"),
        ({"type": "hello", "page": {}}, "hello.page.url", "Field required"),
        ({"type": "hello", "page": {"url": ""}}, "hello.page.url", "at least 1 character"),
        (
            {"type": "hello", "page": {"url": "https://x/" + "a" * 2048}},
            "hello.page.url",
            "at most 2048 characters",
        ),
        (
            {"type": "hello", "page": {"url": "https://x/", "title": "t" * 301}},
            "hello.page.title",
            "at most 300 characters",
        ),
        (
            {"type": "hello", "page": {"url": "https://x/", "lang": "en"}},
            "hello.page.lang",
            "Extra inputs are not permitted",
        ),
        ({"type": "hello", "page": PAGE, "resume": -1}, "hello.resume", "greater than or equal"),
        ({"type": "hello", "page": PAGE, "resume": "4"}, "hello.resume", "valid integer"),
        ({"type": "hello", "page": PAGE, "resume": 4.0}, "hello.resume", "valid integer"),
        ({"type": "hello", "page": PAGE, "resume": True}, "hello.resume", "valid integer"),
        ({"type": "hello", "page": PAGE, "resume": 2**53}, "hello.resume", "less than or equal"),
        ({"type": "hello", "page": PAGE, "visitor_id": ""}, "hello.visitor_id", "at least 1"),
        (
            {"type": "hello", "page": PAGE, "visitor_id": "v" * 65},
            "hello.visitor_id",
            "at most 64 characters",
        ),
        (
            {"type": "hello", "page": PAGE, "visitor_id": "v 1"},
            "hello.visitor_id",
            "should match pattern",
        ),
        ({"type": "hello", "page": PAGE, "visitor_id": 7}, "hello.visitor_id", "valid string"),
        ({"type": "hello", "page": PAGE, "referrer": None}, "hello.referrer", "valid string"),
        (
            {"type": "hello", "page": PAGE, "screen": {"width": 0, "height": 1}},
            "hello.screen.width",
            "greater than or equal to 1",
        ),
        ({"type": "hello", "page": PAGE, "language": "en_US"}, "hello.language", "pattern"),
        ({"type": "hello", "page": PAGE, "language": "x" * 36}, "hello.language", "at most 35"),
        ({"type": "message", "text": "Hi"}, "message.client_msg_id", "Field required"),
        ({"type": "message", "client_msg_id": "m-1"}, "message.text", "Field required"),
        ({"type": "message", "client_msg_id": "m-1", "text": ""}, "message.text", "at least 1"),
        (
            {"type": "message", "client_msg_id": "m-1", "text": " \n\t "},
            "message.text",
            "Text must not be blank",
        ),
        (
            {"type": "message", "client_msg_id": "m-1", "text": "a" * 4001},
            "message.text",
            "at most 4000 characters",
        ),
        (
            {"type": "message", "client_msg_id": "m-1", "text": ["Hi"]},
            "message.text",
            "valid string",
        ),
        (
            {"type": "message", "client_msg_id": "m-1", "text": "Hi", "html": "<b>Hi</b>"},
            "message.html",
            "Extra inputs are not permitted",
        ),
        ({"type": "typing"}, "typing.is_typing", "Field required"),
        ({"type": "typing", "is_typing": 1}, "typing.is_typing", "valid boolean"),
        ({"type": "typing", "is_typing": "true"}, "typing.is_typing", "valid boolean"),
        ({"type": "read", "up_to": 0}, "read.up_to", "greater than or equal to 1"),
        ({"type": "read", "up_to": None}, "read.up_to", "valid integer"),
    ],
)
def test_each_bad_field_is_named_in_the_error(
    fields: dict[str, Any], field: str, message: str
) -> None:
    errors = field_errors(json.dumps(fields))
    assert field in errors, errors
    assert message in errors[field]


def test_every_bad_field_of_a_frame_is_reported() -> None:
    errors = field_errors(frame(type="hello", page={"url": ""}, resume=-1, x=1))
    assert set(errors) == {"hello.page.url", "hello.resume", "hello.x"}


def test_what_is_echoed_back_about_unknown_fields_is_bounded() -> None:
    text = json.dumps({"type": "heartbeat", **{f"{n:03}" + "k" * 1000: n for n in range(50)}})
    error = rejected(text)
    assert len(error.fields) == 20
    assert all(len(field.field) <= 200 for field in error.fields)
    protocol.ErrorFrame.of(error)  # and it still makes a valid frame


def test_a_refused_message_names_its_client_msg_id() -> None:
    error = rejected(frame(type="message", client_msg_id="m-9", text="a" * 4001))
    wire = json.loads(protocol.encode(protocol.ErrorFrame.of(error)))
    assert wire["client_msg_id"] == "m-9"
    assert wire["fields"] == [
        {"field": "message.text", "message": "String should have at most 4000 characters"}
    ]


@pytest.mark.parametrize(
    "text",
    [
        frame(type="message", client_msg_id="m 9", text="a" * 4001),
        frame(type="message", client_msg_id=9, text="Hi", extra=True),
        frame(type="typing", client_msg_id="m-9"),
        '{"type": "message", "client_msg_id": "m-9", "text": "Hi", "n": ' + "1" * 5000 + "}",
    ],
    ids=["invalid_id", "not_a_string", "not_a_message", "integer_too_long_for_python"],
)
def test_a_refusal_names_a_client_msg_id_only_when_it_is_a_valid_one(text: str) -> None:
    error = rejected(text)
    assert error.error_code is ErrorCode.BAD_FRAME
    assert error.client_msg_id is None


# --- size --------------------------------------------------------------------------------


def test_a_frame_over_the_limit_is_refused_before_parsing() -> None:
    text = '{"type": "heartbeat"' + " " * protocol.MAX_FRAME_BYTES + "}"
    error = rejected(text)
    assert error.error_code is ErrorCode.FRAME_TOO_LARGE
    assert protocol.ErrorFrame.of(error).code is ErrorCode.FRAME_TOO_LARGE


def test_the_limit_counts_bytes_not_characters() -> None:
    text = frame(type="message", client_msg_id="m-1", text="😀" * 4000)
    padded = text[:-1] + " " * (protocol.MAX_FRAME_BYTES - len(text.encode())) + "}"
    assert len(padded.encode()) == protocol.MAX_FRAME_BYTES
    assert isinstance(read_frame(padded), protocol.SendMessage)
    over = padded[:-2] + "é}"  # as many characters, one byte more
    assert len(over) < protocol.MAX_FRAME_BYTES < len(over.encode())
    assert rejected(over).error_code is ErrorCode.FRAME_TOO_LARGE


@pytest.mark.parametrize("char", ["😀", "\x01", '"'])
def test_every_valid_frame_fits_even_fully_escaped(char: str) -> None:
    """The largest valid frames, written the most verbose way JSON allows (every character
    \\u-escaped, astral ones as two escapes), stay under the limit."""
    biggest = [
        {"type": "message", "client_msg_id": "m" * 64, "text": char * 4000},
        {
            "type": "hello",
            "visitor_id": "v" * 64,
            "resume": 2**53 - 1,
            "page": {"url": char * 2048, "title": char * 300},
            "referrer": char * 2048,
            "screen": {"width": 100_000, "height": 100_000},
            "language": "abcdefgh" + "-abcdefgh" * 3,
        },
    ]
    for fields in biggest:
        text = json.dumps(fields, ensure_ascii=True)
        assert len(text.encode()) <= protocol.MAX_FRAME_BYTES
        read_frame(text)


# --- server frames -----------------------------------------------------------------------


def conversation() -> domain.Conversation:
    chat = domain.Conversation("c_1", visitor_name="Eve")
    chat.receive("m-1", "Hello", message_id="id1", now=T0)
    chat.post(domain.Author(domain.AuthorKind.AGENT, "Anna"), "Hi!", message_id="id2", now=T0)
    return chat


def round_trip(frame: protocol.ServerFrame) -> protocol.ServerFrame:
    return protocol.server_frame.validate_json(protocol.encode(frame))


def test_server_frames_built_from_the_domain_read_back_the_same() -> None:
    chat = conversation()
    chat.mark_read(domain.Side.AGENT, 1)
    receipt = chat.receive("m-1", "Hello", message_id="unused", now=T0)
    frames: list[protocol.ServerFrame] = [
        protocol.Welcome(visitor_id="v_1", conversation=protocol.ConversationState.of(chat, T0)),
        protocol.Welcome(visitor_id="v_1"),
        *(protocol.ChatMessage.of(message) for message in chat.messages),
        protocol.Ack.of(receipt),
        protocol.AgentTyping(is_typing=True),
        protocol.AgentRead(up_to=1),
        protocol.ErrorFrame.of(domain.UnknownSeq(9)),
        protocol.Closed(reason=domain.CloseReason.BANNED),
    ]
    for server_frame in frames:
        assert round_trip(server_frame) == server_frame


def test_a_message_frame_says_who_wrote_it_and_echoes_only_the_visitors_id() -> None:
    visitor, agent = (
        json.loads(protocol.encode(protocol.ChatMessage.of(message)))
        for message in conversation().messages
    )
    assert visitor["author"] == {"kind": "visitor", "name": "Eve"}
    assert visitor["client_msg_id"] == "m-1"
    assert visitor["sent_at"] == "2026-12-03T10:00:00Z"
    assert agent["author"] == {"kind": "agent", "name": "Anna"}
    assert agent["client_msg_id"] is None


def test_the_welcome_state_is_the_conversations() -> None:
    chat = conversation()
    chat.mark_read(domain.Side.VISITOR, 2)
    chat.set_typing(domain.Side.AGENT, True, T0)
    state = protocol.ConversationState.of(chat, T0)
    assert state == protocol.ConversationState(
        id="c_1",
        status=domain.ConversationStatus.OPEN,
        last_seq=2,
        visitor_read_up_to=2,
        agent_read_up_to=0,
        is_agent_typing=True,
    )


def test_the_server_cannot_send_a_time_without_a_zone() -> None:
    with pytest.raises(ValidationError):
        protocol.ChatMessage(
            seq=1,
            id="id1",
            author=protocol.Author(kind=domain.AuthorKind.SYSTEM),
            text="Welcome",
            sent_at=datetime(2026, 12, 3, 10, 0),  # no zone: the point of the test
        )


def test_an_error_the_visitor_protocol_does_not_know_is_a_bug() -> None:
    assert protocol.ErrorFrame.of(domain.UnknownSeq(3), "m-1").client_msg_id == "m-1"
    with pytest.raises(ValueError, match="disposition_required"):
        protocol.ErrorFrame.of(DomainError("disposition_required", "Pick a disposition."))
