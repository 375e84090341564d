"""Quality bar of the embedded voices and ears: the packaged TTS speaks everyday assistant sentences,
the packaged ASR writes them back. CER ≤ 10% (Chinese) and WER ≤ 10% (English) after normalising
punctuation, case and the way numbers are written."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator, Sequence

import pytest
import pytest_asyncio

from localvoice.audio.resample import resample
from localvoice.backends.asr.faster_whisper import FasterWhisperASR
from localvoice.backends.tts.packaged import PackagedTTS
from localvoice.config import Config
from localvoice.events import AudioClip
from localvoice.text.numbers import verbalize

pytestmark = pytest.mark.slow

CHINESE = [
    "好的，我已经帮你设好明天早上七点的闹钟。",
    "今天北京晴，最高气温二十五度。",
    "现在是下午三点半。",
    "这家餐厅的评分是四点五分。",
    "从这里到火车站大约要走十五分钟。",
    "你的会议安排在三月五日上午十点。",
    "这本书一共有三百二十页。",
    "记得多喝水，早点休息。",
    "明天可能会下雨，出门记得带伞。",
    "我已经把音乐的音量调低了。",
    "这个月的电费是一百二十元。",
    "周末我们可以去公园散步。",
    "牛奶在冰箱的第二层。",
    "你的快递预计后天送到。",
    "番茄炒蛋要先炒鸡蛋再放番茄。",
    "上海到杭州的高铁大约一个小时。",
    "这台电脑的内存是十六个G。",
    "请问你还需要什么帮助吗？",
    "我们的航班晚点了四十分钟。",
    "今年是二零二六年。",
]

ENGLISH = [
    "Sure, I set an alarm for seven in the morning.",
    "It is sunny today with a high of twenty five degrees.",
    "Your meeting starts at ten thirty.",
    "The restaurant is open until nine in the evening.",
    "The train station is about fifteen minutes away on foot.",
    "I have added milk and eggs to your shopping list.",
    "The package should arrive the day after tomorrow.",
    "Remember to drink some water and get some rest.",
    "It might rain tomorrow, so take an umbrella.",
    "I turned the music down for you.",
    "The book has three hundred pages.",
    "Your flight is delayed by forty minutes.",
    "There are twelve eggs in a dozen.",
    "The library closes at six on Sundays.",
    "I found three coffee shops near you.",
    "The meeting was moved to Friday afternoon.",
    "Boil the pasta for about eight minutes.",
    "The temperature will drop to five degrees tonight.",
    "Is there anything else I can help you with?",
    "Your timer for twenty minutes has started.",
]


def _chinese_units(text: str) -> list[str]:
    text = verbalize(unicodedata.normalize("NFKC", text), "zh").lower()
    return [ch for ch in text if ch.isalnum()]


def _english_words(text: str) -> list[str]:
    text = verbalize(unicodedata.normalize("NFKC", text), "en").lower().replace("-", " ")
    return re.findall(r"[a-z0-9']+", text)


def _edits(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    row = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        previous, row[0] = row[0], i
        for j, hyp in enumerate(hypothesis, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ref != hyp))
    return row[-1]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def voices() -> AsyncIterator[tuple[PackagedTTS, FasterWhisperASR]]:
    config = Config()
    tts = PackagedTTS.from_config(config.tts)
    asr = FasterWhisperASR.from_config(config.asr)
    await tts.warm_up()
    await asr.warm_up()
    yield tts, asr
    await tts.aclose()
    await asr.aclose()


async def _error_rate(
    voices: tuple[PackagedTTS, FasterWhisperASR], sentences: list[str], language: str
) -> tuple[float, list[str]]:
    tts, asr = voices
    split = _chinese_units if language == "zh" else _english_words
    edits = total = 0
    misses: list[str] = []
    for sentence in sentences:
        audio = await tts.synthesize(sentence)
        clip = AudioClip(resample(audio.samples, audio.sample_rate_hz, 16_000), 16_000)
        heard = (await asr.transcribe(clip, language)).text
        reference, hypothesis = split(sentence), split(heard)
        errors = _edits(reference, hypothesis)
        edits += errors
        total += len(reference)
        if errors:
            misses.append(f"{sentence} → {heard}")
    return edits / total, misses


@pytest.mark.asyncio(loop_scope="module")
async def test_chinese_round_trip_character_error_rate(voices: tuple[PackagedTTS, FasterWhisperASR]) -> None:
    cer, misses = await _error_rate(voices, CHINESE, "zh")
    print(f"Chinese round trip: CER {cer:.1%} over {len(CHINESE)} sentences", *misses, sep="\n")
    assert cer <= 0.10, f"CER {cer:.1%}:\n" + "\n".join(misses)


@pytest.mark.asyncio(loop_scope="module")
async def test_english_round_trip_word_error_rate(voices: tuple[PackagedTTS, FasterWhisperASR]) -> None:
    wer, misses = await _error_rate(voices, ENGLISH, "en")
    print(f"English round trip: WER {wer:.1%} over {len(ENGLISH)} sentences", *misses, sep="\n")
    assert wer <= 0.10, f"WER {wer:.1%}:\n" + "\n".join(misses)
