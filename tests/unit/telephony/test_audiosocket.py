"""The AudioSocket frame parser: whole frames out of any split of the stream, a clear
FrameError for anything that is not a frame, never a crash; the line uuid names its
agent only with the right key; the jitter buffer bounds delay; the gateway's own G.711
encoding is what aiortc's encoder produces."""

from __future__ import annotations

import fractions
import uuid
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.codecs.g711 import PcmaEncoder, PcmuEncoder
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from parley.platform.config import Settings
from parley.platform.runtime import Runtime
from parley.telephony.media import agent_of, audiosocket_dial_string, g711, line_uuid
from parley.telephony.media.audiosocket import (
    FRAME_BYTES,
    HANGUP,
    MAX_AUDIO_BYTES,
    Frame,
    FrameError,
    FrameReader,
    Kind,
    audio,
    encode,
)
from parley.telephony.media.gateway import MediaGateway, negotiated_codec, preferred_codecs
from parley.telephony.media.jitter import JitterBuffer
from parley.telephony.media.timing import FrameTiming

_UUID = uuid.UUID("8d3f0c2b-9a8e-4f7d-8c6b-5a4e3d2c1b0a")


def _frames() -> st.SearchStrategy[Frame]:
    samples = st.integers(0, MAX_AUDIO_BYTES // 2).flatmap(
        lambda n: st.binary(min_size=2 * n, max_size=2 * n)
    )
    return st.one_of(
        st.builds(lambda p: Frame(Kind.AUDIO, p), samples),
        st.builds(lambda b: Frame(Kind.UUID, b), st.binary(min_size=16, max_size=16)),
        st.builds(lambda d: Frame(Kind.DTMF, d), st.sampled_from([b"1", b"#", b"*"])),
        st.builds(lambda e: Frame(Kind.ERROR, e), st.sampled_from([b"", b"\x01"])),
        st.just(Frame(Kind.HANGUP)),
    )


@given(st.lists(_frames(), max_size=20), st.lists(st.integers(1, 400), max_size=50))
def test_frames_come_out_whole_however_the_stream_is_split(
    frames: list[Frame], cuts: list[int]
) -> None:
    stream = b"".join(encode(frame.kind, frame.payload) for frame in frames)
    reader = FrameReader()
    parsed: list[Frame] = []
    position = 0
    for cut in cuts:
        parsed += reader.feed(stream[position : position + cut])
        position += cut
    parsed += reader.feed(stream[position:])
    assert parsed == frames
    assert reader.pending == 0


