"""``latency``: what each latency measure buys, measured side by side in one run.

The same spoken questions go through the real live loop (as in ``stages``) under cumulative variants,
interleaved question by question so that every variant sees the same machine state:

1. ``plain``: no KV-cache reuse (the LLM re-reads system prompt and history every turn), ASR only
   after the full end-of-turn silence, language detected at the end of the turn;
2. ``+kv_cache``: the system prompt and history stay in llama.cpp's KV cache between turns;
3. ``+speculative_asr``: ASR starts at a short tentative pause and is kept if the user stopped;
4. ``+early_language`` (the default): the language is guessed on the first second of speech, while
   the user is still talking, so the final transcription skips detection.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from typing import Any

from localvoice.bench.questions import load_questions, pick
from localvoice.bench.result import ScenarioResult
from localvoice.bench.stages import SETTLE_S, _one_turn
from localvoice.config import Config
from localvoice.session import Session


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    kv_cache: bool
    tentative_pause_ms: int
    early_language: bool


def variants(config: Config) -> list[Variant]:
    pause = config.vad.tentative_pause_ms or 200
    return [
        Variant("plain", kv_cache=False, tentative_pause_ms=0, early_language=False),
        Variant("+kv_cache", kv_cache=True, tentative_pause_ms=0, early_language=False),
        Variant("+speculative_asr", kv_cache=True, tentative_pause_ms=pause, early_language=False),
        Variant("+early_language", kv_cache=True, tentative_pause_ms=pause, early_language=True),
    ]


async def run_latency(config: Config, runs: int = 2, limit: int | None = None) -> ScenarioResult:
    questions = pick(load_questions(), limit)
    config.llm.backend = "llama_cpp"
    chosen = variants(config)
    result = ScenarioResult(
        "latency",
        f"Latency measures, cumulative ({len(questions)} questions × {runs} runs × {len(chosen)} variants)",
    )
    rows: list[dict[str, Any]] = []
    notices: list[str] = []
    async with Session(config, notices.append, need_asr=True) as session:
        forget = getattr(session.llm, "forget_cache", None)
        for _ in range(runs):
            for question in questions:
                for variant in chosen:
                    trial = copy.deepcopy(config)
                    trial.vad.tentative_pause_ms = variant.tentative_pause_ms
                    trial.asr.early_language_detection = variant.early_language
                    if not variant.kv_cache and forget is not None:
                        await forget()
                    elif session.llm is not None:
                        # Only the system prompt cached, as at the start of a conversation: without
                        # this the variant before would leave this very question in the cache.
                        await session.llm.warm_up()
                    row = await _one_turn(session, trial, question)
                    rows.append({"variant": variant.name, **row})
                    await asyncio.sleep(SETTLE_S)
    for variant in chosen:
        mine = [row for row in rows if row["variant"] == variant.name]
        for metric, label in (
            ("voice_to_voice_ms", "voice-to-voice"),
            ("asr_ms", "ASR wait after turn end"),
            ("llm_first_token_ms", "LLM first token"),
        ):
            values = [float(row[metric]) for row in mine if row.get(metric) is not None]
            result.add(f"{variant.name}:{metric}", values, f"{variant.name}: {label}")
    for variant in chosen:
        summary = result.metrics.get(f"{variant.name}:voice_to_voice_ms")
        result.headline[f"{variant.name}_v2v_median_ms"] = (
            None if summary is None else round(summary.median, 1)
        )
    result.details = [{k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()} for row in rows]
    result.notes += notices
    if forget is None:
        result.notes.append("the LLM backend cannot drop its cache: 'plain' equals '+kv_cache' here")
    return result
