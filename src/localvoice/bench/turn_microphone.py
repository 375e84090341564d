"""A microphone that talks like a person following a script: 20 ms blocks of silence in real time, with
each fragment spliced in once its trigger has fired (a fixed time, a pause after the previous fragment,
or a delay after the assistant's Nth reply audio started or it began thinking).

Causal to the block: a fragment starts in the first block whose capture time is at or after its due
time, and a due time is known only once the event behind it has been seen, so a busy event loop delays
speech the way a slow listener would, never the other way round.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from localvoice.audio.echo import EchoCancellation
from localvoice.audio.resample import resample
from localvoice.audio.sinks import PacedSink
from localvoice.bench.echo_path import EchoPath
from localvoice.bench.speech_bounds import speech_bounds
from localvoice.bench.turn_scenarios import Say
from localvoice.clock import Clock
from localvoice.events import (
    INPUT_RATE_HZ,
    AudioClip,
    ConversationEvent,
    ConversationState,
    Pcm,
    ReplyAudioStarted,
    StateChanged,
)

_MARGIN_S = 0.03  # kept around a fragment's speech when its clip is trimmed
# A real microphone never delivers digital zeros; the idle bench's quiet room. Silero VAD's scores for
# short words drift after long stretches of exact zeros, so pure silence would test the wrong thing.
ROOM_NOISE_DBFS = -60.0


@dataclass(frozen=True, slots=True)
class Said:
    """Clock times at which one step's speech started and ended."""

    onset_s: float
    end_s: float


def trimmed(clip: AudioClip) -> tuple[Pcm, float, float]:
    """The clip cut to its speech (± a margin) and the speech bounds within the cut, in seconds."""
    onset, end = speech_bounds(clip)
    first = max(0, round((onset - _MARGIN_S) * INPUT_RATE_HZ))
    last = min(len(clip.samples), round((end + _MARGIN_S) * INPUT_RATE_HZ))
    return clip.samples[first:last], onset - first / INPUT_RATE_HZ, end - first / INPUT_RATE_HZ


class ScriptedMicrophone:
    """Implements ``protocols.AudioSource``; register ``observe`` with the conversation and live loop."""

    def __init__(
        self,
        steps: Sequence[Say],
        clips: Mapping[str, AudioClip],
        clock: Clock,
        block_ms: int = 20,
        noise_dbfs: float | None = ROOM_NOISE_DBFS,
        echo: EchoPath | None = None,
    ) -> None:
        """``echo``: the speaker heard back, as on a laptop without headphones (None: a headset)."""
        self._steps = list(steps)
        self._echo = echo
        self._audio = {name: trimmed(clip) for name, clip in clips.items()}
        self._clock = clock
        self._block = INPUT_RATE_HZ * block_ms // 1000
        self._noise = None if noise_dbfs is None else 32768.0 * 10 ** (noise_dbfs / 20)
        self._rng = np.random.default_rng(0)
        self.said: list[Said | None] = [None] * len(self._steps)
        self.reply_audio_at: list[float] = []  # clock time of each ReplyAudioStarted, in order
        self.thinking_at: list[float] = []
        self.started_s: float | None = None
        self.last_block_at_s: float | None = None  # implements ``protocols.CaptureTimes``
        self._closed = False

    @property
    def finished(self) -> bool:
        """Every step has been said and the last one's speech is over."""
        last = self.said[-1] if self.said else None
        return last is not None and self._clock.now() >= last.end_s

    def waiting_for(self) -> int | None:
        """Index of the step not yet said, if any."""
        return next((i for i, said in enumerate(self.said) if said is None), None)

    def observe(self, event: ConversationEvent) -> None:
        if isinstance(event, ReplyAudioStarted):
            self.reply_audio_at.append(self._clock.now())
        elif isinstance(event, StateChanged) and event.state is ConversationState.THINKING:
            self.thinking_at.append(self._clock.now())

    def _due(self, index: int) -> float | None:
        """When the block that starts step ``index`` may begin: its speech onset lands ``delay_s``
        after the trigger, never before the trigger was seen."""
        step = self._steps[index]
        if step.trigger == "start":
            assert self.started_s is not None
            base: float | None = self.started_s
        elif step.trigger == "after_previous":
            previous = self.said[index - 1] if index > 0 else None
            base = None if previous is None else previous.end_s
        else:
            seen = self.reply_audio_at if step.trigger == "reply_audio" else self.thinking_at
            base = seen[step.nth - 1] if len(seen) >= step.nth else None
        if base is None:
            return None
        return max(base, base + step.delay_s - self._audio[step.fragment][1])

    async def stream_frames(self) -> AsyncIterator[Pcm]:
        self.started_s = start = self._clock.now()
        position = 0  # samples handed out so far
        speaking: Pcm | None = None
        offset = 0
        while not self._closed:
            at = start + position / INPUT_RATE_HZ  # capture time of the block about to be made
            index = self.waiting_for()
            if speaking is None and index is not None:
                due = self._due(index)
                if due is not None and due <= at + 1e-9:
                    speaking, onset, end = self._audio[self._steps[index].fragment]
                    offset = 0
                    self.said[index] = Said(at + onset, at + end)
            mixed = np.zeros(self._block)
            if self._noise is not None:
                mixed += self._rng.standard_normal(self._block) * self._noise
            if self._echo is not None:
                mixed += self._echo.mix(at, self._block)
            if speaking is not None:
                part = speaking[offset : offset + self._block]
                mixed[: len(part)] += part
                offset += self._block
                if offset >= len(speaking):
                    speaking = None
            block = np.clip(np.round(mixed), -32768, 32767).astype(np.int16)
            position += self._block
            await self._clock.sleep(start + position / INPUT_RATE_HZ - self._clock.now())
            self.last_block_at_s = at
            yield block

    async def aclose(self) -> None:
        self._closed = True


class SpeakerReference:
    """The echo canceller as ``localvoice chat`` runs it in full-duplex, fed what the ``PacedSink``
    played as its reference, each block with the clock time it started: each microphone block first
    hands over the blocks played since the last. The microphone hears that playback back through an
    ``EchoPath``."""

    def __init__(self, canceller: EchoCancellation, sink: PacedSink) -> None:
        self._canceller = canceller
        self._sink = sink
        self._pushed = 0  # blocks of ``sink.played`` already handed over

    @property
    def active(self) -> bool:
        return self._canceller.active

    def push_playback(self, pcm: Pcm, at_s: float | None = None) -> None:
        self._canceller.push_playback(pcm, at_s)

    def process_capture(self, pcm: Pcm, at_s: float | None = None) -> Pcm:
        played = self._sink.played
        for block in played[self._pushed :]:
            samples = resample(block.samples, self._sink.sample_rate_hz, INPUT_RATE_HZ)
            self._canceller.push_playback(samples, block.start_s)
        self._pushed = len(played)
        return self._canceller.process_capture(pcm, at_s)

    def words_audio(self) -> Pcm | None:
        return self._canceller.words_audio()