@given(st.binary(max_size=2000))
def test_any_bytes_give_frames_or_a_frame_error_never_another_exception(data: bytes) -> None:
    reader = FrameReader()
    try:
        for frame in reader.feed(data):
            assert isinstance(frame.kind, Kind)
    except FrameError as exc:
        assert str(exc)
        with pytest.raises(FrameError):
            reader.feed(b"")  # a broken stream stays broken


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x42\x00\x00", "unknown frame type 0x42"),
        (b"\x01\x00\x04abcd", "a uuid frame carries 16 bytes, not 4"),
        (b"\x10\x00\x03abc", "16-bit audio cannot be 3 bytes long"),
        (b"\x10\x10\x00", "an audio frame of 4096 bytes is too long"),
        (b"\x00\x00\x01x", "a hang-up frame carries no payload"),
        (b"\x03\x00\x02" + b"12", "a DTMF frame carries 1 byte, not 2"),
    ],
)
def test_a_bad_frame_is_refused_with_its_reason(data: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        FrameReader().feed(data)


def test_frames_asterisk_exchanges_encode_as_documented() -> None:
    assert encode(Kind.UUID, _UUID.bytes) == b"\x01\x00\x10" + _UUID.bytes
    assert audio(bytes(FRAME_BYTES))[:3] == b"\x10\x01\x40"
    assert HANGUP == b"\x00\x00\x00"
    (first,) = FrameReader().feed(encode(Kind.UUID, _UUID.bytes))
    assert first.uuid == _UUID
    with pytest.raises(FrameError):
        encode(Kind.AUDIO, bytes(0x10000))


@given(st.integers(1, 2**32 - 1))
def test_a_line_uuid_names_its_agent_only_with_the_key(agent_id: int) -> None:
    call_uuid = line_uuid("the key", agent_id)
    assert agent_of("the key", call_uuid) == agent_id
    assert agent_of("another key", call_uuid) is None
    assert line_uuid("the key", agent_id) != call_uuid  # each call its own
    forged = uuid.UUID(bytes=call_uuid.bytes[:8] + bytes(8))
    assert agent_of("the key", forged) is None


def test_the_dial_string_is_what_asterisks_audiosocket_channel_reads() -> None:
    assert (
        audiosocket_dial_string("10.0.0.5", 4575, _UUID)
        == "AudioSocket/10.0.0.5:4575/8d3f0c2b-9a8e-4f7d-8c6b-5a4e3d2c1b0a"
    )


def test_the_jitter_buffer_waits_for_its_target_then_plays_in_order() -> None:
    buffer = JitterBuffer(4, target=2, limit=4)
    buffer.put(b"aaaa")
    assert buffer.pop() is None  # one frame: not yet
    buffer.put(b"bbbbcc")  # pieces of any size
    assert buffer.pop() == b"aaaa"
    buffer.put(b"cc")
    assert buffer.pop() == b"bbbb"
    assert buffer.pop() == b"cccc"
    assert buffer.pop() is None
    assert buffer.underruns == 1
    buffer.put(b"dddd")
    assert buffer.pop() is None  # fills to the target again


@given(st.lists(st.binary(max_size=50), max_size=60), st.integers(1, 5), st.integers(0, 5))
def test_the_jitter_buffer_never_holds_more_than_its_limit(
    pieces: list[bytes], target: int, extra: int
) -> None:
    buffer = JitterBuffer(8, target=target, limit=target + extra)
    for piece in pieces:
        buffer.put(piece)
        assert len(buffer) <= target + extra
    total = sum(map(len, pieces)) // 8
    assert len(buffer) + buffer.dropped == total


def test_a_jitter_buffer_needs_sensible_sizes() -> None:
    with pytest.raises(ValueError):
        JitterBuffer(0)
    with pytest.raises(ValueError):
        JitterBuffer(320, target=5, limit=2)


def test_the_answer_prefers_narrowband_codecs_then_opus() -> None:
    assert [c.mimeType.lower() for c in preferred_codecs()] == [
        "audio/pcmu",
        "audio/pcma",
        "audio/opus",
    ]


def test_the_negotiated_codec_is_the_first_of_the_audio_section() -> None:
    sdp = (
        "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 8 0\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
    )
    assert negotiated_codec(sdp) == "PCMA"
    assert negotiated_codec("v=0\r\nm=video 9 RTP/AVP 96\r\n") is None


@pytest.mark.parametrize(
    ("codec", "aiortc_encoder"), [("PCMU", PcmuEncoder), ("PCMA", PcmaEncoder)]
)
@given(st.binary(min_size=FRAME_BYTES, max_size=FRAME_BYTES))
def test_the_gateways_g711_is_byte_for_byte_what_aiortc_would_send(
    codec: str, aiortc_encoder: type[PcmuEncoder], pcm: bytes
) -> None:
    samples = np.frombuffer(pcm, dtype="<i2").reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = 8000
    frame.pts = 0
    frame.time_base = fractions.Fraction(1, 8000)
    payloads, _timestamp = aiortc_encoder().encode(frame)
    assert g711.encode(codec, pcm) == b"".join(payloads)
    assert g711.is_g711(codec) and g711.is_g711(codec.lower())
    assert not g711.is_g711("opus") and not g711.is_g711(None)


def test_a_timed_jitter_buffer_tells_when_the_frame_it_plays_arrived() -> None:
    buffer = JitterBuffer(4, target=1, limit=2, timed=True)
    buffer.put(b"aa", 1.0)
    buffer.put(b"aabbbb", 2.0)  # the first frame completes at 2.0, the second too
    buffer.put(b"cccc", 3.0)  # beyond the limit: the oldest goes, with its arrival
    assert buffer.dropped == 1
    assert (buffer.pop(), buffer.popped_at) == (b"bbbb", 2.0)
    assert (buffer.pop(), buffer.popped_at) == (b"cccc", 3.0)
    assert buffer.pop() is None


def test_frame_timing_reports_percentiles_in_milliseconds() -> None:
    timing = FrameTiming()
    assert timing.report()["to_browser"] == {
        "frames": 0,
        "p50_ms": None,
        "p99_ms": None,
        "max_ms": None,
    }
    timing.to_asterisk.extend(n / 1000 for n in range(1, 101))
    report = timing.report()["to_asterisk"]
    assert (report["frames"], report["p50_ms"], report["p99_ms"], report["max_ms"]) == (
        100,
        51.0,
        100.0,
        100.0,
    )
    timing.reset()
    assert timing.report()["to_asterisk"]["frames"] == 0


def test_a_delay_that_stands_for_a_whole_window_is_dropped() -> None:
    buffer = JitterBuffer(1, target=1, limit=8, settle=4)
    buffer.put(b"abcd")  # a burst: three frames more than playing needs
    for frame in b"efgh":
        assert buffer.pop() is not None
        buffer.put(bytes([frame]))  # then one frame per tick
    assert buffer.dropped == 3  # at every tick of the window 3 frames were waiting
    assert len(buffer) == 1
    assert buffer.pop() == b"h"  # the newest: no delay beyond the target any more


def test_jitter_within_the_target_is_kept() -> None:
    buffer = JitterBuffer(1, target=2, limit=8, settle=4)
    buffer.put(b"ab")
    for frame in b"cdefgh":
        assert buffer.pop() is not None
        buffer.put(bytes([frame]))
    assert buffer.dropped == 0


def test_ice_servers_configure_the_gateways_lines(tmp_path: Path) -> None:
    servers = [
        {"urls": "stun:stun.example.com:3478"},
        {"urls": ["turn:turn.example.com:3478"], "username": "u", "credential": "c"},
    ]
    settings = Settings(
        data_dir=tmp_path,
        media_ice_servers=servers,  # type: ignore[arg-type]
        _env_file=None,  # type: ignore[call-arg]
    )
    gateway = MediaGateway(Runtime.from_settings(settings), host="127.0.0.1", port=0)
    configured = gateway.rtc_configuration().iceServers or []
    assert [(s.urls, s.username, s.credential) for s in configured] == [
        (["stun:stun.example.com:3478"], None, None),
        (["turn:turn.example.com:3478"], "u", "c"),
    ]


def test_an_ice_server_needs_a_stun_or_turn_url(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="is not a stun:, stuns:, turn: or turns: URL"):
        Settings(
            data_dir=tmp_path,
            media_ice_servers=[{"urls": "http://stun.example.com"}],  # type: ignore[list-item]
            _env_file=None,  # type: ignore[call-arg]
        )
