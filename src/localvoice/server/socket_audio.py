"""The voice socket's audio edges: a microphone fed by binary frames and a speaker that is the page.

``SocketSink`` sends reply audio ahead of playback (the page schedules it gaplessly) and must still
say how much of each clip was *heard* (``AudioSink.enqueue``'s future). The page reports its
playback position (``played``; and on ``clear``, exactly where it stopped), because only the page
knows when its AudioContext really played a sample: audio is sent seconds ahead, and the page may
start late (a suspended AudioContext, network delay). A client that does not report (a script, a
test) is estimated from real time: it plays each frame as soon as it arrives, without gaps. A
reporting client that goes quiet is still bounded: a clip counts as played ``REPORT_GRACE_S`` after
its estimated end, so a stalled page cannot hold the conversation in SPEAKING for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from localvoice.audio.resample import resample
from localvoice.clock import Clock
from localvoice.events import INPUT_RATE_HZ, OUTPUT_RATE_HZ, AudioClip, Pcm
from localvoice.server.protocol import INBOUND_LIMIT_S, OUTBOUND_LIMIT_BYTES, OUTPUT_FRAME_SAMPLES

SEND_LEAD_S = 0.05  # from enqueue to the page's first sample: network plus the page's scheduling lead
REPORT_GRACE_S = 5.0  # a reporting client silent this long past a clip's estimated end: count it played
CLEAR_ACK_TIMEOUT_S = 0.5  # the reply waits 1 s in all for what was heard; the page answers in ms
TICK_S = 0.02
HEARD_S = 30.0  # microphone audio kept for partial transcripts (the segmenter's longest utterance)


class Outbox:
    """Frames waiting for the socket's one writer, bounded in bytes (``OUTBOUND_LIMIT_BYTES``)."""

    def __init__(self, limit_bytes: int = OUTBOUND_LIMIT_BYTES) -> None:
        self._items: deque[str | bytes] = deque()
        self._bytes = 0
        self._limit = limit_bytes
        self._ready = asyncio.Event()
        self.overflowed = False  # the client stopped reading: the socket closes with 1008
        self.overflow = asyncio.Event()  # set with ``overflowed``: the writer may be stuck in a send
        self.closed = False

    def put_json(self, message: dict[str, Any]) -> None:
        self._put(json.dumps(message, ensure_ascii=False))

    def put_audio(self, frame: bytes) -> None:
        self._put(frame)

    def drop_audio(self) -> int:
        """Forget audio not yet sent (a cut reply's); events stay. Returns the bytes dropped."""
        kept: deque[str | bytes] = deque(item for item in self._items if isinstance(item, str))
        dropped = sum(len(item) for item in self._items if isinstance(item, bytes))
        self._items = kept
        self._bytes -= dropped
        return dropped

    async def next(self) -> str | bytes | None:
        """The next frame to send; None once closed or overflowed."""
        while not self._items:
            if self.closed or self.overflowed:
                return None
            self._ready.clear()
            await self._ready.wait()
        if self.overflowed:
            return None
        item = self._items.popleft()
        self._bytes -= len(item)
        return item

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    def _put(self, item: str | bytes) -> None:
        if self.closed or self.overflowed:
            return
        self._items.append(item)
        self._bytes += len(item)
        if self._bytes > self._limit:
            self.overflowed = True
            self.overflow.set()
            self._items.clear()
            self._bytes = 0
        self._ready.set()


class SocketSource:
    """Implements ``protocols.AudioSource``: the client's 16 kHz int16 frames, in order.

    The live loop keeps up easily (it only runs the VAD inline); if it ever falls ``INBOUND_LIMIT_S``
    behind, the oldest audio is dropped rather than held, and ``dropped_s`` says how much.
    """

    def __init__(self, limit_s: float = INBOUND_LIMIT_S) -> None:
        self._blocks: deque[Pcm] = deque()
        self._samples = 0
        self._limit = round(limit_s * INPUT_RATE_HZ)
        self._ready = asyncio.Event()
        self._closed = False
        self.received_s = 0.0
        self.dropped_s = 0.0
        self.consumed_s = 0.0  # audio handed to the live loop: its audio time, block for block
        self._heard: deque[tuple[float, Pcm]] = deque()  # (consumed_s at block end, block), last HEARD_S

    def push(self, frame: bytes) -> None:
        block: Pcm = np.frombuffer(frame, dtype="<i2").astype(np.int16)
        if self._closed or len(block) == 0:
            return
        self._blocks.append(block)
        self._samples += len(block)
        self.received_s += len(block) / INPUT_RATE_HZ
        while self._samples > self._limit and len(self._blocks) > 1:
            old = self._blocks.popleft()
            self._samples -= len(old)
            self.dropped_s += len(old) / INPUT_RATE_HZ
        self._ready.set()

    async def stream_frames(self) -> AsyncIterator[Pcm]:
        while True:
            while not self._blocks:
                if self._closed:
                    return
                self._ready.clear()
                await self._ready.wait()
            block = self._blocks.popleft()
            self._samples -= len(block)
            self.consumed_s += len(block) / INPUT_RATE_HZ
            self._heard.append((self.consumed_s, block))
            while self._heard and self._heard[0][0] < self.consumed_s - HEARD_S:
                self._heard.popleft()
            yield block

    def heard_since(self, start_s: float) -> Pcm:
        """The audio handed to the live loop from ``start_s`` (its audio time) on, up to ``HEARD_S`` back."""
        blocks = [block for end_s, block in self._heard if end_s > start_s]
        return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int16)

    async def aclose(self) -> None:
        self._closed = True
        self._ready.set()


