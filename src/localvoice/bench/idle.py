"""``idle``: CPU used while listening to a quiet room (nobody talks, nothing plays).

The real listening stack runs in real time: a clock-paced silent microphone with low room noise,
WebRTC echo cancellation, the Silero VAD segmenter and the live loop, with the embedded models loaded
and waiting. CPU is this process's own (all threads), divided by wall time: 100% is one full core.
"""

from __future__ import annotations

import time

import numpy as np

from localvoice.audio.echo import make_echo_canceller
from localvoice.audio.paced_source import PacedFileSource
from localvoice.audio.sinks import PacedSink
from localvoice.bench.result import ScenarioResult
from localvoice.clock import MonotonicClock
from localvoice.config import Config
from localvoice.events import INPUT_RATE_HZ, OUTPUT_RATE_HZ, AudioClip
from localvoice.session import Session

WINDOW_S = 10.0
NOISE_DBFS = -60.0


async def run_idle(config: Config, runs: int = 2) -> ScenarioResult:
    config.llm.backend = "llama_cpp"
    result = ScenarioResult("idle", f"CPU while listening to a quiet room ({runs} × {WINDOW_S:g} s)")
    rng = np.random.default_rng(3)
    noise = rng.standard_normal(round(WINDOW_S * INPUT_RATE_HZ)) * 32768 * 10 ** (NOISE_DBFS / 20)
    quiet_room = AudioClip(noise.astype(np.int16), INPUT_RATE_HZ)
    notices: list[str] = []
    percents: list[float] = []
    async with Session(config, notices.append, need_asr=True) as session:
        assert session.asr is not None and session.llm is not None and session.tts is not None
        for _ in range(runs):
            clock = MonotonicClock()
            conversation = session.conversation(PacedSink(clock, OUTPUT_RATE_HZ), clock)
            echo = make_echo_canceller(enabled=True)
            quiet = PacedFileSource(quiet_room, clock)
            loop = session.live_loop(conversation, quiet, clock, lambda event: None, echo=echo)
            cpu_start, wall_start = time.process_time(), time.perf_counter()
            await loop.run()
            cpu = time.process_time() - cpu_start
            percents.append(100.0 * cpu / (time.perf_counter() - wall_start))
            if not echo.active:
                notices.append("echo cancellation unavailable: measured without it")
    result.add("cpu_percent", percents, "CPU while listening (% of one core)")
    result.headline = {"cpu_percent_median": round(float(np.median(percents)), 2), "window_s": WINDOW_S}
    result.notes += notices
    return result
