"""The ASR's decoding rules without the model: allowed languages, prompt echoes, the token cap."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from localvoice.backends.asr.chinese import (
    SegmentScore,
    is_hallucination,
    is_prompt_echo,
    strip_prompt_echo,
    tidy_chinese,
)
from localvoice.backends.asr.faster_whisper import TEMPERATURES, FasterWhisperASR
from localvoice.backends.asr.languages import check_languages, pick_language
from localvoice.config import ASRConfig, Config, load_config
from localvoice.errors import ConfigError

# Whisper's scores on a 1.4 s "谢谢" (gcin-voice speaker 3): Japanese first, Chinese fourth.
THANKS_SCORES = [("ja", 0.26), ("en", 0.21), ("ko", 0.12), ("zh", 0.07), ("ru", 0.05)]


def test_the_best_allowed_language_wins_with_its_share_of_the_allowed_probability() -> None:
    language, probability = pick_language(THANKS_SCORES, ("zh", "en")) or ("", 0.0)
    assert language == "en"
    assert probability == pytest.approx(0.21 / 0.28)
    assert pick_language(THANKS_SCORES, ("zh",)) == ("zh", 1.0)


def test_an_empty_list_allows_every_language() -> None:
    language, probability = pick_language(THANKS_SCORES, ()) or ("", 0.0)
    assert language == "ja"
    assert probability == pytest.approx(0.26 / 0.71)


def test_no_allowed_language_scored_gives_none() -> None:
    assert pick_language(THANKS_SCORES, ("fr",)) is None


def test_unknown_language_codes_are_named() -> None:
    assert check_languages(["zh", "en"], {"zh", "en", "ja"}) is None
    complaint = check_languages(["zh", "chinese"], {"zh", "en"})
    assert complaint is not None and "'chinese'" in complaint and "empty list" in complaint


@pytest.mark.parametrize(
    ("heard", "kept"),
    [
        ("以下是普通话的句子，使用简体中文。", ""),  # the old prompt, whole (heard on short clips)
        ("这位是普通话的句子，使用简体中文。", ""),  # its near miss, heard on pink noise
        ("使用簡體中文", ""),  # in traditional characters
        ("你好世界，使用简体中文。", "你好世界"),  # echoed after real words
        ("你好世界使用简体中文", "你好世界"),
        ("请用简体中文回答我。", "请用简体中文回答我。"),  # the user's own words stay
        ("今天天气怎么样？", "今天天气怎么样？"),
    ],
)
def test_prompt_echoes_are_cut_out_and_the_rest_is_kept(heard: str, kept: str) -> None:
    assert strip_prompt_echo(heard) == kept
    assert is_prompt_echo(heard) == (heard != kept)


@pytest.mark.parametrize(
    ("heard", "written"),
    [
        ("現在幾點了?", "现在几点了？"),  # unprompted Whisper: traditional characters, ASCII punctuation
        ("附近有什么, 好吃的饭馆", "附近有什么，好吃的饭馆"),
        ("学习编 成 需要 多 长 时间", "学习编成需要多长时间"),
        ("约3.14公斤. 好!", "约3.14公斤。好！"),  # a decimal point stays
        ("我用 iPhone 15, 你呢?", "我用 iPhone 15, 你呢？"),  # spaces and commas around English stay
        ("Hello, world.", "Hello, world."),
    ],
)
def test_chinese_is_written_as_chinese_is_written(heard: str, written: str) -> None:
    assert tidy_chinese(heard) == written


@pytest.mark.parametrize("text", ["字幕由Amara.org社区提供", "请不吝点赞 订阅 转发 打赏支持明镜与点点栏目"])
def test_subtitle_credits_on_noise_are_dropped(text: str) -> None:
    # Loud pink noise: the clip is not quiet, but Whisper itself doubts any speech.
    assert is_hallucination(SegmentScore(text, no_speech_prob=0.45, avg_logprob=-0.6), clip_is_quiet=False)


def test_a_repetition_loop_is_dropped_but_a_short_repeat_is_kept() -> None:
    loop = "I'm sorry, " * 8  # faint noise, one capped decode
    assert is_hallucination(SegmentScore(loop, 0.2, -0.3, compression_ratio=4.0), clip_is_quiet=False)
    assert not is_hallucination(SegmentScore("谢谢谢谢", 0.05, -0.3, compression_ratio=1.1), False)


def test_defaults_are_beam_five_and_chinese_or_english() -> None:
    config = Config().asr
    assert config.beam_size == 5
    assert config.languages == ["zh", "en"]
    assert config.max_tokens_per_s == 12.0


def test_languages_and_cap_are_config_keys(tmp_path: Any) -> None:
    config = load_config(overrides=["asr.languages=[]", "asr.max_tokens_per_s=8"], environ={})
    assert config.asr.languages == []
    assert config.asr.max_tokens_per_s == 8.0


def test_built_from_its_own_section_not_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALVOICE_ASR_BEAM_SIZE", "1")
    monkeypatch.setenv("LOCALVOICE_ASR_LANGUAGES", '["ja"]')
    asr = FasterWhisperASR.from_config(ASRConfig(beam_size=3, languages=["zh"], max_tokens_per_s=10))
    assert (asr._beam_size, asr._languages, asr._max_tokens_per_s) == (3, ("zh",), 10)
    with pytest.raises(ConfigError, match="max_tokens_per_s"):
        FasterWhisperASR.from_config(ASRConfig(max_tokens_per_s=0))


def test_token_cap_grows_with_the_audio_and_stops_at_one_window() -> None:
    asr = FasterWhisperASR(max_tokens_per_s=12)
    assert asr._token_cap(1.0) == 12 + 8
    assert asr._token_cap(2.0) == 24 + 8
    assert asr._token_cap(30.0) == asr._token_cap(90.0) == 360 + 8  # the cap is per 30 s window
    assert FasterWhisperASR(max_tokens_per_s=100)._token_cap(30.0) == 440  # the decoder's own limit


@dataclass
class _Segment:
    text: str
    start: float = 0.0
    end: float = 1.0
    no_speech_prob: float = 0.05
    avg_logprob: float = -0.3
    compression_ratio: float = 0.9


@dataclass
class RecordingModel:
    """Stands in for WhisperModel.transcribe: records its arguments, returns set segments."""

    segments: list[_Segment]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def transcribe(self, samples: Any, **options: Any) -> tuple[list[_Segment], None]:
        self.calls.append(options)
        return self.segments, None


def test_chinese_is_decoded_without_a_prompt_capped_once_and_simplified() -> None:
    asr = FasterWhisperASR(beam_size=5, max_tokens_per_s=12)
    model = RecordingModel([_Segment("請打開客廳的燈, 使用簡體中文.")])
    samples = np.full(24_000, 0.1, dtype=np.float32)  # 1.5 s, loud
    kept = asr._decode(model, samples, "zh")
    assert [s.text for s in kept] == ["请打开客厅的灯"]
    (options,) = model.calls
    assert options.get("initial_prompt") is None
    assert options["beam_size"] == 5
    assert options["max_new_tokens"] == 18 + 8
    assert options["temperature"] == list(TEMPERATURES) == [0.0]  # one decode, no fallback
    assert options["condition_on_previous_text"] is False
