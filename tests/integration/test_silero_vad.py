"""The real Silero v6 model, streamed frame by frame, on speech made by espeak-ng at test time."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import soundfile as sf
import soxr

from localvoice.audio.segmenter import Segmenter, SegmentEvent, SpeechStarted, UtteranceEnded
from localvoice.config import Config, VADConfig
from localvoice.errors import BadInputError
from localvoice.events import Pcm
from localvoice.protocols import VAD
from localvoice.registry import load_backend_class

if TYPE_CHECKING:
    from localvoice.backends.vad.silero import SileroVAD

pytestmark = pytest.mark.slow

RATE = 16_000
BLOCK = 320  # 20 ms, the microphone's block size
TOLERANCE_S = 0.15

silero = pytest.importorskip("localvoice.backends.vad.silero", reason="needs localvoice[asr]")
fw_vad = pytest.importorskip("faster_whisper.vad", reason="needs localvoice[asr]")


def say(text: str, folder: Path) -> Pcm:
    """``text`` spoken by espeak-ng at 16 kHz, trimmed to where the voice is (known placement)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    path = folder / (re.sub(r"\W+", "_", text) + ".wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(path), text], check=True)
    samples, rate = sf.read(path, dtype="float32")
    samples = soxr.resample(samples, rate, RATE)
    voiced = np.flatnonzero(np.abs(samples) > 0.01)
    pcm: Pcm = (samples[voiced[0] : voiced[-1] + 1] * 32767).astype(np.int16)
    return pcm


def silence(seconds: float) -> Pcm:
    return np.zeros(round(seconds * RATE), dtype=np.int16)


@pytest.fixture(scope="module")
def vad() -> Iterator[SileroVAD]:
    yield silero.SileroVAD.from_config(Config().vad)


@pytest.fixture
def fresh_vad(vad: SileroVAD) -> SileroVAD:
    vad.reset()
    return vad


def segment(vad: SileroVAD, audio: Pcm, config: VADConfig | None = None) -> list[SegmentEvent]:
    segmenter = Segmenter(vad, config or VADConfig())
    events: list[SegmentEvent] = []
    for start in range(0, len(audio), BLOCK):
        events.extend(segmenter.push(audio[start : start + BLOCK]))
    return events


def ended(events: list[SegmentEvent]) -> list[UtteranceEnded]:
    return [e for e in events if isinstance(e, UtteranceEnded)]


def test_streaming_matches_faster_whisper(fresh_vad: SileroVAD, tmp_path: Path) -> None:
    first, second = say("Turn on the kitchen lights please", tmp_path), say("What time is it", tmp_path)
    audio = np.concatenate([silence(1.0), first, silence(1.5), second, silence(1.0)])
    frames = len(audio) // 512
    streamed = np.array([fresh_vad.speech_probability(audio[i * 512 : (i + 1) * 512]) for i in range(frames)])
    as_float = audio.astype(np.float32) / 32768
    # faster-whisper scores the whole clip in one batch; its last (padded) frame is not comparable
    batch = fw_vad.get_vad_model()(np.pad(as_float, (0, 512 - len(audio) % 512)))
    assert np.abs(streamed - batch[:frames]).max() < 1e-4
    assert streamed.max() > 0.9  # it did hear the speech

    fresh_vad.reset()
    spans = fw_vad.get_speech_timestamps(
        as_float, fw_vad.VadOptions(threshold=0.5, min_silence_duration_ms=500, speech_pad_ms=0)
    )
    utterances = ended(segment(fresh_vad, audio))
    assert len(spans) == len(utterances) == 2
    for span, utterance in zip(spans, utterances, strict=True):
        assert utterance.start_s == pytest.approx(span["start"] / RATE, abs=0.033)
        assert utterance.end_s == pytest.approx(span["end"] / RATE, abs=0.033)


def test_two_utterances_with_a_long_gap(fresh_vad: SileroVAD, tmp_path: Path) -> None:
    first = say("Turn on the kitchen lights please", tmp_path)
    second = say("What is the weather like tomorrow", tmp_path)
    audio = np.concatenate([silence(1.0), first, silence(1.5), second, silence(1.5)])
    events = segment(fresh_vad, audio)
    utterances = ended(events)
    assert sum(isinstance(e, SpeechStarted) for e in events) == 2
    assert [u.reason for u in utterances] == ["silence", "silence"]
    first_end = 1.0 + len(first) / RATE
    second_start = first_end + 1.5
    expected = [(1.0, first_end), (second_start, second_start + len(second) / RATE)]
    for utterance, (start_s, end_s) in zip(utterances, expected, strict=True):
        assert utterance.start_s == pytest.approx(start_s, abs=TOLERANCE_S)
        assert utterance.end_s == pytest.approx(end_s, abs=TOLERANCE_S)
        # pre-roll: the clip starts 300 ms before the detected onset, so no voiced sample is cut off
        assert utterance.audio_start_s == pytest.approx(utterance.start_s - 0.3)
        assert utterance.audio_start_s < start_s
        assert utterance.audio_start_s + utterance.audio.duration_s > end_s


def test_silero_is_a_vad_whose_reset_forgets_the_past(fresh_vad: SileroVAD, tmp_path: Path) -> None:
    assert isinstance(fresh_vad, VAD)
    audio = np.concatenate([say("Good morning", tmp_path), silence(0.5)])
    frames = [audio[i : i + 512] for i in range(0, len(audio) - 511, 512)]
    first = [fresh_vad.speech_probability(f) for f in frames]
    second = [fresh_vad.speech_probability(f) for f in frames]  # state carries over: not a replay
    fresh_vad.reset()
    replay = [fresh_vad.speech_probability(f) for f in frames]
    assert replay == pytest.approx(first, abs=1e-6)
    assert second != pytest.approx(first, abs=1e-6)
    with pytest.raises(BadInputError):
        fresh_vad.speech_probability(audio[:320])


def test_short_pause_between_words_stays_one_utterance(fresh_vad: SileroVAD, tmp_path: Path) -> None:
    hello, rest = say("Hello", tmp_path), say("how are you doing today", tmp_path)
    audio = np.concatenate([silence(1.0), hello, silence(0.3), rest, silence(1.0)])
    [utterance] = ended(segment(fresh_vad, audio))
    assert utterance.start_s == pytest.approx(1.0, abs=TOLERANCE_S)
    assert utterance.end_s == pytest.approx(1.3 + (len(hello) + len(rest)) / RATE, abs=TOLERANCE_S)


def test_silence_and_low_noise_never_start_speech(fresh_vad: SileroVAD) -> None:
    rng = np.random.default_rng(7)
    noise = (rng.normal(0.0, 0.03, 5 * RATE) * 32767).astype(np.int16)  # about -30 dBFS
    audio = np.concatenate([silence(5.0), noise])
    assert segment(fresh_vad, audio) == []


@pytest.mark.skipif(
    importlib.util.find_spec("localvoice.backends.asr.faster_whisper") is None,
    reason="the faster-whisper ASR backend is not written yet",
)
async def test_pre_roll_keeps_the_first_word(fresh_vad: SileroVAD, tmp_path: Path) -> None:
    audio = np.concatenate([silence(1.0), say("Stop the music now please", tmp_path), silence(1.0)])
    [utterance] = ended(segment(fresh_vad, audio))
    asr = load_backend_class("asr", "faster_whisper").from_config(Config().asr)
    try:
        transcript = await asr.transcribe(utterance.audio, language="en")
    finally:
        await asr.aclose()
    # without pre-roll the VAD onset falls after the "st" and Whisper hears "the music..."
    assert transcript.text.strip().lower().startswith("stop")
