"""``models``: load time and speed of each packaged model on its own (no pipeline around it).

ASR: load, time and real-time factor (compute ÷ audio length) on the bench questions. LLM (each
packaged GGUF, one at a time): load, first token and tokens per second at temperature 0. TTS (each
voice of the packaged TTS): start-up, time to the audio of a short clause, real-time factor.
"""

from __future__ import annotations

import time
from typing import Any

from localvoice.backends.asr.faster_whisper import FasterWhisperASR
from localvoice.backends.llm.llama_cpp import PACKAGED_MODELS, LlamaCppLLM
from localvoice.backends.llm.sampling import Sampling
from localvoice.backends.tts.packaged import PackagedTTS
from localvoice.bench.questions import Question, load_questions, pick
from localvoice.bench.result import ScenarioResult
from localvoice.bench.stats import summarize
from localvoice.config import Config
from localvoice.events import Message
from localvoice.models.packaged import list_models

SHORT_CLAUSE = {"zh": "好的，我来看看。", "en": "Sure, let me check."}
LONG_SENTENCE = {
    "zh": "今天天气不错，适合出去散散步，顺便买点新鲜的水果回来。",
    "en": "The weather is nice today, so it is a good time for a walk and some fresh fruit.",
}
LLM_PREDICT = 64


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _median(values: list[float]) -> float | None:
    return round(summarize(values).median, 3) if values else None


async def _asr(config: Config, result: ScenarioResult, runs: int, questions: list[Question]) -> None:
    loads: list[float] = []
    for attempt in range(runs):  # each run loads a fresh model; the last one is measured further
        asr = FasterWhisperASR.from_config(config.asr)
        started = time.perf_counter()
        await asr.warm_up()
        loads.append(_ms(time.perf_counter() - started))
        if attempt < runs - 1:
            await asr.aclose()
    result.add("whisper-base:load_ms", loads, "whisper-base load")
    compute_ms: list[float] = []
    rtf: list[float] = []
    try:
        for _ in range(runs):
            for question in questions:
                audio = question.audio()
                began = time.perf_counter()
                transcript = await asr.transcribe(audio, question.language)
                took = time.perf_counter() - began
                compute_ms.append(_ms(took))
                rtf.append(took / audio.duration_s)
                result.details.append(
                    {"model": "whisper-base", "expected": question.text, "heard": transcript.text}
                )
    finally:
        await asr.aclose()
    result.add("whisper-base:transcribe_ms", compute_ms, "whisper-base transcribe one question")
    result.headline["whisper-base.rtf_median"] = _median(rtf)


async def _llm(
    name: str, config: Config, result: ScenarioResult, runs: int, questions: list[Question]
) -> None:
    prompts = [q.text for q in pick(questions, 4)]
    loads: list[float] = []
    for attempt in range(runs):  # each run loads a fresh model; the last one is measured further
        llm = LlamaCppLLM(
            name,
            system_prompt=config.llm.system,
            sampling=Sampling(temperature=0.0, seed=42, num_predict=LLM_PREDICT, num_ctx=2048),
        )
        started = time.perf_counter()
        await llm.load()
        loads.append(_ms(time.perf_counter() - started))
        if attempt < runs - 1:
            await llm.aclose()
    result.add(f"{name}:load_ms", loads, f"{name} load")
    first_ms: list[float] = []
    rates: list[float] = []
    try:
        await llm.warm_up()
        for _ in range(runs):
            for prompt in prompts:
                messages = [Message("system", config.llm.system), Message("user", prompt)]
                began = time.perf_counter()
                first: float | None = None
                pieces: list[str] = []
                async for delta in llm.stream_chat(messages):
                    if first is None:
                        first = time.perf_counter()
                    pieces.append(delta)
                ended = time.perf_counter()
                if first is None:
                    continue
                first_ms.append(_ms(first - began))
                tokens = await llm.count_tokens("".join(pieces))
                if tokens > 1 and ended > first:
                    rates.append((tokens - 1) / (ended - first))
    finally:
        await llm.aclose()
    result.add(f"{name}:first_token_ms", first_ms, f"{name} first token")
    result.headline[f"{name}.tokens_per_s_median"] = _median(rates)


async def _tts(config: Config, result: ScenarioResult, runs: int) -> None:
    tts = PackagedTTS.from_config(config.tts)
    result.notes += list(tts.notices)
    try:
        for language, voice in tts.voices.items():
            label = f"tts-{language} ({type(voice).__name__})"
            starts = [await _start_ms(type(voice)()) for _ in range(runs - 1)] if _restartable(voice) else []
            started = time.perf_counter()
            await voice.warm_up()
            starts.append(_ms(time.perf_counter() - started))
            result.add(f"tts-{language}:start_ms", starts, f"{label} start")
            short_ms: list[float] = []
            rtf: list[float] = []
            for _ in range(runs):
                began = time.perf_counter()
                await voice.synthesize(SHORT_CLAUSE[language])
                short_ms.append(_ms(time.perf_counter() - began))
                began = time.perf_counter()
                clip = await voice.synthesize(LONG_SENTENCE[language])
                took = time.perf_counter() - began
                if clip.duration_s > 0:
                    rtf.append(took / clip.duration_s)
            result.add(f"tts-{language}:short_clause_ms", short_ms, f"{label} first audio, short clause")
            result.headline[f"tts-{language}.rtf_median"] = _median(rtf)
    finally:
        await tts.aclose()


def _restartable(voice: object) -> bool:
    """A voice that can be built again with no arguments (not the espeak fallback)."""
    try:
        type(voice)()
    except TypeError:
        return False
    return True


async def _start_ms(voice: Any) -> float:
    started = time.perf_counter()
    await voice.warm_up()
    took = _ms(time.perf_counter() - started)
    await voice.aclose()
    return took


async def run_models(config: Config, runs: int = 2, limit: int | None = None) -> ScenarioResult:
    questions = pick(load_questions(), limit)
    result = ScenarioResult("models", f"Packaged models on their own ({runs} runs)")
    await _asr(config, result, runs, questions)
    installed = {status.name for status in list_models() if status.installed}
    for name in PACKAGED_MODELS:
        if name in installed:
            await _llm(name, config, result, runs, questions)
        else:
            result.notes.append(
                f"{name} skipped: its packages are not installed (pip install 'localvoice[llm-small]')"
            )
    await _tts(config, result, runs)
    extra: dict[str, Any] = {"llm_predict_tokens": LLM_PREDICT, "llm_threads": "physical cores"}
    result.headline.update(extra)
    result.notes.append("rtf = compute time ÷ audio length (below 1 is faster than real time)")
    return result
