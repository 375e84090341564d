"""``turn_taking``: scripted conversations with pauses, interruptions, backchannels and coughs, spoken
in real time into the real live loop with the embedded models, judged from the person's side.

Each scenario (``turn_scenarios.SCENARIOS``) gets a fresh conversation and transcript log from one
warm ``Session``; a ``ScriptedMicrophone`` says its fragments (the project's own voices, 16 kHz) when
their triggers fire, and a ``PacedSink`` plays the replies on the ``MonotonicClock``; in full-duplex the
microphone passes the echo canceller with the replies as its reference, as in the chat. The scenario ends
once the last fragment was said and either its answer has played for ``OBSERVE_S`` or ``LISTEN_S`` /
``ANSWER_TIMEOUT_S`` passed; the harness then stops whatever still plays (not counted as a user
interruption). Rates and voice-to-voice come from the transcript log joined with the events.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from localvoice.audio.echo import available as echo_available
from localvoice.audio.echo import make_echo_canceller
from localvoice.audio.sinks import PacedSink
from localvoice.bench.echo_path import EchoPath
from localvoice.bench.machine import OtherLoad
from localvoice.bench.result import ScenarioResult
from localvoice.bench.turn_microphone import ScriptedMicrophone, SpeakerReference
from localvoice.bench.turn_scenarios import BY_NAME, SCENARIOS, Scenario, fragment_audio, fragments_of
from localvoice.bench.turn_scoring import LATE_MS, HeardTurn, Verdict, judge
from localvoice.clock import MonotonicClock
from localvoice.config import Config
from localvoice.errors import BadInputError
from localvoice.events import (
    OUTPUT_RATE_HZ,
    AudioClip,
    ConversationEvent,
    ReplyAudioStarted,
    ReplyFinished,
    SpeechEnded,
    SpeechStarted,
    StateChanged,
    TranscriptReady,
)
from localvoice.session import Session
from localvoice.transcript_log import TranscriptLog, read_log

OBSERVE_S = 1.5  # after the last answer starts: long enough to see a wrong extra turn begin
LISTEN_S = 5.0  # after the last fragment when no answer is expected to it
ANSWER_TIMEOUT_S = 30.0  # after the last fragment when an answer is expected (2 busy cores: 10+ s happens)
TRIGGER_TIMEOUT_S = 45.0  # a step whose trigger never fires (no reply ever played) ends the scenario
SETTLE_S = 1.0  # between scenarios: lets cancelled work finish
# An over-reply probe needs the reply still playing this long after its onset: a stop judged by its
# words ("Stop.") takes ~1.5 s, and a reply that ends on its own before that tests nothing.
STILL_PLAYING_S = 2.5
# An over-reply scenario whose first reply was too short to speak over ("我查不到。") is run again.
ATTEMPTS = 3
SHORT_REPLY_TOKENS = 40
LONG_REPLY_TOKENS = 160  # still speaking a few seconds after the reply starts


def _answer_expected_last(scenario: Scenario) -> bool:
    return bool(scenario.answered) and scenario.steps[-1].fragment in scenario.answered[-1]


def _over(scenario: Scenario, mic: ScriptedMicrophone, clock: MonotonicClock) -> str | None:
    """Why the scenario is over, or None while it is not."""
    now = clock.now()
    waiting = mic.waiting_for()
    if waiting is not None:
        said = [s.end_s for s in mic.said if s is not None]
        since = said[-1] if said else (mic.started_s or now)
        if now - since > TRIGGER_TIMEOUT_S:
            step = scenario.steps[waiting]
            return f"step {waiting} ({step.fragment}) was never said: its trigger {step.trigger} never fired"
        return None
    if not mic.finished:
        return None
    last = mic.said[-1]
    assert last is not None
    if not _answer_expected_last(scenario):
        return "listened" if now - last.end_s >= LISTEN_S else None
    # An answer to the last fragment starts after it ends: audio that began while the user was still
    # saying it belongs to a reply the straddle rule withdraws (a fast one starts 0.2 s into "thinking").
    answers = [t for t in mic.reply_audio_at if t > last.end_s]
    if answers and now - answers[-1] >= OBSERVE_S:
        return "answered"
    return "no answer in time" if now - last.end_s >= ANSWER_TIMEOUT_S else None


def _set_reply_tokens(session: Session, tokens: int) -> None:
    if session.llm is not None and hasattr(session.llm, "num_predict"):
        setattr(session.llm, "num_predict", tokens)  # noqa: B010 - the embedded model reads it per reply


def _heard_turns(
    records: list[dict[str, Any]], seen: list[tuple[float, ConversationEvent]], stop_s: float
) -> list[HeardTurn]:
    audio: dict[int, float] = {}
    decided: dict[int, float] = {}
    cut: dict[int, bool] = {}
    for at, event in seen:
        if isinstance(event, TranscriptReady):
            decided[event.turn] = at
        elif isinstance(event, ReplyAudioStarted):
            audio.setdefault(event.turn, at)
        elif isinstance(event, ReplyFinished) and event.interrupted and at < stop_s:
            cut[event.turn] = True
    return [
        HeardTurn(
            turn=int(r["turn"]),
            user=str(r["user"]),
            answered=int(r["turn"]) in audio,
            cut_by_user=cut.get(int(r["turn"]), False),
            answer_at_s=audio.get(int(r["turn"])),
            decided_at_s=decided.get(int(r["turn"])),
        )
        for r in records
    ]


def _timeline(
    seen: list[tuple[float, ConversationEvent]], mic: ScriptedMicrophone, scenario: Scenario
) -> list[str]:
    """A compact, readable account of what happened when (seconds from the scenario's start)."""
    start = mic.started_s or 0.0
    lines: list[tuple[float, str]] = []
    for index, said in enumerate(mic.said):
        if said is not None:
            fragment = scenario.steps[index].fragment
            lines.append((said.onset_s, f"user says {fragment} (until {said.end_s - start:.2f})"))
    for at, event in seen:
        text = ""
        if isinstance(event, SpeechStarted | SpeechEnded):
            text = type(event).__name__
        elif isinstance(event, StateChanged):
            text = f"state {event.state.value}"
        elif isinstance(event, TranscriptReady):
            text = f"turn {event.turn} user [{event.language}] {event.text!r}"
        elif isinstance(event, ReplyAudioStarted):
            text = f"turn {event.turn} answer audio starts"
        elif isinstance(event, ReplyFinished):
            text = f"turn {event.turn} reply ends{' (interrupted)' if event.interrupted else ''}: {event.heard[:60]!r}"
        if text:
            lines.append((at, text))
    return [f"{at - start:6.2f} {text}" for at, text in sorted(lines, key=lambda item: item[0])]


def _invalid(
    scenario: Scenario, mic: ScriptedMicrophone, seen: list[tuple[float, ConversationEvent]]
) -> str | None:
    """Over-reply probes only test something if the first reply was still playing well after they began
    (a reply that ends on its own as the user starts is ``over_reply_end``'s subject, not theirs)."""
    probe = next((i for i, step in enumerate(scenario.steps) if step.trigger == "reply_audio"), None)
    said = mic.said[probe] if probe is not None else None
    if said is None or scenario.case == "over_reply_end":
        return None
    ended = [
        at
        for at, e in seen
        if isinstance(e, ReplyFinished) and not e.interrupted and at < said.onset_s + STILL_PLAYING_S
    ]
    return "the first reply ended on its own as the user spoke over it" if ended else None


async def _one_scenario(
    session: Session, scenario: Scenario, clips: dict[str, AudioClip], log_dir: Path, echo: bool
) -> tuple[Verdict, dict[str, Any]]:
    _set_reply_tokens(session, LONG_REPLY_TOKENS if scenario.long_reply else SHORT_REPLY_TOKENS)
    clock = MonotonicClock()
    sink = PacedSink(clock, OUTPUT_RATE_HZ)
    # Full-duplex is the mode for loudspeakers: the microphone hears the reply back, as on a laptop.
    speaker_echo = EchoPath(sink, clock.now()) if echo else None
    mic = ScriptedMicrophone(scenario.steps, clips, clock, echo=speaker_echo)
    seen: list[tuple[float, ConversationEvent]] = []

    def record(event: ConversationEvent) -> None:
        seen.append((clock.now(), event))
        mic.observe(event)

    log = TranscriptLog(log_dir)
    conversation = session.conversation(sink, clock, observers=[record], log=log)
    canceller = make_echo_canceller(enabled=echo)
    reference = SpeakerReference(canceller, sink) if canceller.active else None
    live = session.live_loop(conversation, mic, clock, record, echo=reference)
    others = OtherLoad()
    others.start()
    started = time.perf_counter()
    listening = asyncio.create_task(live.run())
    try:
        while (why := _over(scenario, mic, clock)) is None and not listening.done():
            await asyncio.sleep(0.02)
        why = why or "the live loop ended"
    finally:
        stop_s = clock.now()
        await mic.aclose()
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        await conversation.interrupt()
        await sink.aclose()
        log.close()
    if listening.done() and not listening.cancelled() and listening.exception() is not None:
        raise listening.exception()  # type: ignore[misc]
    records = [
        r for path in sorted(log_dir.glob("*.jsonl")) for r in read_log(path) if r["session"] == log.session
    ]
    turns = _heard_turns(records, seen, stop_s)
    invalid = _invalid(scenario, mic, seen)
    verdict = judge(scenario, turns, [s.end_s if s else None for s in mic.said], invalid)
    if why.startswith("step"):
        verdict.problems.append(why)
    start = mic.started_s or stop_s
    row: dict[str, Any] = {
        "scenario": scenario.name,
        "case": scenario.case,
        "language": scenario.language,
        "ok": verdict.ok,
        "invalid": verdict.invalid,
        "problems": verdict.problems,
        "notes": verdict.notes,
        "ended": why,
        "turns": [
            {"turn": t.turn, "user": t.user, "answered": t.answered, "cut_by_user": t.cut_by_user}
            for t in turns
        ],
        "voice_to_voice_ms": [{"kind": kind, "ms": round(ms, 1)} for kind, ms in verdict.voice_to_voice],
        "turn_decided_ms": [round(ms, 1) for ms in verdict.turn_decided_ms],
        "stop_ms": _stop_ms(scenario, mic, sink, stop_s),
        "asr_ms": [r["timings_ms"].get("asr") for r in records],
        "timeline": _timeline(seen, mic, scenario),
        "wall_s": round(time.perf_counter() - started, 1),
        "scenario_s": round(stop_s - start, 1),
        "others_cpu_s": others.stop(),
    }
    return verdict, row


def _stop_ms(scenario: Scenario, mic: ScriptedMicrophone, sink: PacedSink, stop_s: float) -> float | None:
    """Onset of the first speech over a reply → the sink told to stop (barge-in scenarios only)."""
    if scenario.case not in ("interrupt", "interrupt_pause", "bare_stop"):
        return None
    probe = next(i for i, step in enumerate(scenario.steps) if step.trigger == "reply_audio")
    said = mic.said[probe]
    if said is None:
        return None
    clears = [t for t in sink.clear_times_s if said.onset_s <= t < stop_s]
    return round((clears[0] - said.onset_s) * 1000.0, 1) if clears else None


def pick_scenarios(names: Sequence[str] | None) -> list[Scenario]:
    if not names:
        return list(SCENARIOS)
    unknown = [name for name in names if name not in BY_NAME]
    if unknown:
        raise BadInputError(
            f"unknown turn-taking scenario {', '.join(unknown)}; choose from: {', '.join(BY_NAME)}"
        )
    return [BY_NAME[name] for name in names]


async def run_turn_taking(
    config: Config,
    runs: int = 1,
    names: Sequence[str] | None = None,
    log_root: Path = Path("bench/results/turn_taking_logs"),
    progress: Callable[[str], None] = lambda line: None,
) -> ScenarioResult:
    scenarios = pick_scenarios(names)
    config.llm.backend = "llama_cpp"  # the embedded model: what a user without Ollama gets
    config.llm.num_predict = LONG_REPLY_TOKENS
    # As `localvoice chat` listens: full-duplex runs the echo canceller, with the reply as its reference.
    echo = config.audio.mode == "full-duplex" and echo_available()
    notices: list[str] = []
    result = ScenarioResult(
        "turn_taking",
        f"Turn-taking: {len(scenarios)} scripted conversations × {runs} runs, real models, real time",
    )
    loading = time.perf_counter()
    async with Session(config, notices.append, need_asr=True) as session:
        assert session.tts is not None
        load_s = time.perf_counter() - loading
        clips = await fragment_audio(fragments_of(scenarios), session.tts)
        verdicts: list[Verdict] = []
        for run in range(runs):
            for scenario in scenarios:
                for attempt in range(1, ATTEMPTS + 1):
                    folder = log_root / f"{run + 1}-{scenario.name}" / str(attempt)
                    verdict, row = await _one_scenario(session, scenario, clips, folder, echo)
                    if verdict.invalid is None or attempt == ATTEMPTS:
                        break
                    progress(f"{scenario.name}: again ({verdict.invalid})")
                    await asyncio.sleep(SETTLE_S)
                row["run"], row["attempts"] = run + 1, attempt
                verdicts.append(verdict)
                result.details.append(row)
                progress(_line(row))
                await asyncio.sleep(SETTLE_S)
        description = session.llm.description if session.llm else ""
    _summarize(result, verdicts)
    result.headline["models_load_and_warm_s"] = round(load_s, 2)
    result.headline["llm"] = description
    result.headline["echo_canceller"] = echo
    result.notes += [_line(row) for row in result.details]
    result.notes += notices
    return result


def _line(row: dict[str, Any]) -> str:
    status = "OK" if row["ok"] else ("INVALID" if row["invalid"] else "FAIL")
    why = "; ".join(row["problems"]) or (row["invalid"] or "")
    v2v = ", ".join(f"{v['ms']:.0f}" for v in row["voice_to_voice_ms"])
    return (
        f"{row['scenario']}: {status}" + (f" — {why}" if why else "") + (f" (v2v ms: {v2v})" if v2v else "")
    )


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 3) if denominator else None


