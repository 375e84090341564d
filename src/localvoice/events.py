"""Plain data that flows through the pipeline and out to observers.

Audio inside the pipeline is int16 mono PCM held in numpy arrays: 16 kHz on the way in, the TTS
voice's own rate on the way out. ``Conversation`` numbers the turns (the number goes up when a reply
starts) and every event of a reply carries its ``turn``, so observers can tell which reply an event
belongs to, and the conversation's state follows only the current turn's events. Barge-in does not
work by comparing numbers: it cancels the reply's tasks and clears the sink, so nothing of the old
reply is left to play.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

Pcm = npt.NDArray[np.int16]
Role = Literal["system", "user", "assistant"]

INPUT_RATE_HZ = 16_000
# The rate replies are spoken at (the packaged voices' common rate); sinks resample to the device.
OUTPUT_RATE_HZ = 24_000


@dataclass(frozen=True, slots=True)
class Message:
    """One chat message, in the shape Ollama and OpenAI both use."""

    role: Role
    content: str
    interrupted: bool = False  # an assistant reply cut short by the user: content is what was heard

    def to_api(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True, eq=False)
class AudioClip:
    """A stretch of mono int16 audio at a known rate."""

    samples: Pcm
    sample_rate_hz: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


@dataclass(frozen=True, slots=True)
class TranscriptSegment:
    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    language: str
    duration_s: float
    segments: tuple[TranscriptSegment, ...] = ()


class ConversationState(enum.Enum):
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"


# ---- events emitted to observers (terminal UI, transcript log, metrics, web UI) ----


@dataclass(frozen=True, slots=True)
class StateChanged:
    state: ConversationState


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at_s: float


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    at_s: float


@dataclass(frozen=True, slots=True)
class TranscriptReady:
    turn: int
    text: str
    language: str


@dataclass(frozen=True, slots=True)
class ReplyDelta:
    """A piece of the reply text as the LLM writes it."""

    turn: int
    text: str


@dataclass(frozen=True, slots=True)
class ReplyAudioStarted:
    """The first audio of the reply went to the speaker."""

    turn: int


@dataclass(frozen=True, slots=True)
class ClauseSpoken:
    """A clause has finished playing in full."""

    turn: int
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class TurnTimings:
    """Per-turn latencies in milliseconds; None where the stage did not happen."""

    turn: int
    asr_ms: float | None = None
    llm_first_token_ms: float | None = None
    first_clause_ms: float | None = None
    tts_first_audio_ms: float | None = None
    voice_to_voice_ms: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {
            "asr": self.asr_ms,
            "llm_first_token": self.llm_first_token_ms,
            "first_clause": self.first_clause_ms,
            "tts_first_audio": self.tts_first_audio_ms,
            "voice_to_voice": self.voice_to_voice_ms,
        }


@dataclass(frozen=True, slots=True)
class ReplyFinished:
    """The reply ended: played in full, cut short by the user, or broken by an error.

    ``heard`` is the text the user actually heard; that, not ``written``, goes into history.
    """

    turn: int
    written: str
    heard: str
    interrupted: bool = False
    error: str | None = None
    withdrawn: bool = False  # cancelled before any audio because the user's turn went on: not in history


@dataclass(frozen=True, slots=True)
class ErrorOccurred:
    """A recoverable problem the user should see (one line, no traceback)."""

    message: str
    turn: int | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """Something informative: which backend was picked, a model being loaded."""

    message: str


ConversationEvent = (
    StateChanged
    | SpeechStarted
    | SpeechEnded
    | TranscriptReady
    | ReplyDelta
    | ReplyAudioStarted
    | ClauseSpoken
    | TurnTimings
    | ReplyFinished
    | ErrorOccurred
    | Notice
)


@dataclass(slots=True)
class TurnRecord:
    """What the transcript log keeps of one turn."""

    turn: int
    user: str
    assistant: str
    interrupted: bool = False
    error: str | None = None
    timings_ms: dict[str, float | None] = field(default_factory=dict)
