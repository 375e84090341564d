"""Echo cancellation on a simulated laptop: the assistant must not hear itself, the user must be heard."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile

from localvoice.audio import echo
from localvoice.audio.echo import EchoCancellation, EchoCanceller, NullEchoCanceller, make_echo_canceller
from localvoice.errors import BadInputError, MissingExtraError
from tests.echo_path import (
    RATE_HZ,
    FloatAudio,
    LaptopEchoPath,
    espeak_available,
    place,
    rms_db,
    run_duplex,
    set_level,
    speak,
    to_pcm,
)

SPEECH = Path(__file__).resolve().parents[1] / "fixtures" / "speech" / "bench"
needs_aec = pytest.mark.skipif(not echo.available(), reason="livekit (WebRTC AEC3) is not installed")

REPLY_TEXT = (
    "Sure. The weather tomorrow looks mild, with light rain in the morning and clearing skies by the "
    "afternoon, so you may want to take an umbrella when you leave."
)
USER_TEXT = "Hold on, how about Saturday instead?"
REPLY_START_S = 0.3
PLAYBACK_LEVEL_DB = -20.0
CONVERGED_S = 1.0  # AEC3 adapts within the first second of the reply


@dataclass(frozen=True)
class Voices:
    assistant: FloatAudio
    user: FloatAudio


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> Voices:
    if not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    out: Path = tmp_path_factory.mktemp("voices")
    # A low male US voice for the assistant, a higher female British voice for the user.
    return Voices(
        assistant=speak(REPLY_TEXT, "en-us+m3", 40, out, "assistant"),
        user=speak(USER_TEXT, "en-gb+f4", 70, out, "user"),
    )


@dataclass(frozen=True)
class Scene:
    playback: FloatAudio  # what the app sends to the speaker
    echo: FloatAudio  # what the microphone hears of it
    noise: FloatAudio

    @property
    def echo_level_db(self) -> float:
        start = int(REPLY_START_S * RATE_HZ)
        return rms_db(self.echo[start:][np.abs(self.playback[start:]) > 1e-4])


def scene(voices: Voices, delay_ms: float) -> Scene:
    n_samples = len(voices.assistant) + RATE_HZ
    playback = place(set_level(voices.assistant, PLAYBACK_LEVEL_DB), REPLY_START_S, n_samples)
    path = LaptopEchoPath(delay_ms=delay_ms)
    return Scene(playback, path.echo(playback), path.noise(n_samples))


def speech_starts_s(pcm: np.ndarray) -> list[float]:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    # No padding, so a start is when Silero itself first heard speech.
    options = VadOptions(min_speech_duration_ms=250, speech_pad_ms=0)
    spans = get_speech_timestamps(pcm.astype(np.float32) / 32768, options)
    return [span["start"] / RATE_HZ for span in spans]


# ---- the interface (fast) ----


@needs_aec
def test_blocks_of_any_length_come_back_as_whole_frames_without_delay() -> None:
    canceller = EchoCanceller()
    assert len(canceller.process_capture(np.zeros(320, np.int16))) == 320  # 20 ms: all of it, now
    assert len(canceller.process_capture(np.zeros(100, np.int16))) == 0  # part of a frame waits
    assert canceller.pending_capture_samples == 100
    assert len(canceller.process_capture(np.zeros(512, np.int16))) == 480  # 100 + 512 = 3 frames + 132
    assert canceller.pending_capture_samples == 132
    canceller.push_playback(np.zeros(77, np.int16))  # any playback length is accepted


@needs_aec
def test_bad_audio_and_rates_are_clear_errors() -> None:
    with pytest.raises(BadInputError, match="int16"):
        EchoCanceller().process_capture(np.zeros(160, np.float32))
    with pytest.raises(BadInputError, match="44100 Hz"):
        EchoCanceller(sample_rate_hz=44_100)
    with pytest.raises(BadInputError, match="delay"):
        EchoCanceller(reference_delay_ms=-10)


def test_without_livekit_the_error_names_the_extra_and_the_fallback_passes_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(echo, "available", lambda: False)
    with pytest.raises(MissingExtraError, match=r"pip install 'localvoice\[audio\]'"):
        EchoCanceller()
    fallback = make_echo_canceller(enabled=True)
    assert isinstance(fallback, NullEchoCanceller)
    assert not fallback.active
    mic = np.arange(-500, 500, dtype=np.int16)
    fallback.push_playback(mic)
    assert np.array_equal(fallback.process_capture(mic), mic)


# ---- the audio (slow: real speech, real AEC3, real Silero VAD) ----


@needs_aec
@pytest.mark.slow
@pytest.mark.parametrize(
    ("delay_ms", "playback_block", "capture_block"),
    [(30, 320, 320), (70, 480, 512), (120, 160, 1000)],  # odd block sizes exercise the framing
)
def test_echo_is_removed_by_at_least_20_db(
    voices: Voices, delay_ms: float, playback_block: int, capture_block: int
) -> None:
    s = scene(voices, delay_ms)
    raw = to_pcm(s.echo + s.noise)
    cleaned = run_duplex(EchoCanceller(), to_pcm(s.playback), raw, playback_block, capture_block)
    after = int((REPLY_START_S + CONVERGED_S) * RATE_HZ)
    reduction_db = rms_db(raw[after : len(cleaned)]) - rms_db(cleaned[after:])
    assert reduction_db >= 20.0


@needs_aec
@pytest.mark.slow
def test_echo_delay_beyond_aec3_range_needs_the_reference_delay(voices: Voices) -> None:
    s = scene(voices, delay_ms=700)  # e.g. Bluetooth speakers
    raw = to_pcm(s.echo + s.noise)
    after = int((REPLY_START_S + CONVERGED_S) * RATE_HZ)

    def reduction_db(canceller: EchoCanceller) -> float:
        cleaned = run_duplex(canceller, to_pcm(s.playback), raw)
        return rms_db(raw[after : len(cleaned)]) - rms_db(cleaned[after:])

    assert reduction_db(EchoCanceller()) < 10.0
    assert reduction_db(EchoCanceller(reference_delay_ms=600)) >= 20.0


@needs_aec
@pytest.mark.slow
def test_vad_hears_the_raw_echo_but_not_the_cancelled_echo(voices: Voices) -> None:
    pytest.importorskip("faster_whisper")
    for delay_ms in (30, 120):
        s = scene(voices, delay_ms)
        raw = to_pcm(s.echo + s.noise)
        assert speech_starts_s(raw), "the raw echo should sound like speech to the VAD"
        cleaned = run_duplex(EchoCanceller(), to_pcm(s.playback), raw)
        assert speech_starts_s(cleaned) == []


@needs_aec
@pytest.mark.slow
def test_vad_catches_the_user_talking_over_the_reply(voices: Voices) -> None:
    pytest.importorskip("faster_whisper")
    lags_s: list[float] = []
    for delay_ms in (40, 110):
        s = scene(voices, delay_ms)
        for onset_s in (2.0, 3.3, 4.6, 6.0):
            # The user 6 dB below the echo at the microphone: a loud reply, a user at arm's length.
            user = place(set_level(voices.user, s.echo_level_db - 6.0), onset_s, len(s.playback))
            raw = to_pcm(s.echo + s.noise + user)

            raw_starts = speech_starts_s(raw)
            assert raw_starts and raw_starts[0] < onset_s - 1.0  # raw: the reply itself is "speech"

            cleaned = run_duplex(EchoCanceller(), to_pcm(s.playback), raw)
            starts = speech_starts_s(cleaned)
            assert all(start > onset_s - 0.05 for start in starts), "echo leaked before the user spoke"
            lags_s.append(starts[0] - onset_s if starts else float("inf"))
    # AEC3 ducks the user during double talk: usually heard within a fraction of a second, sometimes
    # only at a later word when the first one falls under a loud syllable of the reply.
    assert float(np.median(lags_s)) <= 0.6, lags_s
    assert sum(lag <= 0.6 for lag in lags_s) >= len(lags_s) // 2, lags_s


def uneven_duplex(canceller: EchoCancellation, voices: Voices, timed: bool) -> float:
    """Echo reduction (dB) when the two sides run unevenly, as in a busy live loop: the speaker starts
    each 20 ms block 0-4 ms after the last one ended, and the reader takes the microphone in bursts
    a second apart (blocked by transcription meanwhile) while playback goes on being pushed."""
    reply = set_level(voices.assistant, PLAYBACK_LEVEL_DB)
    rng = np.random.default_rng(3)
    blocks = [to_pcm(reply[i : i + 320]) for i in range(0, len(reply), 320)]
    starts = REPLY_START_S + np.cumsum([0.0] + [0.020 + rng.uniform(0, 0.004) for _ in blocks[1:]])
    n_samples = round((starts[-1] + 1.0) * RATE_HZ)
    played = np.zeros(n_samples)
    for block, start_s in zip(blocks, starts, strict=True):
        first = round(start_s * RATE_HZ)
        played[first : first + len(block)] = block / 32767
    path = LaptopEchoPath(delay_ms=40)
    raw = to_pcm(path.echo(played) + path.noise(n_samples))
    out: list[np.ndarray] = []
    pushed = 0
    for start in range(0, n_samples - 320, 320):
        capture_s = start / RATE_HZ
        read_s = np.ceil(capture_s + 0.020)  # when the reader gets to this block
        while pushed < len(blocks) and starts[pushed] <= read_s:
            canceller.push_playback(blocks[pushed], float(starts[pushed]) if timed else None)
            pushed += 1
        out.append(canceller.process_capture(raw[start : start + 320], capture_s if timed else None))
    cleaned = np.concatenate(out)
    after = int((REPLY_START_S + CONVERGED_S) * RATE_HZ)
    return rms_db(raw[after : len(cleaned)]) - rms_db(cleaned[after:])


@needs_aec
@pytest.mark.slow
def test_capture_and_playback_times_keep_the_reference_in_step_with_the_echo(voices: Voices) -> None:
    # Measured: 6.5 dB without times (the reference runs up to a second ahead of its echo), 43 dB
    # with them.
    assert uneven_duplex(EchoCanceller(), voices, timed=False) < 10.0
    assert uneven_duplex(EchoCanceller(), voices, timed=True) >= 20.0


def duplex_with_words(playback: np.ndarray, capture: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AEC3's output and the words audio, with each 20 ms block pushed and captured at its time."""
    canceller = EchoCanceller()
    cleaned: list[np.ndarray] = []
    words: list[np.ndarray] = []
    for start in range(0, len(capture) - 320, 320):
        canceller.push_playback(playback[start : start + 320], start / RATE_HZ)
        cleaned.append(canceller.process_capture(capture[start : start + 320], start / RATE_HZ))
        unducked = canceller.words_audio()  # None: the same as AEC3's output
        words.append(cleaned[-1] if unducked is None else unducked)
    return np.concatenate(cleaned), np.concatenate(words)


