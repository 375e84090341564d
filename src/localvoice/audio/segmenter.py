"""Turn a stream of 16 kHz audio into utterances with a frame-level VAD.

Pure and synchronous; time is audio time (samples pushed so far), never the wall clock, so a test can
push 30 s of audio in milliseconds. Events, in the order a user's turn produces them::

    SpeechStarted  ─►  (TentativePause ─► SpeechResumed)*  ─►  [TentativePause]  ─►  UtteranceEnded

``SpeechStarted`` comes ``min_speech_ms`` after the onset (shorter clicks and coughs give no event at
all); barge-in listens for it. ``TentativePause`` after ``tentative_pause_ms`` of silence lets the
pipeline start ASR early; ``SpeechResumed`` says that work is stale. When no ``SpeechResumed`` follows,
``UtteranceEnded.audio`` holds exactly the samples of the last ``TentativePause.audio``, so a
speculative transcript of it can be used as is.

Hysteresis as in Silero's own segmentation: speech starts at ``threshold``; once speaking, only a
frame below ``neg_threshold`` starts a silence, and only a frame at ``threshold`` or above ends it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np

from localvoice.config import VADConfig
from localvoice.errors import BadInputError, ConfigError
from localvoice.events import INPUT_RATE_HZ, AudioClip, Pcm, SpeechStarted
from localvoice.protocols import VAD

__all__ = [
    "SegmentEvent",
    "Segmenter",
    "SpeechResumed",
    "SpeechStarted",
    "TentativePause",
    "UtteranceEnded",
]

_DEFAULT_TAIL_MS = 200  # trailing silence kept on an utterance when tentative pauses are off
_HYSTERESIS_GAP = 0.15
# Pre-roll for speech that begins while the speaker plays through an echo canceller: AEC3 ducks the
# first 0.1-0.4 s of it, so the VAD confirms the onset that much late (audio/linear_echo.py). The
# clip, cut from the unducked words audio, reaches back far enough to keep the first syllable.
PRE_ROLL_OVER_ECHO_MS = 700


@dataclass(frozen=True, slots=True, eq=False)
class TentativePause:
    """Silence has lasted ``tentative_pause_ms``; ``at_s`` is where the speech stopped."""

    at_s: float
    audio: AudioClip


@dataclass(frozen=True, slots=True)
class SpeechResumed:
    """Speech came back after a ``TentativePause``: anything started from that pause is stale."""

    at_s: float


@dataclass(frozen=True, slots=True, eq=False)
class UtteranceEnded:
    """One finished utterance. ``start_s``/``end_s`` bound the speech; ``audio`` begins at
    ``audio_start_s`` (up to ``pre_roll_ms`` before ``start_s``) and carries a short silent tail."""

    start_s: float
    end_s: float
    audio: AudioClip
    reason: Literal["silence", "max_length", "words"]  # words: the transcript said the turn was over
    audio_start_s: float = 0.0


SegmentEvent = SpeechStarted | TentativePause | SpeechResumed | UtteranceEnded


class Segmenter:
    """Feed audio with ``push``; get ``SegmentEvent``s back."""

    def __init__(self, vad: VAD, config: VADConfig, sample_rate_hz: int = INPUT_RATE_HZ) -> None:
        self._vad = vad
        self._rate = sample_rate_hz
        self._frame = vad.frame_samples
        self._threshold, self._neg_threshold = _thresholds(config)
        _check_durations(config)
        self._min_speech = self._samples(config.min_speech_ms)
        self._pre_roll = self._samples(config.pre_roll_ms)
        self._pre_roll_over_echo = max(self._pre_roll, self._samples(PRE_ROLL_OVER_ECHO_MS))
        self.over_echo = False  # see PRE_ROLL_OVER_ECHO_MS; set by whoever knows the speaker plays
        self._end_of_turn = self._samples(config.end_of_turn_ms)
        self._max_utterance = round(config.max_utterance_s * self._rate)
        tentative = self._samples(config.tentative_pause_ms)
        # A pause as long as end of turn is simply the end of the turn.
        self._tentative = tentative if 0 < tentative < self._end_of_turn else 0
        self._tail = min(tentative or self._samples(_DEFAULT_TAIL_MS), self._end_of_turn)
        self._lookback = self._samples(config.short_sound_lookback_ms)
        # Frames kept while idle: enough to reach pre_roll_ms back from an onset confirmed later, and
        # back to a short sound just before it.
        reach = self._pre_roll_over_echo + self._min_speech + self._lookback
        recent_frames = math.ceil(reach / self._frame) + 2
        self._recent: deque[Pcm] = deque(maxlen=recent_frames)
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_words = np.zeros(0, dtype=np.int16)
        self._end = 0  # sample index just past the last frame scored
        self._phase: Literal["idle", "candidate", "speech"] = "idle"
        self._onset = 0
        self._utterance: list[Pcm] = []
        self._clip_start = 0
        self._silence_start: int | None = None
        self._paused = False
        self._short_sound: int | None = None  # onset of the last sound too short to be speech

    @property
    def speech_active(self) -> bool:
        """True from ``SpeechStarted`` until ``UtteranceEnded``, tentative pauses included."""
        return self._phase == "speech"

    @property
    def hearing_speech(self) -> bool:
        """True while speech sounds right now: in an utterance and not in a pause within it."""
        return self._phase == "speech" and self._silence_start is None

    def push(self, pcm: Pcm, words: Pcm | None = None) -> list[SegmentEvent]:
        """Take a block of any length; return the events it completed, in order.

        ``words``: the same stretch as the recogniser should hear it (e.g. with echo subtracted but
        nothing ducked); the VAD listens to ``pcm``, the utterances' audio is cut from ``words``.
        """
        for audio in (pcm, words if words is not None else pcm):
            if audio.ndim != 1 or audio.dtype != np.int16:
                raise BadInputError(
                    f"the segmenter takes mono int16 audio, got {audio.dtype} with shape {audio.shape}; "
                    "convert it to 16 kHz mono int16 first"
                )
        if words is not None and len(words) != len(pcm):
            raise BadInputError(f"the words audio must match the block: {len(words)} vs {len(pcm)} samples")
        buffered = np.concatenate([self._pending, pcm]) if len(self._pending) else pcm
        heard = buffered
        if words is not None:
            heard = np.concatenate([self._pending_words, words]) if len(self._pending_words) else words
        whole = len(buffered) - len(buffered) % self._frame
        events: list[SegmentEvent] = []
        for start in range(0, whole, self._frame):
            frame = buffered[start : start + self._frame]
            probability = self._vad.speech_probability(frame)
            events.extend(self._on_frame(heard[start : start + self._frame], probability))
        self._pending = buffered[whole:].copy()
        self._pending_words = heard[whole:].copy()
        return events

    def end_now(self) -> UtteranceEnded | None:
        """End the utterance at its tentative pause, before ``end_of_turn_ms`` of silence.

        For when its words already say the turn is over. None unless a tentative pause is in
        effect; the ``audio`` is then exactly that pause's clip, as a silence end would give it.
        """
        if self._phase != "speech" or not self._paused:
            return None
        return self._finish("words")

    def reset(self) -> None:
        """Drop any utterance in progress and the VAD's state; audio time keeps counting."""
        self._vad.reset()
        self._end += len(self._pending)
        self._pending = np.zeros(0, dtype=np.int16)
        self._pending_words = np.zeros(0, dtype=np.int16)
        self._recent.clear()
        self._short_sound = None
        self._to_idle()

    # ---- per-frame state machine ----

    def _on_frame(self, frame: Pcm, prob: float) -> list[SegmentEvent]:
        start = self._end
        self._end += len(frame)
        if self._phase != "speech":
            self._recent.append(frame)
            if self._phase == "idle" and prob >= self._threshold:
                self._phase = "candidate"
                self._onset = start
            elif self._phase == "candidate" and prob < self._neg_threshold:
                self._phase = "idle"  # too short to be speech: a click, a cough, or a quick "Wait,"
                self._short_sound = self._onset
            if self._phase == "candidate" and self._end - self._onset >= self._min_speech:
                return [self._confirm()]
            return []

        self._utterance.append(frame)
        events: list[SegmentEvent] = []
        if self._silence_start is None:
            if prob < self._neg_threshold:
                self._silence_start = start
        elif prob >= self._threshold:
            if self._paused:
                events.append(SpeechResumed(self._seconds(start)))
            self._silence_start = None
            self._paused = False
        if self._silence_start is not None:
            silence = self._end - self._silence_start
            if silence >= self._end_of_turn:
                events.append(self._finish("silence"))
                return events
            if self._tentative and not self._paused and silence >= self._tentative:
                self._paused = True
                audio = self._clip(self._clip_start, self._silence_start + self._tail)
                events.append(TentativePause(self._seconds(self._silence_start), audio))
        if self._end + self._frame - self._clip_start > self._max_utterance:  # the next frame won't fit
            still_speaking = self._silence_start is None
            events.append(self._finish("max_length"))
            if still_speaking:  # carry on seamlessly: no pre-roll needed, nothing was dropped
                self._phase = "speech"
                self._onset = self._clip_start = self._end
                events.append(SpeechStarted(self._seconds(self._end)))
        return events

    def _confirm(self) -> SpeechStarted:
        self._phase = "speech"
        self._utterance = list(self._recent)
        first = self._end - len(self._utterance) * self._frame
        pre_roll = self._pre_roll_over_echo if self.over_echo else self._pre_roll
        clip_start = self._onset - pre_roll
        short = self._short_sound
        if short is not None and self._onset - short <= self._lookback:
            # A word too short to start speech on its own ("Wait," 0.26 s) just before this onset
            # is part of the utterance: the ASR hears it, and the turn keeps it.
            clip_start = min(clip_start, short - pre_roll)
        self._short_sound = None
        self._clip_start = max(clip_start, first)
        while len(self._utterance) > 1 and first + self._frame <= self._clip_start:
            self._utterance.pop(0)
            first += self._frame
        self._recent.clear()
        return SpeechStarted(self._seconds(self._onset))

    def _finish(self, reason: Literal["silence", "max_length", "words"]) -> UtteranceEnded:
        if self._silence_start is None:
            speech_end = audio_end = self._end
        else:
            speech_end = self._silence_start
            audio_end = min(self._silence_start + self._tail, self._end)
        event = UtteranceEnded(
            start_s=self._seconds(self._onset),
            end_s=self._seconds(speech_end),
            audio=self._clip(self._clip_start, audio_end),
            reason=reason,
            audio_start_s=self._seconds(self._clip_start),
        )
        # The silence just heard may serve as pre-roll for the next utterance.
        self._recent.clear()
        self._recent.extend(self._utterance[-(self._recent.maxlen or 1) :])
        self._to_idle()
        return event

    def _to_idle(self) -> None:
        self._phase = "idle"
        self._utterance = []
        self._silence_start = None
        self._paused = False

    def _clip(self, begin: int, end: int) -> AudioClip:
        first = self._end - len(self._utterance) * self._frame
        samples = np.concatenate(self._utterance) if self._utterance else np.zeros(0, dtype=np.int16)
        return AudioClip(samples[begin - first : end - first].copy(), self._rate)

    def _samples(self, ms: int) -> int:
        return ms * self._rate // 1000

    def _seconds(self, sample: int) -> float:
        return sample / self._rate


