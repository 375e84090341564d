"""``localvoice bench server``: N voice sessions at once against a real ``localvoice serve``.

The app runs under uvicorn on a loopback port with the configured models, loaded once. Each session
is a WebSocket client that speaks one of the bench questions in real time (each a different one) and
keeps its microphone open with silence, as a page does. Measured per session: first audio, from the
question's last frame sent to the first reply audio frame received — what a user waits for, network
and scheduling included. Meanwhile ``GET /v1/models`` is polled to show the server stays responsive.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from localvoice.bench.questions import Question, load_questions, pick
from localvoice.bench.result import ScenarioResult
from localvoice.bench.stats import percentile
from localvoice.config import Config
from localvoice.server.voice_client import TurnResult, VoiceClient, serve_in_thread

POLL_S = 0.5
# Long enough that a contended machine shows its real p95 rather than a count of timeouts.
ASK_TIMEOUT_S = 600.0


@dataclass
class LoadRun:
    """One round of concurrent sessions: each question's result (or its failure) and the HTTP polls."""

    results: list[TurnResult | BaseException]
    questions: list[Question]
    poll_ms: list[float] = field(default_factory=list)
    poll_failures: int = 0
    wall_s: float = 0.0


def similarity(heard: str, said: str) -> float:
    """How alike a transcript is to a question, ignoring case, spaces and punctuation."""

    def norm(text: str) -> str:
        return "".join(ch for ch in text.lower() if ch.isalnum())

    return SequenceMatcher(None, norm(heard), norm(said)).ratio()


async def run_sessions(url: str, questions: list[Question], token: str | None = None) -> LoadRun:
    """Every question in its own session, all at once, with ``/v1/models`` polled meanwhile."""
    import httpx

    ws_url = url.replace("http://", "ws://", 1) + "/ws"

    async def one(question: Question) -> TurnResult:
        async with VoiceClient(ws_url, token=token) as client:
            return await client.ask(question.audio(), timeout_s=ASK_TIMEOUT_S)

    run = LoadRun([], questions)
    stop = asyncio.Event()

    async def poll() -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(timeout=10.0, headers=headers) as http:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    response = await http.get(f"{url}/v1/models")
                    response.raise_for_status()
                    run.poll_ms.append((time.monotonic() - started) * 1000.0)
                except httpx.HTTPError:
                    run.poll_failures += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_S)

    poller = asyncio.create_task(poll())
    started = time.monotonic()
    try:
        run.results = list(await asyncio.gather(*(one(q) for q in questions), return_exceptions=True))
    finally:
        run.wall_s = time.monotonic() - started
        stop.set()
        await poller
    return run


async def run_server_bench(config: Config, runs: int = 1, sessions: int | None = None) -> ScenarioResult:
    questions = pick(load_questions(), sessions or 8)
    count = len(questions)
    result = ScenarioResult("server", f"first audio over {count} concurrent voice sessions ({runs} round(s))")
    first_audio: list[float] = []
    polls: list[float] = []
    failures = poll_failures = 0
    with tempfile.TemporaryDirectory(prefix="localvoice-bench-server-") as logs:
        config.log.dir = logs  # the bench's turns stay out of the user's transcript log
        config.server.max_sessions = max(config.server.max_sessions, count)
        with contextlib.ExitStack() as stack:
            started = time.monotonic()
            url = await asyncio.to_thread(stack.enter_context, serve_in_thread(config))
            result.headline["startup_s"] = round(time.monotonic() - started, 1)
            for round_ in range(runs):
                run = await run_sessions(url, questions)
                polls += run.poll_ms
                poll_failures += run.poll_failures
                for question, outcome in zip(questions, run.results, strict=True):
                    detail: dict[str, object] = {"round": round_, "question": question.text}
                    if isinstance(outcome, BaseException):
                        failures += 1
                        detail["failure"] = f"{type(outcome).__name__}: {outcome}"
                    else:
                        if outcome.first_audio_ms is not None:
                            first_audio.append(outcome.first_audio_ms)
                        else:
                            failures += 1
                        detail |= {
                            "heard_as": outcome.transcript,
                            "match": round(similarity(outcome.transcript, question.text), 2),
                            "reply": outcome.written,
                            "first_audio_ms": outcome.first_audio_ms,
                            "server_timings_ms": outcome.timings,
                        }
                    result.details.append(detail)
                result.details.append({"round": round_, "wall_s": round(run.wall_s, 1)})
    result.add("first_audio", first_audio, "last question frame sent → first reply audio frame (ms)")
    result.add("models_route", polls, f"GET /v1/models every {POLL_S:g} s meanwhile (ms)")
    result.headline |= {
        "sessions": count,
        "first_audio_p50_ms": round(percentile(first_audio, 50), 1) if first_audio else None,
        "first_audio_p95_ms": round(percentile(first_audio, 95), 1) if first_audio else None,
        "models_route_p95_ms": round(percentile(polls, 95), 1) if polls else None,
        "failed_sessions": failures,
        "failed_polls": poll_failures,
    }
    result.notes.append(
        "The models are shared: one llama.cpp context and one Whisper worker serve every session in turn, "
        "so first audio grows with the number of sessions talking at once."
    )
    return result
