"""Fakes for the stages that the pipeline tests script: an LLM and a TTS on an injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from localvoice.backends.tts.whole_clip import WholeClipTTS
from localvoice.clock import Clock
from localvoice.errors import BackendError
from localvoice.events import AudioClip, Message, Transcript


@dataclass
class ScriptedLLM:
    """Streams scripted pieces, each after a delay on the clock; may fail after some pieces."""

    clock: Clock
    pieces: Sequence[tuple[float, str]]  # (delay before this piece in seconds, text)
    fail_after: int | None = None  # raise BackendError after this many pieces
    calls: list[list[Message]] = field(default_factory=list)
    stopped_early: int = 0

    @property
    def description(self) -> str:
        return "scripted"

    async def stream_chat(self, messages: Sequence[Message]) -> AsyncIterator[str]:
        self.calls.append(list(messages))
        finished = False
        try:
            for number, (delay_s, text) in enumerate(self.pieces):
                if self.fail_after is not None and number == self.fail_after:
                    raise BackendError("Ollama reported an error mid-reply: scripted failure")
                await self.clock.sleep(delay_s)
                yield text
            finished = True
        finally:
            if not finished:
                self.stopped_early += 1

    async def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


@dataclass
class ScoringLLM(ScriptedLLM):
    """A scripted LLM that also judges whether the user's words are finished, after a delay."""

    done: dict[str, float] = field(default_factory=dict)  # user text → P(finished); others 0.9
    score_delay_s: float = 0.05
    scored: list[tuple[float, str]] = field(default_factory=list)  # (clock time asked, text)
    prefilled: list[tuple[float, int]] = field(default_factory=list)  # (clock time, messages)

    async def end_of_turn_probability(self, messages: Sequence[Message]) -> float | None:
        text = messages[-1].content
        self.scored.append((self.clock.now(), text))
        await self.clock.sleep(self.score_delay_s)
        return self.done.get(text, 0.9)

    async def prefill(self, history: Sequence[Message]) -> None:
        self.prefilled.append((self.clock.now(), len(history)))


def pieces_every(delay_s: float, text: str, size: int = 2) -> list[tuple[float, str]]:
    """Split ``text`` into ``size``-character deltas arriving every ``delay_s``."""
    return [(delay_s, text[i : i + size]) for i in range(0, len(text), size)]


@dataclass
class ToneTTS(WholeClipTTS):
    """A tone whose length follows the text, after a scripted synthesis delay on the clock."""

    clock: Clock
    delay_s: Callable[[str], float] = lambda text: 0.1
    seconds_per_char: float = 0.1
    sample_rate_hz: int = 16_000
    in_flight: int = 0
    max_in_flight: int = 0
    started: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    async def synthesize(self, text: str) -> AudioClip:
        self.started.append(text)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self.clock.sleep(self.delay_s(text))
        except BaseException:
            self.cancelled.append(text)
            raise
        finally:
            self.in_flight -= 1
        self.finished.append(text)
        return tone_for(text, self.seconds_per_char, self.sample_rate_hz)


def tone_for(text: str, seconds_per_char: float, sample_rate_hz: int) -> AudioClip:
    """A tone whose pitch encodes the text, so the played order can be read back."""
    length = max(1, round(len(text) * seconds_per_char * sample_rate_hz))
    pitch_hz = 200 + (sum(map(ord, text)) % 50) * 20
    t = np.arange(length) / sample_rate_hz
    samples = (0.3 * 32767 * np.sin(2 * np.pi * pitch_hz * t)).astype(np.int16)
    return AudioClip(samples, sample_rate_hz)


@dataclass
class AmplitudeVAD:
    """Speech wherever the frame is loud: lets a test script user speech as tone bursts."""

    frame_samples: int = 512
    threshold_rms: float = 500.0

    def speech_probability(self, frame: np.ndarray) -> float:
        rms = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2)))
        return 1.0 if rms > self.threshold_rms else 0.0

    def reset(self) -> None:
        return None


@dataclass
class TimelineSource:
    """A microphone on the clock: tone while the scripted user speaks, silence otherwise."""

    clock: Clock
    # (start_s, end_s) of each stretch of user speech, or (start_s, end_s, tone_hz) to say which words
    # a ``ToneWordsASR`` hears in it
    speech: Sequence[tuple[float, float] | tuple[float, float, float]]
    total_s: float
    block_ms: int = 20
    sample_rate_hz: int = 16_000

    async def stream_frames(self) -> AsyncIterator[np.ndarray]:
        block = self.sample_rate_hz * self.block_ms // 1000
        position = 0
        end = round(self.total_s * self.sample_rate_hz)
        while position < end:
            await self.clock.sleep(block / self.sample_rate_hz)
            times = (position + np.arange(block)) / self.sample_rate_hz
            out = np.zeros(block, dtype=np.int16)
            for start_s, end_s, *hz in self.speech:
                speaking = (times >= start_s) & (times < end_s)
                tone = (0.3 * 32767 * np.sin(2 * np.pi * (hz[0] if hz else 220) * times)).astype(np.int16)
                out = np.where(speaking, tone, out).astype(np.int16)
            yield out
            position += block

    async def aclose(self) -> None:
        return None


@dataclass
class ScriptedASR:
    """Returns the scripted transcripts in order, after a delay on the clock."""

    clock: Clock
    texts: list[str]
    delay_s: float = 0.2
    heard: list[float] = field(default_factory=list)  # durations of the audio it was given
    early_language: str | None = None  # what detect_language answers
    languages_detected: list[float] = field(default_factory=list)  # durations it was asked about
    languages_given: list[str | None] = field(default_factory=list)  # the language of each transcribe

    async def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        self.heard.append(audio.duration_s)
        self.languages_given.append(language)
        await self.clock.sleep(self.delay_s)  # a cancelled (speculative) call takes no text
        text = self.texts.pop(0) if self.texts else ""
        return Transcript(text, language or "zh", audio.duration_s)

    async def detect_language(self, audio: AudioClip) -> str | None:
        self.languages_detected.append(audio.duration_s)
        return self.early_language

    async def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


@dataclass
class ToneWordsASR:
    """An ASR that really listens: each tone frequency in the audio stands for a phrase.

    The clip is read in 20 ms blocks; each block's dominant frequency names a phrase, and the
    phrases are joined in the order they sound. A speculative (cancelled) call yields nothing.
    """

    clock: Clock
    words: dict[float, str]  # tone_hz → the phrase it stands for
    delay_s: float = 0.2
    calls: list[str] = field(default_factory=list)  # every transcript returned

    async def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        await self.clock.sleep(self.delay_s)
        text = "".join(self._phrases(audio))
        self.calls.append(text)
        return Transcript(text, language or "zh", audio.duration_s)

    def _phrases(self, audio: AudioClip) -> list[str]:
        block = audio.sample_rate_hz // 50
        heard: list[str] = []
        for start in range(0, len(audio.samples) - block + 1, block):
            frame = audio.samples[start : start + block].astype(np.float64)
            if np.sqrt(np.mean(frame**2)) < 1000:
                continue
            spectrum = np.abs(np.fft.rfft(frame))
            peak_hz = float(np.argmax(spectrum)) * audio.sample_rate_hz / block
            hz = min(self.words, key=lambda known: abs(known - peak_hz))
            if abs(hz - peak_hz) <= 60 and (not heard or heard[-1] != self.words[hz]):
                heard.append(self.words[hz])
        return heard

    async def detect_language(self, audio: AudioClip) -> str | None:
        return None

    async def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