@dataclass(slots=True, eq=False)
class _Clip:
    start: int  # position in the output stream (samples at the output rate since the hello)
    end: int
    clip_samples: int  # the clip's own length, at its own rate: what the future reports
    est_start_s: float  # clock time at which the client is estimated to start playing it
    future: asyncio.Future[int]

    def heard(self, stream_position: int) -> int:
        """The clip's own samples heard when the client's playback stood at ``stream_position``."""
        played = min(max(0, stream_position - self.start), self.end - self.start)
        if played >= self.end - self.start:
            return self.clip_samples
        return round(played * self.clip_samples / (self.end - self.start))

    def resolve(self, samples: int) -> None:
        if not self.future.done():
            self.future.set_result(samples)


class SocketSink:
    """Implements ``protocols.AudioSink`` over an ``Outbox``; the client is the speaker."""

    def __init__(self, outbox: Outbox, clock: Clock, rate_hz: int = OUTPUT_RATE_HZ) -> None:
        self._outbox = outbox
        self._clock = clock
        self.rate_hz = rate_hz
        self.reports = False  # the client sends ``played`` / ``cleared`` (the page does)
        self.sent_samples = 0  # the stream position after everything sent
        self._reported = 0  # the client's latest playback position
        self._free_at = 0.0  # estimated clock time at which the client's playback runs dry
        self._pending: deque[_Clip] = deque()
        self._cutting: dict[int, list[_Clip]] = {}  # clear id → clips cut short, awaiting the ack
        self._clears = 0
        self._ticker: asyncio.Task[None] | None = None

    def enqueue(self, clip: AudioClip) -> asyncio.Future[int]:
        loop = asyncio.get_running_loop()
        samples = resample(clip.samples, clip.sample_rate_hz, self.rate_hz)
        now = self._clock.now()
        start = max(now + SEND_LEAD_S, self._free_at)
        item = _Clip(
            self.sent_samples,
            self.sent_samples + len(samples),
            len(clip.samples),
            start,
            loop.create_future(),
        )
        self._free_at = start + len(samples) / self.rate_hz
        self.sent_samples = item.end
        for offset in range(0, len(samples), OUTPUT_FRAME_SAMPLES):
            self._outbox.put_audio(samples[offset : offset + OUTPUT_FRAME_SAMPLES].astype("<i2").tobytes())
        if len(samples) == 0:
            item.resolve(len(clip.samples))
            return item.future
        self._pending.append(item)
        if self._ticker is None or self._ticker.done():
            self._ticker = loop.create_task(self._tick())
        return item.future

    def clear(self) -> None:
        """Tell the client to stop at once; what it heard comes back in its ``cleared`` (or is estimated)."""
        self._clears += 1
        clear_id = self._clears
        self._outbox.drop_audio()  # unsent audio of the cut reply never leaves
        self._outbox.put_json({"type": "clear", "id": clear_id, "at": self.sent_samples})
        now = self._clock.now()
        cut = list(self._pending)
        self._pending.clear()
        self._free_at = now
        if not cut:
            return
        if not self.reports:
            for item in cut:
                item.resolve(item.heard(item.start + self._estimated_in(item, now)))
            return
        self._cutting[clear_id] = cut
        asyncio.get_running_loop().call_later(CLEAR_ACK_TIMEOUT_S, self._clear_timed_out, clear_id)

    async def drain(self) -> None:
        while self._pending or self._cutting:
            waiting = [item.future for item in self._pending]
            waiting += [item.future for cut in self._cutting.values() for item in cut]
            await asyncio.gather(*waiting)

    async def aclose(self) -> None:
        """The client is gone: settle every future from what it reported (nothing more will come)."""
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        for item in [*self._pending, *(i for cut in self._cutting.values() for i in cut)]:
            item.resolve(item.heard(self._reported))
        self._pending.clear()
        self._cutting.clear()

    # ---- the client's reports ----

    def on_played(self, position: int) -> None:
        self._reported = max(self._reported, min(position, self.sent_samples))
        self._settle(self._clock.now())

    def on_cleared(self, clear_id: int, position: int) -> None:
        self._reported = max(self._reported, min(position, self.sent_samples))
        for item in self._cutting.pop(clear_id, []):
            item.resolve(item.heard(position))

    # ---- inside ----

    def _clear_timed_out(self, clear_id: int) -> None:
        for item in self._cutting.pop(clear_id, []):
            item.resolve(item.heard(self._reported))  # the last position the client vouched for

    def _estimated_in(self, item: _Clip, now: float) -> int:
        return max(0, round((now - item.est_start_s) * self.rate_hz))

    def _settle(self, now: float) -> None:
        while self._pending:
            item = self._pending[0]
            est_end_s = item.est_start_s + (item.end - item.start) / self.rate_hz
            if self.reports:
                done = self._reported >= item.end or now >= est_end_s + REPORT_GRACE_S
            else:
                done = now >= est_end_s
            if not done:
                return
            self._pending.popleft()
            item.resolve(item.clip_samples)

    async def _tick(self) -> None:
        while self._pending:
            await self._clock.sleep(TICK_S)
            self._settle(self._clock.now())
