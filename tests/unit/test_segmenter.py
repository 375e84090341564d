"""The segmenter against a scripted VAD: one speech probability per 32 ms frame."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from localvoice.audio.segmenter import (
    PRE_ROLL_OVER_ECHO_MS,
    Segmenter,
    SegmentEvent,
    SpeechResumed,
    SpeechStarted,
    TentativePause,
    UtteranceEnded,
)
from localvoice.config import VADConfig
from localvoice.errors import BadInputError, ConfigError
from localvoice.events import Pcm

FRAME = 512
RATE = 16_000
FRAME_S = FRAME / RATE
SPEECH, SILENCE = 0.9, 0.02


class ScriptedVAD:
    """Returns the next scripted probability for each frame, silence once the script runs out."""

    frame_samples = FRAME

    def __init__(self, probs: Sequence[float]) -> None:
        self.probs = list(probs)
        self.calls = 0

    def speech_probability(self, frame: Pcm) -> float:
        assert len(frame) == FRAME
        prob = self.probs[self.calls] if self.calls < len(self.probs) else 0.0
        self.calls += 1
        return prob

    def reset(self) -> None:
        pass


def ramp(n_samples: int) -> Pcm:
    """Audio whose every sample names its own position, so offsets can be checked exactly."""
    return (np.arange(n_samples) % 30_000).astype(np.int16)


def run(probs: Sequence[float], block: int = FRAME, config: VADConfig | None = None) -> list[SegmentEvent]:
    segmenter = Segmenter(ScriptedVAD(probs), config or VADConfig())
    audio = ramp(len(probs) * FRAME)
    events: list[SegmentEvent] = []
    for start in range(0, len(audio), block):
        events.extend(segmenter.push(audio[start : start + block]))
    return events


def kinds(events: Sequence[SegmentEvent]) -> list[type]:
    return [type(e) for e in events]


def ended(events: Sequence[SegmentEvent]) -> list[UtteranceEnded]:
    return [e for e in events if isinstance(e, UtteranceEnded)]


def test_pause_shorter_than_end_of_turn_keeps_one_utterance() -> None:
    # 320 ms of silence mid-sentence, below the 500 ms end of turn
    probs = [SILENCE] * 10 + [SPEECH] * 20 + [SILENCE] * 10 + [SPEECH] * 20 + [SILENCE] * 30
    [utterance] = ended(run(probs))
    assert utterance.reason == "silence"
    assert utterance.start_s == pytest.approx(10 * FRAME_S)
    assert utterance.end_s == pytest.approx(60 * FRAME_S)


def test_dip_between_thresholds_is_not_a_pause() -> None:
    # 0.4 is below threshold 0.5 but above the hysteresis floor 0.35: still speech
    probs = [SILENCE] * 5 + [SPEECH] * 10 + [0.4] * 30 + [SPEECH] * 10 + [SILENCE] * 30
    events = run(probs)
    assert kinds(events) == [SpeechStarted, TentativePause, UtteranceEnded]
    assert ended(events)[0].end_s == pytest.approx(55 * FRAME_S)


def test_clicks_shorter_than_min_speech_give_no_events() -> None:
    # 7 frames = 224 ms < 250 ms, then a 96 ms cough
    probs = [SILENCE] * 10 + [SPEECH] * 7 + [SILENCE] * 30 + [SPEECH] * 3 + [SILENCE] * 40
    assert run(probs) == []


def test_speech_started_comes_min_speech_after_onset_with_onset_time() -> None:
    segmenter = Segmenter(ScriptedVAD([SILENCE] * 10 + [SPEECH] * 40), VADConfig())
    audio = ramp(50 * FRAME)
    frames_until_start = 0
    for i in range(50):
        events = segmenter.push(audio[i * FRAME : (i + 1) * FRAME])
        if events:
            frames_until_start = i + 1 - 10
            [started] = events
            assert isinstance(started, SpeechStarted)
            assert started.at_s == pytest.approx(10 * FRAME_S)
            break
    assert frames_until_start * FRAME_S == pytest.approx(0.256)  # 250 ms rounded up to whole frames
    assert segmenter.speech_active


def test_utterance_audio_starts_pre_roll_before_onset() -> None:
    onset_frame = 20
    probs = [SILENCE] * onset_frame + [SPEECH] * 30 + [SILENCE] * 30
    [utterance] = ended(run(probs))
    onset = onset_frame * FRAME
    first_sample = onset - 300 * RATE // 1000
    assert utterance.audio_start_s == pytest.approx(first_sample / RATE)
    assert int(utterance.audio.samples[0]) == first_sample
    speech_end = (onset_frame + 30) * FRAME
    tail = 200 * RATE // 1000
    assert len(utterance.audio.samples) == speech_end + tail - first_sample
    expected = ramp(speech_end + tail)[first_sample:]
    assert np.array_equal(utterance.audio.samples, expected)


@pytest.mark.parametrize("block", [FRAME, 320, 700])
def test_the_vad_hears_one_stream_and_the_utterance_is_cut_from_the_words_stream(block: int) -> None:
    onset_frame = 20
    probs = [SILENCE] * onset_frame + [SPEECH] * 30 + [SILENCE] * 30
    vad = ScriptedVAD(probs)
    segmenter = Segmenter(vad, VADConfig())
    heard = np.zeros(len(probs) * FRAME, dtype=np.int16)  # what the VAD gets (its script decides)
    words = ramp(len(heard))
    events: list[SegmentEvent] = []
    for start in range(0, len(heard), block):
        events.extend(segmenter.push(heard[start : start + block], words[start : start + block]))
    [utterance] = ended(events)
    first_sample = onset_frame * FRAME - 300 * RATE // 1000
    assert np.array_equal(
        utterance.audio.samples, words[first_sample : first_sample + len(utterance.audio.samples)]
    )
    with pytest.raises(BadInputError, match="match the block"):
        segmenter.push(heard[:320], words[:300])


def test_over_echo_the_utterance_reaches_further_back() -> None:
    # AEC3 ducks the first syllables over a reply, so the VAD confirms the onset late.
    onset_frame = 40
    probs = [SILENCE] * onset_frame + [SPEECH] * 30 + [SILENCE] * 30
    segmenter = Segmenter(ScriptedVAD(probs), VADConfig())
    segmenter.over_echo = True
    audio = ramp(len(probs) * FRAME)
    [utterance] = ended(segmenter.push(audio))
    first_sample = onset_frame * FRAME - PRE_ROLL_OVER_ECHO_MS * RATE // 1000
    assert int(utterance.audio.samples[0]) == first_sample


def test_pre_roll_is_clamped_at_stream_start() -> None:
    [utterance] = ended(run([SILENCE] * 2 + [SPEECH] * 20 + [SILENCE] * 30))
    assert utterance.audio_start_s == 0.0
    assert int(utterance.audio.samples[0]) == 0


def test_max_length_cuts_and_continues_without_losing_audio() -> None:
    config = VADConfig(max_utterance_s=2.0)
    probs = [SILENCE] * 20 + [SPEECH] * 80 + [SILENCE] * 30
    events = run(probs, config=config)
    assert kinds(events) == [SpeechStarted, UtteranceEnded, SpeechStarted, TentativePause, UtteranceEnded]
    first, second = ended(events)
    assert first.reason == "max_length"
    assert 2.0 - FRAME_S < first.audio.duration_s <= 2.0
    assert second.reason == "silence"
    # the second piece picks up at the very sample where the first stopped
    cut = round(first.audio_start_s * RATE) + len(first.audio.samples)
    assert int(second.audio.samples[0]) == int(ramp(cut + 1)[-1])
    assert second.start_s == pytest.approx(cut / RATE)
    assert first.end_s == pytest.approx(cut / RATE)
    assert second.end_s == pytest.approx(100 * FRAME_S)


def test_tentative_pause_then_resume() -> None:
    probs = [SILENCE] * 10 + [SPEECH] * 20 + [SILENCE] * 10 + [SPEECH] * 20 + [SILENCE] * 30
    events = run(probs)
    assert kinds(events) == [SpeechStarted, TentativePause, SpeechResumed, TentativePause, UtteranceEnded]
    pause, resumed, last_pause, utterance = events[1], events[2], events[3], events[4]
    assert isinstance(pause, TentativePause) and isinstance(resumed, SpeechResumed)
    assert pause.at_s == pytest.approx(30 * FRAME_S)
    assert resumed.at_s == pytest.approx(40 * FRAME_S)
    # the speculative clip ends 200 ms into the pause; the final one holds the whole sentence
    assert isinstance(last_pause, TentativePause) and isinstance(utterance, UtteranceEnded)
    assert len(pause.audio.samples) < len(utterance.audio.samples)
    # with no resume after the last pause, its audio is exactly the utterance's
    assert np.array_equal(last_pause.audio.samples, utterance.audio.samples)


def test_end_now_closes_the_utterance_at_its_tentative_pause_only() -> None:
    segmenter = Segmenter(ScriptedVAD([SILENCE] * 10 + [SPEECH] * 20 + [SILENCE] * 30), VADConfig())
    audio = ramp(60 * FRAME)
    events: list[SegmentEvent] = []
    early: list[UtteranceEnded | None] = []
    for index in range(60):
        events.extend(segmenter.push(audio[index * FRAME : (index + 1) * FRAME]))
        early.append(segmenter.end_now() if index in (5, 20) else None)  # idle, then mid-speech
        if events and isinstance(events[-1], TentativePause):
            break
    assert early == [None] * len(early) and kinds(events) == [SpeechStarted, TentativePause]
    utterance = segmenter.end_now()
    assert utterance is not None and utterance.reason == "words"
    pause = events[-1]
    assert isinstance(pause, TentativePause) and utterance.end_s == pytest.approx(pause.at_s)
    # Exactly the speculative clip: its transcript is the utterance's.
    assert np.array_equal(pause.audio.samples, utterance.audio.samples)
    assert not segmenter.speech_active and segmenter.end_now() is None


def test_pause_shorter_than_tentative_gives_no_pause_event() -> None:
    probs = [SILENCE] * 10 + [SPEECH] * 20 + [SILENCE] * 4 + [SPEECH] * 20 + [SILENCE] * 30
    assert kinds(run(probs)) == [SpeechStarted, TentativePause, UtteranceEnded]


@pytest.mark.parametrize("block", [1, 160, 317, 320, 1000, 4097])
def test_odd_block_sizes_give_the_same_events(block: int) -> None:
    probs = (
        [SILENCE] * 7
        + [SPEECH] * 15
        + [SILENCE] * 9
        + [SPEECH] * 3
        + [SILENCE] * 20
        + [SPEECH] * 12
        + [SILENCE] * 25
    )

    def describe(events: Sequence[SegmentEvent]) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for e in events:
            audio = getattr(e, "audio", None)
            samples = audio.samples.tobytes() if audio is not None else b""
            out.append((type(e), getattr(e, "at_s", None), getattr(e, "start_s", None), samples))
        return out

    reference = run(probs)
    assert len(ended(reference)) == 2
    assert describe(run(probs, block=block)) == describe(reference)


def test_speech_active_and_reset_drop_the_utterance() -> None:
    segmenter = Segmenter(ScriptedVAD([SPEECH] * 20 + [SILENCE] * 40), VADConfig())
    audio = ramp(60 * FRAME)
    assert not segmenter.speech_active
    assert kinds(segmenter.push(audio[: 20 * FRAME])) == [SpeechStarted]
    assert segmenter.speech_active
    segmenter.reset()
    assert not segmenter.speech_active
    assert segmenter.push(audio[20 * FRAME :]) == []


def test_bad_audio_is_rejected() -> None:
    segmenter = Segmenter(ScriptedVAD([]), VADConfig())
    with pytest.raises(BadInputError):
        segmenter.push(np.zeros(512, dtype=np.float32))
    with pytest.raises(BadInputError):
        segmenter.push(np.zeros((512, 2), dtype=np.int16))


@pytest.mark.parametrize(
    "config",
    [
        VADConfig(threshold=1.5),
        VADConfig(threshold=0.5, neg_threshold=0.7),
        VADConfig(end_of_turn_ms=0),
        VADConfig(min_speech_ms=-1),
        VADConfig(max_utterance_s=0.3),
    ],
)
def test_nonsense_config_is_a_config_error(config: VADConfig) -> None:
    with pytest.raises(ConfigError):
        Segmenter(ScriptedVAD([]), config)


def test_a_short_word_just_before_speech_joins_the_utterance() -> None:
    # "Wait," (4 frames, under min_speech_ms) … 0.5 s … "what is two plus two?": one clip from "Wait,".
    probs = [SILENCE] * 20 + [SPEECH] * 4 + [SILENCE] * 16 + [SPEECH] * 30 + [SILENCE] * 40
    ended = [e for e in run(probs) if isinstance(e, UtteranceEnded)]
    assert len(ended) == 1
    wait_onset_s = 20 * FRAME_S
    assert ended[0].audio_start_s <= wait_onset_s
    assert ended[0].start_s == pytest.approx(40 * FRAME_S)  # the speech itself started later


def test_a_short_sound_long_before_speech_stays_out() -> None:
    probs = [SILENCE] * 20 + [SPEECH] * 4 + [SILENCE] * 80 + [SPEECH] * 30 + [SILENCE] * 40
    ended = [e for e in run(probs) if isinstance(e, UtteranceEnded)]
    assert ended[0].audio_start_s >= 104 * FRAME_S - VADConfig().pre_roll_ms / 1000 - 1e-9