def _thresholds(config: VADConfig) -> tuple[float, float]:
    if not 0.0 < config.threshold < 1.0:
        raise ConfigError(f"vad.threshold must be between 0 and 1, got {config.threshold}")
    neg = config.neg_threshold or max(config.threshold - _HYSTERESIS_GAP, 0.01)
    if not 0.0 < neg <= config.threshold:
        raise ConfigError(
            f"vad.neg_threshold must be above 0 and at most vad.threshold ({config.threshold}), got {neg}"
        )
    return config.threshold, neg


def _check_durations(config: VADConfig) -> None:
    for name in (
        "end_of_turn_ms",
        "min_speech_ms",
        "pre_roll_ms",
        "tentative_pause_ms",
        "short_sound_lookback_ms",
    ):
        if getattr(config, name) < 0:
            raise ConfigError(f"vad.{name} must not be negative, got {getattr(config, name)}")
    if config.end_of_turn_ms == 0:
        raise ConfigError("vad.end_of_turn_ms must be above 0; 500 is a good start")
    if config.max_utterance_s * 1000 <= config.pre_roll_ms + config.min_speech_ms:
        raise ConfigError(
            f"vad.max_utterance_s ({config.max_utterance_s}) must be longer than "
            "vad.pre_roll_ms plus vad.min_speech_ms"
        )
