"""``streaming_vs_naive``: localvoice's reply pipeline against the naive wait-then-speak loop.

Same embedded LLM and TTS, same questions (the bench questions' text), the same seed and temperature 0
so both speak the same reply, asked for three tips with reasons so there are several sentences to stream.
Both play into a ``PacedSink`` in real time. Before each reply the LLM's prompt cache is put into the
same state (only the system prompt cached), so neither side profits from the other's work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from localvoice.audio.sinks import PacedSink
from localvoice.bench.machine import OtherLoad
from localvoice.bench.naive import naive_reply
from localvoice.bench.questions import load_questions, pick
from localvoice.bench.result import ScenarioResult
from localvoice.bench.stats import ratio, summarize
from localvoice.clock import MonotonicClock
from localvoice.config import Config
from localvoice.events import OUTPUT_RATE_HZ, ConversationEvent, Message
from localvoice.protocols import LLM, TTS
from localvoice.reply import ReplyPipeline, ReplySettings
from localvoice.session import Session

SEED = 42
NUM_PREDICT = 200
TIPS_PROMPT = (
    "你是一个本地语音助手，回答会被朗读出来。请给出三条建议，每条建议先用一句话说建议，再用一句话说明理由，"
    "每句以句号结尾，不要编号、列表或 Markdown。用户说中文就用简体中文回答。"
    "If the user speaks English, answer in English: three tips, each as one sentence with the tip and "
    "one sentence with the reason, each ending with a period, no numbers or lists."
)

# Appended to each bench question so the reply has several sentences to stream: an everyday spoken
# answer of about six sentences (a tip and its reason, three times).
ASK_FOR_TIPS = {"zh": "请给我三条建议，并说说理由。", "en": " Please give me three tips and say why."}


async def _prime(llm: LLM) -> None:
    """Leave only the system prompt in the model's cache: one token after a throwaway question."""
    stream = llm.stream_chat([Message("system", TIPS_PROMPT), Message("user", "嗯")])
    async for _ in stream:
        break
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


async def _timed(speak: Callable[[PacedSink], Awaitable[str]], clock: MonotonicClock) -> dict[str, Any]:
    sink = PacedSink(clock, OUTPUT_RATE_HZ)
    started = clock.now()
    text = await speak(sink)
    ended = clock.now()
    await sink.aclose()
    first = sink.played[0].start_s - started if sink.played else None
    return {
        "first_audio_ms": None if first is None else first * 1000.0,
        "total_ms": (ended - started) * 1000.0,
        "audio_s": sink.played_samples / OUTPUT_RATE_HZ,
        "text": text,
    }


async def _compare(
    llm: LLM, tts: TTS, config: Config, messages: list[Message], clock: MonotonicClock, streaming_first: bool
) -> dict[str, dict[str, Any]]:
    def ignore(event: ConversationEvent) -> None:
        del event

    async def streaming(sink: PacedSink) -> str:
        pipeline = ReplyPipeline(llm, tts, sink, clock, ignore, ReplySettings.from_config(config))
        return (await pipeline.run(1, messages)).written

    async def naive(sink: PacedSink) -> str:
        return await naive_reply(llm, tts, sink, messages)

    order: list[tuple[str, Callable[[PacedSink], Awaitable[str]]]] = [
        ("streaming", streaming),
        ("naive", naive),
    ]
    if not streaming_first:
        order.reverse()
    measured: dict[str, dict[str, Any]] = {}
    for name, speak in order:
        await _prime(llm)
        others = OtherLoad()
        others.start()
        measured[name] = await _timed(speak, clock)
        measured[name]["others_cpu_s"] = others.stop()
    return measured


async def run_streaming_vs_naive(config: Config, runs: int = 1, limit: int | None = None) -> ScenarioResult:
    questions = pick(load_questions(), limit)
    config.llm.backend = "llama_cpp"
    config.llm.system = TIPS_PROMPT
    config.llm.temperature = 0.0
    config.llm.seed = SEED
    config.llm.num_predict = NUM_PREDICT
    clock = MonotonicClock()
    result = ScenarioResult(
        "streaming_vs_naive", f"Streaming pipeline vs naive loop ({len(questions)} questions × {runs} runs)"
    )
    notices: list[str] = []
    rows: list[dict[str, Any]] = []
    async with Session(config, notices.append) as session:
        assert session.llm is not None and session.tts is not None
        llm, tts = session.llm, session.tts

        for run in range(runs):
            for number, question in enumerate(questions):
                asked = question.text + ASK_FOR_TIPS.get(question.language, "")
                messages = [Message("system", TIPS_PROMPT), Message("user", asked)]
                # Alternate which goes first, so any drift (heat, other load) hits both alike.
                first = (run + number) % 2 == 0
                measured = await _compare(llm, tts, config, messages, clock, streaming_first=first)
                s, n = measured["streaming"], measured["naive"]
                rows.append(
                    {
                        "question": asked,
                        "streaming_first_audio_ms": s["first_audio_ms"],
                        "naive_first_audio_ms": n["first_audio_ms"],
                        "streaming_total_ms": s["total_ms"],
                        "naive_total_ms": n["total_ms"],
                        "first_audio_ratio": (
                            ratio(n["first_audio_ms"], s["first_audio_ms"])
                            if s["first_audio_ms"] and n["first_audio_ms"]
                            else None
                        ),
                        "total_ratio": ratio(n["total_ms"], s["total_ms"]),
                        "audio_s": s["audio_s"],
                        "same_text": s["text"].strip() == n["text"].strip(),
                        "others_cpu_s": (s["others_cpu_s"] or 0.0) + (n["others_cpu_s"] or 0.0),
                        "reply": s["text"],
                    }
                )
    for metric, label in (
        ("streaming_first_audio_ms", "first audio, streaming"),
        ("naive_first_audio_ms", "first audio, naive"),
        ("streaming_total_ms", "last audio played, streaming"),
        ("naive_total_ms", "last audio played, naive"),
    ):
        result.add(metric, [float(r[metric]) for r in rows if r[metric] is not None], label)
    first_ratios = [r["first_audio_ratio"] for r in rows if r["first_audio_ratio"] is not None]
    total_ratios = [r["total_ratio"] for r in rows if r["total_ratio"] is not None]
    result.headline = {
        "first_audio_ratio_median": round(summarize(first_ratios).median, 2) if first_ratios else None,
        "total_ratio_median": round(summarize(total_ratios).median, 3) if total_ratios else None,
        "same_text": f"{sum(r['same_text'] for r in rows)}/{len(rows)}",
        "temperature": 0.0,
        "seed": SEED,
        "num_predict": NUM_PREDICT,
    }
    result.details = [{k: round(v, 2) if isinstance(v, float) else v for k, v in r.items()} for r in rows]
    result.notes += notices
    result.notes.append("ratios are naive ÷ streaming: above 1 means the streaming pipeline was faster")
    return result
