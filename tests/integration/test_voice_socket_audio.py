"""The voice socket's audio edges on a virtual clock: what the page heard, backpressure, and parsing."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from localvoice.clock import VirtualClock
from localvoice.events import OUTPUT_RATE_HZ, AudioClip
from localvoice.server import protocol
from localvoice.server.socket_audio import CLEAR_ACK_TIMEOUT_S, Outbox, SocketSink, SocketSource


def _clip(seconds: float, rate_hz: int = OUTPUT_RATE_HZ) -> AudioClip:
    return AudioClip(np.full(round(seconds * rate_hz), 1000, dtype=np.int16), rate_hz)


def _drain_frames(outbox: Outbox) -> list[str | bytes]:
    frames: list[str | bytes] = []
    while outbox._items:  # what the writer would send next, without a socket
        frames.append(outbox._items.popleft())
    return frames


async def test_estimated_playback_resolves_in_real_time_and_clear_cuts_where_it_stood() -> None:
    clock = VirtualClock()
    async with clock.running():
        outbox = Outbox()
        sink = SocketSink(outbox, clock)
        first = sink.enqueue(_clip(1.0))
        second = sink.enqueue(_clip(1.0, 22_050))  # resampled to the output rate on the way out
        frames = _drain_frames(outbox)
        audio = [f for f in frames if isinstance(f, bytes)]
        assert sum(len(f) for f in audio) == 2 * 2 * OUTPUT_RATE_HZ  # two seconds of int16 at 24 kHz
        assert all(len(f) <= protocol.OUTPUT_FRAME_SAMPLES * 2 for f in audio)
        await clock.sleep(1.2)
        assert first.done() and first.result() == OUTPUT_RATE_HZ
        assert not second.done()
        await clock.sleep(0.3)  # second clip started at ≈1.05 s: about 0.45 s of it has played
        sink.clear()
        heard = second.result()
        assert 0.40 * 22_050 < heard < 0.50 * 22_050
        clear = json.loads(_drain_frames(outbox)[-1])
        assert clear == {"type": "clear", "id": 1, "at": 2 * OUTPUT_RATE_HZ}


async def test_reported_playback_is_what_counts_and_the_clear_ack_says_where_it_stopped() -> None:
    clock = VirtualClock()
    async with clock.running():
        sink = SocketSink(Outbox(), clock)
        sink.reports = True
        clip = sink.enqueue(_clip(2.0))
        await clock.sleep(2.5)  # past the estimate: a reporting page that has not played it yet
        assert not clip.done()
        sink.on_played(OUTPUT_RATE_HZ // 2)
        sink.clear()
        assert not clip.done()  # waits for the page's own word
        sink.on_cleared(1, 3 * OUTPUT_RATE_HZ // 4)
        assert clip.result() == 3 * OUTPUT_RATE_HZ // 4
        late = sink.enqueue(_clip(1.0))
        sink.on_played(2 * OUTPUT_RATE_HZ + OUTPUT_RATE_HZ)  # stream position past the new clip
        assert late.result() == OUTPUT_RATE_HZ


async def test_a_page_that_never_acks_a_clear_is_settled_from_its_last_report() -> None:
    clock = VirtualClock()
    async with clock.running():
        sink = SocketSink(Outbox(), clock)
        sink.reports = True
        clip = sink.enqueue(_clip(2.0))
        sink.on_played(OUTPUT_RATE_HZ // 4)
        sink.clear()
    await asyncio.sleep(CLEAR_ACK_TIMEOUT_S + 0.2)  # the ack timeout runs on the event loop's time
    assert clip.result() == OUTPUT_RATE_HZ // 4


async def test_unsent_audio_of_a_cut_reply_never_leaves_and_events_stay() -> None:
    clock = VirtualClock()
    async with clock.running():
        outbox = Outbox()
        outbox.put_json({"type": "reply_delta", "turn": 1, "text": "hi"})
        sink = SocketSink(outbox, clock)
        sink.enqueue(_clip(1.0))
        sink.clear()
        kinds = [json.loads(f)["type"] if isinstance(f, str) else "audio" for f in _drain_frames(outbox)]
        assert kinds == ["reply_delta", "clear"]


async def test_a_client_that_stops_reading_overflows_the_outbox_instead_of_growing_it() -> None:
    outbox = Outbox(limit_bytes=100_000)
    for _ in range(10):
        outbox.put_audio(bytes(20_000))
    assert outbox.overflowed
    assert await outbox.next() is None  # the writer stops; the socket closes with 1008


async def test_a_lagging_live_loop_drops_the_oldest_microphone_audio() -> None:
    source = SocketSource(limit_s=1.0)
    frame = np.arange(320, dtype="<i2").tobytes()
    for _ in range(100):  # 2 s of 20 ms frames, none consumed
        source.push(frame)
    assert source.dropped_s == pytest.approx(1.0, abs=0.03)
    await source.aclose()
    blocks = [block async for block in source.stream_frames()]
    assert sum(len(b) for b in blocks) <= 16_000
    assert blocks[0].dtype == np.int16 and blocks[0][5] == 5


@pytest.mark.parametrize(
    ("frame", "fragment"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type": "dance"}', "unknown message type"),
        ('{"type": "listen"}', '"on"'),
        ('{"type": "text", "text": "   "}', "need some text"),
        ('{"type": "played", "samples": -1}', "negative"),
        ('{"type": "played", "samples": true}', '"samples"'),
        ('{"type": "text", "text": "' + "字" * 2001 + '"}', "2000 characters"),
    ],
)
def test_malformed_client_frames_say_what_is_wrong(frame: str, fragment: str) -> None:
    with pytest.raises(protocol.ProtocolError, match=fragment):
        protocol.parse_client_text(frame)


def test_client_frames_parse_into_messages() -> None:
    assert protocol.parse_client_text('{"type": "listen", "on": false}') == protocol.Listen(False)
    assert protocol.parse_client_text('{"type": "text", "text": " 你好 "}') == protocol.TextInput("你好")
    assert protocol.parse_client_text('{"type": "cleared", "id": 2, "played": 9}') == protocol.Cleared(2, 9)
    assert protocol.parse_client_text('{"type": "ping", "id": "a"}') == protocol.Ping("a")
    with pytest.raises(protocol.ProtocolError):
        protocol.check_audio_frame(b"\x00\x01\x02")


async def test_overflow_is_signalled_even_while_the_writer_is_stuck_in_a_send() -> None:
    outbox = Outbox(limit_bytes=10_000)
    assert not outbox.overflow.is_set()
    outbox.put_audio(bytes(20_000))
    await asyncio.wait_for(outbox.overflow.wait(), 1)  # what the connection waits on to close with 1008
