"""Time as a dependency, so a 30-second conversation can be tested in milliseconds.

``MonotonicClock`` is real time. ``VirtualClock`` only moves when every task is waiting on it: it then
jumps straight to the earliest pending ``sleep`` deadline. Code that takes a ``Clock`` never reads the
wall clock directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale (only differences matter)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class VirtualClock:
    """Deterministic time for tests and overhead benchmarks.

    Start it with ``async with clock.running():``; while running, a background task advances time to
    the next deadline whenever the event loop has nothing else ready to run. Only code that waits on
    this clock (or on other tasks) is supported: real I/O would be skipped over.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self._now + seconds, next(self._seq), future))
        await future

    def running(self) -> _Advancer:
        return _Advancer(self)

    def _advance_once(self) -> bool:
        while self._timers:
            deadline, _, future = heapq.heappop(self._timers)
            if future.done():  # the sleeper was cancelled
                continue
            self._now = max(self._now, deadline)
            future.set_result(None)
            return True
        return False


class _Advancer:
    def __init__(self, clock: VirtualClock) -> None:
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> VirtualClock:
        self._task = asyncio.create_task(self._run())
        return self._clock

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0)
            # Advance only when nothing but this task is runnable: every other task waits on the clock
            # or on each other. `_ready` is CPython's run queue; there is no public equivalent.
            if len(getattr(loop, "_ready", ())) == 0 and not self._clock._advance_once():
                await asyncio.sleep(0.001)  # nothing scheduled: idle briefly in real time