def bench_speech(name: str) -> FloatAudio:
    """One of the project's own recorded bench questions (16 kHz), as floats."""
    audio, rate_hz = soundfile.read(SPEECH / name, dtype="float64")
    assert rate_hz == RATE_HZ
    return np.asarray(audio, dtype=np.float64)


@needs_aec
@pytest.mark.slow
@pytest.mark.parametrize("onset_s", [4.5, 6.0])
def test_the_words_audio_keeps_the_first_syllables_that_aec3_ducks(onset_s: float) -> None:
    reply = np.concatenate([bench_speech(f"zh_{name}.wav") for name in ("dinner", "sleep", "study")])
    n_samples = len(reply) + RATE_HZ
    playback = place(set_level(reply, PLAYBACK_LEVEL_DB), REPLY_START_S, n_samples)
    path = LaptopEchoPath(delay_ms=40)
    echo_alone = path.echo(playback) + path.noise(n_samples)
    # The user 6 dB under the echo: a loud reply, a user at arm's length.
    user = place(
        set_level(bench_speech("en_sleep.wav"), rms_db(path.echo(playback)) - 6.0), onset_s, n_samples
    )
    cleaned, words = duplex_with_words(to_pcm(playback), to_pcm(echo_alone + user))
    first = int(onset_s * RATE_HZ) + int(np.flatnonzero(np.abs(user[int(onset_s * RATE_HZ) :]) > 1e-3)[0])
    start = slice(first, first + int(0.3 * RATE_HZ))  # the first 300 ms of the user's speech
    said = user[start] * 32767

    def kept_db(heard: np.ndarray) -> float:
        """How much of the user's own signal is in ``heard`` (least squares: the echo left over is
        unrelated to it)."""
        gain = float(np.dot(heard[start].astype(np.float64), said) / np.dot(said, said))
        return 20 * float(np.log10(max(gain, 1e-6)))

    # Measured: the words audio keeps them within 1 dB; AEC3's output loses 8-16 dB of them.
    assert abs(kept_db(words)) < 1.5
    assert kept_db(cleaned) < -6.0
    # Once the linear filter works, the words audio has lost most of the echo as well.
    late = slice(int((REPLY_START_S + 3.5) * RATE_HZ), first)
    assert rms_db(to_pcm(echo_alone)[late]) - rms_db(words[late]) >= 12.0
