"""Speakers without a sound card: ``CollectingSink`` (instant, into memory, for ``--out`` files) and
``PacedSink`` (real time of a ``Clock``, block by block, for tests on a VirtualClock and benchmarks)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass

import numpy as np

from localvoice.audio.resample import resample
from localvoice.clock import Clock
from localvoice.events import AudioClip, Pcm


def _resolved(count: int) -> asyncio.Future[int]:
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    future.set_result(count)
    return future


def _at_rate(clip: AudioClip, rate_hz: int) -> Pcm:
    return resample(clip.samples, clip.sample_rate_hz, rate_hz)


def _in_clip_samples(played: int, played_total: int, clip_samples: int) -> int:
    """Map samples played at the sink's rate back to the clip's own samples."""
    if played >= played_total:
        return clip_samples
    return min(clip_samples, round(played * clip_samples / played_total)) if played_total else 0


class CollectingSink:
    """Plays everything at once into memory; ``collected()`` returns it as one clip."""

    def __init__(self, sample_rate_hz: int, keep: bool = True) -> None:
        self.sample_rate_hz = sample_rate_hz
        self._keep = keep  # False: count only (``chat --mute`` needs a sink, not the audio)
        self._parts: list[Pcm] = []
        self.played_samples = 0

    def enqueue(self, clip: AudioClip) -> asyncio.Future[int]:
        samples = _at_rate(clip, self.sample_rate_hz)
        self.played_samples += len(samples)
        if self._keep:
            self._parts.append(samples)
        return _resolved(len(clip.samples))

    def clear(self) -> None:
        """Nothing is ever pending: every clip has already "played"."""

    async def drain(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def collected(self) -> AudioClip:
        samples = np.concatenate(self._parts) if self._parts else np.zeros(0, dtype=np.int16)
        return AudioClip(samples, self.sample_rate_hz)


@dataclass(slots=True)
class PlayedBlock:
    """One block as it went out: when it started (clock seconds), which clip, and its samples
    (shortened to what was heard when ``clear()`` cut it)."""

    start_s: float
    clip_index: int
    samples: Pcm


@dataclass(slots=True, eq=False)
class _Pending:
    index: int
    samples: Pcm  # at the sink's rate
    clip_samples: int
    future: asyncio.Future[int]
    position: int = 0  # samples fully played
    block_start_s: float | None = None  # when the block now playing began
    block_samples: int = 0


class PacedSink:
    """Plays clips in order in the real time of ``clock``, ``block_ms`` at a time, and records them.

    ``clear()`` stops within the block now playing: the part of that block whose time has passed
    counts as played; queued clips resolve with 0.
    """

    def __init__(self, clock: Clock, sample_rate_hz: int, block_ms: int = 20) -> None:
        self.clock = clock
        self.sample_rate_hz = sample_rate_hz
        self.block_samples = max(1, sample_rate_hz * block_ms // 1000)
        self.played: list[PlayedBlock] = []
        self.played_samples = 0
        self.clear_times_s: list[float] = []  # clock time of each ``clear()``: when it was told to stop
        self._queue: deque[_Pending] = deque()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._next_index = 0

    def enqueue(self, clip: AudioClip) -> asyncio.Future[int]:
        loop = asyncio.get_running_loop()
        item = _Pending(
            self._next_index, _at_rate(clip, self.sample_rate_hz), len(clip.samples), loop.create_future()
        )
        self._next_index += 1
        self._queue.append(item)
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._play())
        return item.future

    def clear(self) -> None:
        self.clear_times_s.append(self.clock.now())
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None
        now = self.clock.now()
        while self._queue:
            item = self._queue.popleft()
            played = item.position
            if item.block_start_s is not None:
                elapsed = round((now - item.block_start_s) * self.sample_rate_hz)
                cut = min(item.block_samples, max(0, elapsed))
                played += cut
                self.played_samples += cut
                last = self.played[-1]
                last.samples = last.samples[:cut]
            if not item.future.done():
                item.future.set_result(_in_clip_samples(played, len(item.samples), item.clip_samples))

    async def drain(self) -> None:
        while self._queue:
            await asyncio.gather(*(item.future for item in list(self._queue)))

    async def aclose(self) -> None:
        worker = self._worker
        self.clear()
        if worker is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    @property
    def clears(self) -> int:
        return len(self.clear_times_s)

    def silent_since_s(self) -> float | None:
        """Clock time at which the last block that went out ended (cut short by ``clear``, if it was)."""
        ends = [block.start_s + len(block.samples) / self.sample_rate_hz for block in self.played]
        return max(ends) if ends else None

    def played_audio(self) -> AudioClip:
        """Everything actually played, in order, as one clip."""
        parts = [block.samples for block in self.played]
        samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
        return AudioClip(samples, self.sample_rate_hz)

    async def _play(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self._queue[0]
            while item.position < len(item.samples):
                block = item.samples[item.position : item.position + self.block_samples]
                item.block_start_s = self.clock.now()
                item.block_samples = len(block)
                self.played.append(PlayedBlock(item.block_start_s, item.index, block))
                await self.clock.sleep(len(block) / self.sample_rate_hz)
                item.position += len(block)
                item.block_start_s = None
                self.played_samples += len(block)
            self._queue.popleft()
            if not item.future.done():
                item.future.set_result(item.clip_samples)
