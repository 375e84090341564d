"""The scripted conversations of ``bench turn_taking``: spoken fragments, when they are said, and what a
person expects to happen.

A scenario is a timeline of ``Say`` steps. A step starts at a fixed time, a delay after the previous
fragment ends, or a delay after something the assistant did (its Nth reply audio started, it began
thinking), so the script reacts to the assistant as a person would. The expectation is written from the
person's side: which user turns get an audible answer (each listing the fragments its text must hold,
joined), and which of those answers the user cut short.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import platformdirs

from localvoice.audio.resample import resample
from localvoice.audio.wav import read_audio, write_wav
from localvoice.events import INPUT_RATE_HZ, AudioClip
from localvoice.protocols import TTS

TriggerKind = Literal["start", "after_previous", "reply_audio", "thinking"]
Case = Literal[
    "plain",
    "pause_question",
    "straddle",
    "interrupt",
    "interrupt_pause",
    "over_reply_end",
    "backchannel",
    "noise",
    "bare_stop",
]
NOISE = "cough"


@dataclass(frozen=True, slots=True)
class Fragment:
    text: str
    language: str
    # Each entry must appear in the user text; "a|b" accepts either (Whisper writes 天氣 or 天气, 2 or two).
    keywords: tuple[str, ...] = ()


FRAGMENTS: dict[str, Fragment] = {
    "zh_story": Fragment("给我讲一个很长的故事，关于一只小猫。", "zh", ("故事|猫|貓",)),
    "en_story": Fragment("Tell me a long story about a brave knight.", "en", ("story", "knight|night")),
    "zh_stop": Fragment("停一下。", "zh", ("停",)),
    "zh_weather_today": Fragment("今天天气怎么样？", "zh", ("天气|天氣",)),
    "zh_ask": Fragment("我想问一下，", "zh", ("问|問",)),
    "zh_weather_beijing": Fragment("明天北京的天气怎么样？", "zh", ("北京|明天",)),
    "zh_wait": Fragment("等一下", "zh", ("等",)),
    # Unfinished words no rule catches (Whisper ends them with "。"): only the LLM's score can tell.
    "zh_went": Fragment("我今天去了", "zh", ("今天",)),
    "zh_went_where": Fragment("一个很好玩的公园，你猜是哪里？", "zh", ("公园|公園",)),
    "en_weather_in": Fragment("Tell me about the weather in", "en", ("weather",)),
    "en_paris": Fragment("Paris tomorrow.", "en", ("paris",)),
    "zh_mm": Fragment("嗯", "zh"),  # 0.25 s of voice: at the edge of vad.min_speech_ms
    "zh_mm_mm": Fragment("嗯嗯", "zh"),  # 0.47 s: long enough to be heard as speech
    "en_stop": Fragment("Stop.", "en", ("stop",)),
    "en_capital": Fragment("What is the capital of France?", "en", ("capital", "france")),
    "en_wait": Fragment("Wait,", "en", ("wait",)),
    "en_two": Fragment("what is two plus two?", "en", ("two|2", "plus|+")),
    "en_germany": Fragment("And what about Germany?", "en", ("germany",)),
    "en_ok": Fragment("ok", "en"),
    NOISE: Fragment("", ""),  # a cough-like burst of filtered noise, made here rather than spoken
}


@dataclass(frozen=True, slots=True)
class Say:
    fragment: str
    trigger: TriggerKind
    delay_s: float = 0.0
    nth: int = 1  # reply_audio / thinking: the Nth time it happened in this scenario


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    case: Case
    steps: tuple[Say, ...]
    answered: tuple[tuple[str, ...], ...]  # user turns that must get an audible answer, in order
    # Per answered turn: True the user cut it short, False they did not, None whatever (the harness
    # stops the last reply itself once it has been heard).
    interrupted: tuple[bool | None, ...]
    long_reply: bool = False  # the first reply must still be speaking seconds after it starts

    @property
    def language(self) -> str:
        return FRAGMENTS[self.steps[0].fragment].language or "zh"


def _idle(name: str, case: Case, first: str, pause_s: float | None, second: str | None) -> Scenario:
    steps = [Say(first, "start", 0.5)]
    joined: tuple[str, ...] = (first,)
    if second is not None and pause_s is not None:
        steps.append(Say(second, "after_previous", pause_s))
        joined = (first, second)
    return Scenario(
        name, case, tuple(steps), (joined,) if first != NOISE else (), (None,) if first != NOISE else ()
    )


def _straddle(name: str, first: str, second: str, trigger: TriggerKind, delay_s: float) -> Scenario:
    steps = (Say(first, "start", 0.5), Say(second, trigger, delay_s))
    return Scenario(name, "straddle", steps, ((first, second),), (None,))


def _over_reply_end(name: str, first: str, second: str) -> Scenario:
    """A short answer, and the next question begun 1 s into it: the user's words straddle the moment
    the answer ends on its own, whichever way the race goes both questions must be answered."""
    steps = (Say(first, "start", 0.5), Say(second, "reply_audio", 1.0))
    return Scenario(name, "over_reply_end", steps, ((first,), (second,)), (None, None))


def _over_reply(
    name: str, case: Case, story: str, probe: tuple[tuple[str, float], ...], after_audio_s: float = 2.0
) -> Scenario:
    """The user asks for a story, then says ``probe`` (fragment, pause before it) over the reply."""
    steps = [Say(story, "start", 0.5), Say(probe[0][0], "reply_audio", after_audio_s)]
    steps += [Say(fragment, "after_previous", pause_s) for fragment, pause_s in probe[1:]]
    question = tuple(f for f, _ in probe)
    answered: tuple[tuple[str, ...], ...]
    interrupted: tuple[bool | None, ...]
    if case in ("interrupt", "interrupt_pause"):
        answered, interrupted = ((story,), question), (True, None)
    elif case == "bare_stop":
        answered, interrupted = ((story,),), (True,)
    else:  # backchannel, noise: the reply plays on
        answered, interrupted = ((story,),), (False,)
    return Scenario(name, case, tuple(steps), answered, interrupted, long_reply=True)


SCENARIOS: tuple[Scenario, ...] = (
    # 7. a plain question: the control that works today
    _idle("zh_plain", "plain", "zh_weather_today", None, None),
    _idle("en_plain", "plain", "en_capital", None, None),
    # 2. a question with a pause, from idle: one turn, answered once
    _idle("zh_pause_question_0.6s", "pause_question", "zh_ask", 0.6, "zh_weather_beijing"),
    _idle("zh_pause_question_0.9s", "pause_question", "zh_ask", 0.9, "zh_weather_beijing"),
    _idle("en_pause_question_0.6s", "pause_question", "en_wait", 0.6, "en_two"),
    _idle("zh_pause_unfinished_0.7s", "pause_question", "zh_went", 0.7, "zh_went_where"),
    _idle("en_pause_unfinished_0.7s", "pause_question", "en_weather_in", 0.7, "en_paris"),
    # 3. speech that straddles the start of a reply: more words before the first answer audio
    _straddle("zh_straddle_0.8s", "zh_weather_today", "zh_weather_beijing", "after_previous", 0.8),
    _straddle("zh_straddle_thinking", "zh_weather_today", "zh_weather_beijing", "thinking", 0.2),
    _straddle("en_straddle_thinking", "en_capital", "en_germany", "thinking", 0.2),
    _straddle("en_straddle_0.8s", "en_capital", "en_germany", "after_previous", 0.8),
    # 1. an interruption with a pause, over a long reply: one next turn, both halves, answered once
    _over_reply(
        "zh_interrupt_pause_0.7s", "interrupt_pause", "zh_story", (("zh_stop", 0), ("zh_weather_today", 0.7))
    ),
    _over_reply(
        "zh_interrupt_pause_0.4s", "interrupt_pause", "zh_story", (("zh_stop", 0), ("zh_weather_today", 0.4))
    ),
    _over_reply(
        "zh_interrupt_wait_0.7s", "interrupt_pause", "zh_story", (("zh_wait", 0), ("zh_weather_beijing", 0.7))
    ),
    _over_reply(
        "en_interrupt_pause_0.7s", "interrupt_pause", "en_story", (("en_stop", 0), ("en_capital", 0.7))
    ),
    _over_reply("en_interrupt_wait_0.6s", "interrupt_pause", "en_story", (("en_wait", 0), ("en_two", 0.6))),
    # a single-sentence interruption: the control for the cases above
    _over_reply("zh_interrupt", "interrupt", "zh_story", (("zh_weather_beijing", 0),)),
    _over_reply("en_interrupt", "interrupt", "en_story", (("en_capital", 0),)),
    # the next question begun just before a short answer ends on its own
    _over_reply_end("zh_ask_at_reply_end", "zh_weather_today", "zh_weather_beijing"),
    _over_reply_end("en_ask_at_reply_end", "en_capital", "en_two"),
    # 4. backchannels during a reply: not interrupted, no user turn
    _over_reply("zh_backchannel", "backchannel", "zh_story", (("zh_mm", 0),), 1.5),
    _over_reply("zh_backchannel_mm_mm", "backchannel", "zh_story", (("zh_mm_mm", 0),), 1.5),
    _over_reply("en_backchannel", "backchannel", "en_story", (("en_ok", 0),), 1.5),
    # 5. a cough during a reply, and while idle
    _over_reply("zh_cough_in_reply", "noise", "zh_story", ((NOISE, 0),), 1.5),
    _over_reply("en_cough_in_reply", "noise", "en_story", ((NOISE, 0),), 1.5),
    _idle("cough_idle", "noise", NOISE, None, None),
    # 6. a bare "stop" during a reply: it stops and listens, no new reply
    _over_reply("zh_bare_stop", "bare_stop", "zh_story", (("zh_stop", 0),)),
    _over_reply("zh_bare_wait", "bare_stop", "zh_story", (("zh_wait", 0),)),
    _over_reply("en_bare_stop", "bare_stop", "en_story", (("en_stop", 0),)),
    # 8. the same, 6 s into the reply instead of 1.5-2 s: the echo canceller has heard some of the
    # reply by then (every scenario is a fresh session, so the 2 s cases meet it cold)
    _over_reply("zh_bare_stop_6s", "bare_stop", "zh_story", (("zh_stop", 0),), 6.0),
    _over_reply(
        "zh_interrupt_wait_6s",
        "interrupt_pause",
        "zh_story",
        (("zh_wait", 0), ("zh_weather_beijing", 0.7)),
        6.0,
    ),
    _over_reply("zh_backchannel_6s", "backchannel", "zh_story", (("zh_mm_mm", 0),), 6.0),
)

BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}


# ---- the fragments' audio ----


def cough(seed: int = 7, duration_s: float = 0.25) -> AudioClip:
    """A cough-like burst: band-limited noise (200–2500 Hz), a 15 ms attack and a fast decay."""
    rng = np.random.default_rng(seed)
    count = round(duration_s * INPUT_RATE_HZ)
    spectrum = np.fft.rfft(rng.standard_normal(count))
    frequencies = np.fft.rfftfreq(count, 1.0 / INPUT_RATE_HZ)
    spectrum[(frequencies < 200) | (frequencies > 2500)] = 0
    noise = np.fft.irfft(spectrum, count)
    t = np.arange(count) / INPUT_RATE_HZ
    envelope = np.minimum(t / 0.015, 1.0) * np.exp(-t / 0.08)
    burst = noise * envelope
    burst *= 0.5 / float(np.max(np.abs(burst)))
    pad = np.zeros(round(0.1 * INPUT_RATE_HZ))
    samples = np.concatenate([pad, burst, pad]) * 32767
    return AudioClip(samples.astype(np.int16), INPUT_RATE_HZ)


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir("localvoice")) / "turn_fragments"


def cached_path(name: str, folder: Path | None = None) -> Path:
    fragment = FRAGMENTS[name]
    key = hashlib.sha1(f"{fragment.language}:{fragment.text}".encode()).hexdigest()[:16]
    return (folder or cache_dir()) / f"{name}-{key}.wav"


def cached_audio(names: list[str], folder: Path | None = None) -> dict[str, AudioClip] | None:
    """Every fragment's audio from the cache, or None when one has not been made yet."""
    paths = {name: cached_path(name, folder) for name in names if name != NOISE}
    if not all(path.is_file() for path in paths.values()):
        return None
    clips = {name: read_audio(path, INPUT_RATE_HZ) for name, path in paths.items()}
    return clips | ({NOISE: cough()} if NOISE in names else {})


async def fragment_audio(names: list[str], tts: TTS, folder: Path | None = None) -> dict[str, AudioClip]:
    """16 kHz audio of each fragment, spoken by ``tts`` once and then read from the cache folder."""
    for name in dict.fromkeys(names):
        path = cached_path(name, folder) if name != NOISE else None
        if path is not None and not path.is_file():
            spoken = await tts.synthesize(FRAGMENTS[name].text)
            samples = resample(spoken.samples, spoken.sample_rate_hz, INPUT_RATE_HZ)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part.wav")
            write_wav(partial, AudioClip(samples, INPUT_RATE_HZ))
            partial.replace(path)  # a run killed mid-write leaves no torn file in the cache
    clips = cached_audio(names, folder)
    assert clips is not None
    return clips


def fragments_of(scenarios: list[Scenario]) -> list[str]:
    return [step.fragment for scenario in scenarios for step in scenario.steps]
