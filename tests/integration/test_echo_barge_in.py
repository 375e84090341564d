"""Barge-in without headphones, closed loop: what the assistant plays comes back into the microphone
through a simulated laptop echo path, in the loop's own (virtual) time. With the echo canceller the
assistant does not interrupt itself, and a user who talks over it still stops it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from localvoice.audio.echo import EchoCancellation, EchoCanceller, NullEchoCanceller
from localvoice.audio.segmenter import Segmenter
from localvoice.audio.sinks import PacedSink
from localvoice.audio.wav import read_audio
from localvoice.backends.vad.silero import SileroVAD
from localvoice.clock import Clock, VirtualClock
from localvoice.config import VADConfig
from localvoice.conversation import Conversation
from localvoice.events import AudioClip, ConversationEvent, Pcm, ReplyFinished
from localvoice.live import LiveLoop, LiveSettings
from tests.echo_path import band_pass, room_impulse_response
from tests.fakes import ScriptedASR, ScriptedLLM

pytestmark = pytest.mark.slow

RATE = 16_000
BLOCK = 320  # 20 ms
SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech"


def assistant_voice() -> AudioClip:
    """About 8 s of the packaged Mandarin voice (the bench questions, back to back)."""
    clips = [read_audio(p).samples for p in sorted((SPEECH / "bench").glob("zh_*.wav"))] * 2
    return AudioClip(np.concatenate(clips), RATE)


@dataclass
class ClipTTS:
    clip: AudioClip

    async def synthesize(self, text: str) -> AudioClip:
        return self.clip

    async def stream_synthesize(self, text: str) -> AsyncIterator[AudioClip]:
        yield self.clip

    async def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


@dataclass
class EchoingMicrophone:
    """The microphone of a laptop whose speaker plays ``sink``: echo + room noise + the user.

    Before each capture block it hands the echo canceller the playback of that block's time, as a
    duplex device does, so the reference always precedes its echo.
    """

    clock: Clock
    sink: PacedSink
    canceller: EchoCancellation
    user: Pcm  # the user's voice on the microphone's timeline (zeros where silent)
    echo_gain: float = 0.4  # speaker a hand's width from the mic: echo ~8 dB below playback
    delay_ms: float = 60.0
    playback: list[float] = field(default_factory=list)

    async def stream_frames(self) -> AsyncIterator[Pcm]:
        rng = np.random.default_rng(7)
        room = room_impulse_response(self.delay_ms, rng)
        track = np.zeros(len(self.user) + RATE)
        noise = rng.standard_normal(len(self.user)) * 10 ** (-65 / 20)
        for start in range(0, len(self.user) - BLOCK + 1, BLOCK):
            await self.clock.sleep(BLOCK / RATE)
            for block in self.sink.played:  # lay what the speaker played onto the timeline
                at = round(block.start_s * RATE)
                track[at : at + len(block.samples)] = block.samples / 32768.0
            end = start + BLOCK
            self.canceller.push_playback(_pcm(track[start:end]))
            window_start = max(0, end - len(room) - BLOCK)
            speaker = np.tanh(1.5 * band_pass(track[window_start:end], 200, 6000)) / 1.5
            echo = np.convolve(speaker, room)[end - window_start - BLOCK : end - window_start]
            mic = self.echo_gain * echo + noise[start:end] + self.user[start:end] / 32768.0
            yield _pcm(mic)

    async def aclose(self) -> None:
        return None


def _pcm(x: np.ndarray) -> Pcm:
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


async def run_session(
    canceller: EchoCancellation, user_starts_s: float | None
) -> tuple[list[ReplyFinished], float]:
    """The user asked something at 0.3 s; the assistant answers with 8 s of speech."""
    clock = VirtualClock()
    total = 14 * RATE
    user = np.zeros(total, dtype=np.int16)
    question = read_audio(SPEECH / "question_en.wav").samples
    user[round(0.3 * RATE) : round(0.3 * RATE) + len(question)] = question
    if user_starts_s is not None:
        talk_over = read_audio(SPEECH / "bench" / "en_relax.wav").samples
        at = round(user_starts_s * RATE)
        user[at : at + len(talk_over)] = talk_over[: total - at]
    sink = PacedSink(clock, RATE)
    events: list[ConversationEvent] = []
    conversation = Conversation(
        ScriptedLLM(clock, [(0.1, "好的。")]), ClipTTS(assistant_voice()), sink, clock
    )
    conversation.subscribe(events.append)
    vad = VADConfig(end_of_turn_ms=500, min_speech_ms=250, tentative_pause_ms=0)
    live = LiveLoop(
        conversation,
        ScriptedASR(clock, ["what is the capital of france", "how can I relax after work"], delay_s=0.3),
        EchoingMicrophone(clock, sink, canceller, user),
        Segmenter(SileroVAD(), vad),
        canceller,
        clock,
        LiveSettings(min_interrupt_ms=250),
        events.append,
    )
    async with clock.running():
        await live.run()
        await live.wait_idle()
    first_reply = [b for b in sink.played if b.clip_index == 0]
    stopped_s = first_reply[-1].start_s + len(first_reply[-1].samples) / RATE
    return [e for e in events if isinstance(e, ReplyFinished)], stopped_s


async def test_echo_alone_interrupts_the_assistant_without_a_canceller() -> None:
    replies, stopped_s = await run_session(NullEchoCanceller(), user_starts_s=None)
    assert replies[0].interrupted, "without cancellation the assistant's own voice should cut it off"
    print(f"no canceller: the assistant cut itself off at {stopped_s:.2f} s")


async def test_echo_alone_does_not_interrupt_with_the_canceller() -> None:
    replies, stopped_s = await run_session(EchoCanceller(), user_starts_s=None)
    print(f"canceller, echo only: the reply played until {stopped_s:.2f} s")
    assert len(replies) == 1
    assert not replies[0].interrupted, "the assistant interrupted itself"


async def test_user_talking_over_the_reply_still_interrupts_it() -> None:
    replies, stopped_s = await run_session(EchoCanceller(), user_starts_s=5.0)
    print(f"canceller, user talks over at 5.00 s: playback stopped at {stopped_s:.2f} s")
    assert replies[0].interrupted
    assert 5.0 < stopped_s < 6.0, "barge-in within a second of the user's onset"
    assert len(replies) == 2, "the user's new turn was answered"