def _contended(row: dict[str, Any]) -> bool:
    """Other processes used over half a core during the scenario: its timings are slower."""
    return float(row.get("others_cpu_s") or 0.0) > 0.5 * float(row["scenario_s"])


def _summarize(result: ScenarioResult, verdicts: list[Verdict]) -> None:
    valid = [v for v in verdicts if v.invalid is None]
    v2v = [(kind, ms) for v in valid for kind, ms in v.voice_to_voice]
    probes = [v.false_barge_in for v in valid if v.false_barge_in is not None]
    stops = [v.bare_stop_ok for v in valid if v.bare_stop_ok is not None]
    result.add("voice_to_voice_ms", [ms for _, ms in v2v], "voice-to-voice, every answered question", LATE_MS)
    result.add(
        "v2v_idle_ms", [ms for kind, ms in v2v if kind == "idle"], "voice-to-voice, asked while idle", LATE_MS
    )
    result.add(
        "v2v_after_barge_in_ms",
        [ms for kind, ms in v2v if kind == "after_barge_in"],
        "voice-to-voice after a barge-in (question end → answer)",
        LATE_MS,
    )
    quiet = [
        ms
        for v, row in zip(verdicts, result.details, strict=True)
        if v.invalid is None and not _contended(row)
        for _, ms in v.voice_to_voice
    ]
    result.add("v2v_quiet_ms", quiet, "voice-to-voice, scenarios other processes left alone", LATE_MS)
    result.add(
        "turn_decided_ms",
        [ms for v in valid for ms in v.turn_decided_ms],
        "question end → turn handed to the LLM (end of turn + ASR)",
    )
    stop_ms = [float(row["stop_ms"]) for row in result.details if row.get("stop_ms") is not None]
    result.add("stop_ms", stop_ms, "speech over a reply → reply silenced")
    measured = len(v2v) + sum(v.timed_out for v in valid)
    result.headline.update(
        {
            "passed": f"{sum(v.ok for v in verdicts)}/{len(verdicts)}",
            "invalid": len(verdicts) - len(valid),
            "premature_cutoff_rate": _rate(
                sum(v.premature for v in valid), sum(v.questions_with_pause for v in valid)
            ),
            "late_rate": _rate(sum(v.late + v.timed_out for v in valid), measured),
            "unanswered": sum(v.unanswered for v in valid),
            "lost_speech_rate": _rate(sum(v.lost for v in valid), sum(v.content_fragments for v in valid)),
            "false_barge_in_rate": _rate(sum(bool(p) for p in probes), len(probes)),
            "bare_stop_ok_rate": _rate(sum(bool(s) for s in stops), len(stops)),
            "contended_scenarios": sum(1 for row in result.details if _contended(row)),
        }
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m localvoice.bench.turn_taking [SCENARIO…]``: run some scenarios, print their timelines."""
    import sys

    names = list(sys.argv[1:] if argv is None else argv)
    try:
        result = asyncio.run(
            run_turn_taking(Config(), 1, names, Path("bench/results/turn_taking_logs"), print)
        )
    except BadInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for row in result.details:
        print(f"\n{row['scenario']} ({row['ended']}):", *row["timeline"], sep="\n")
    print({key: value for key, value in result.headline.items() if key.endswith(("rate", "passed"))})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
