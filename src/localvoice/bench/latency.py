"""``latency``: what each latency measure buys, measured side by side in one run.

The same spoken questions go through the real live loop (as in ``stages``) under cumulative variants,
interleaved question by question so that every variant sees the same machine state:

1. ``plain``: no KV-cache reuse (the LLM re-reads system prompt and history every turn), ASR only
   after the full end-of-turn silence, language detected at the end of the turn, Whisper's encoder
   over its fixed 30 s window, the turn ended by silence alone, the first clause cut at marks only;
2. ``+kv_cache``: the system prompt and history stay in llama.cpp's KV cache between turns;
3. ``+speculative_asr``: ASR starts at a short tentative pause and is kept if the user stopped;
4. ``+early_language``: the language is guessed on the first second of speech, while the user is
   still talking, so the final transcription skips detection;
5. ``+short_window``: the encoder reads the speech plus 1 s (at least 10 s), not 30 s;
6. ``+end_on_words``: a finished sentence ends the turn once its speculative transcript is in, not
   after ``vad.end_of_turn_ms`` of silence;
7. ``+first_phrase`` (the default): the first clause may end at a phrase boundary before a
   connective, so the first audio starts before a long comma-less opening is written.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from dataclasses import dataclass
from typing import Any

from localvoice.backends.asr.encoder_window import FRAMES_PER_S, FULL_FRAMES
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
    short_window: bool = False
    end_on_words: bool = False
    first_phrase: bool = False


def variants(config: Config) -> list[Variant]:
    pause = config.vad.tentative_pause_ms or 200
    plain = Variant("plain", kv_cache=False, tentative_pause_ms=0, early_language=False)
    chosen = [plain]
    for name, lever in (
        ("+kv_cache", {"kv_cache": True}),
        ("+speculative_asr", {"tentative_pause_ms": pause}),
        ("+early_language", {"early_language": True}),
        ("+short_window", {"short_window": True}),
        ("+end_on_words", {"end_on_words": True}),
        ("+first_phrase", {"first_phrase": True}),
    ):
        chosen.append(dataclasses.replace(chosen[-1], name=name, **lever))  # cumulative
    return chosen


def _trial(config: Config, variant: Variant) -> Config:
    trial = copy.deepcopy(config)
    trial.vad.tentative_pause_ms = variant.tentative_pause_ms
    trial.asr.early_language_detection = variant.early_language
    trial.conversation.end_on_words = variant.end_on_words
    if not variant.first_phrase:
        trial.text.first_phrase_min_chars = 0
    return trial


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
        window = getattr(session.asr, "window", None)
        short_frames = round(config.asr.encoder_window_s * FRAMES_PER_S)
        if window is None:
            result.notes.append("asr.encoder_window_s is 30: '+short_window' equals the variant before")
        for _ in range(runs):
            for question in questions:
                for variant in chosen:
                    trial = _trial(config, variant)
                    if window is not None:  # the loaded model's encoder window, per variant
                        window.min_frames = short_frames if variant.short_window else FULL_FRAMES
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
            ("end_of_speech_ms", "end of speech → turn end"),
            ("asr_ms", "ASR wait after turn end"),
            ("llm_first_token_ms", "LLM first token"),
            ("first_clause_ms", "first clause ready"),
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
