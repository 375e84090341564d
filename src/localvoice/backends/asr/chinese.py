"""Post-processing of Whisper output: simplified Chinese, and the phrases Whisper invents on silence.

Whisper was trained on subtitled video, so on silence or noise it tends to "hear" subtitle credits and
sign-offs. Those are dropped only when the audio gives them no support (a high no-speech probability
or a near-silent clip), so a user who really says "thank you" is still heard.

Chinese is decoded without a prompt and converted to simplified characters here. The prompt that used
to steer Whisper toward simplified characters ("以下是普通话的句子，使用简体中文。") was echoed into
short transcripts and invented whole on noise, and pulled words toward wrong homophones; measured on
human speech, dropping it lowered the error rate (BENCHMARKS.md, "Mandarin on human speech"). Its
clauses, and the other Chinese-prompt boilerplate Whisper learned, are still cut from any transcript.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol

import opencc

from localvoice.text.script import CJK_CLASS, CJK_PUNCT_CLASS


class _Converter(Protocol):
    def convert(self, text: str) -> str: ...


@functools.cache
def _t2s() -> _Converter:
    converter: _Converter = opencc.OpenCC("t2s")
    return converter


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese, character by character (OpenCC ``t2s``, no idiom changes)."""
    return _t2s().convert(text) if text else text


_FULL_WIDTH = {",": "，", "?": "？", "!": "！", ";": "；", ":": "：", ".": "。"}
# ASCII punctuation right after a Chinese character (spaces around it go too); "3.14" stays.
_ASCII_PUNCT_AFTER_CJK = re.compile(f"(?<=[{CJK_CLASS}])\\s*([,?!;:.])(?![0-9])\\s*")
_SPACE_BETWEEN_CJK = re.compile(f"(?<=[{CJK_CLASS}{CJK_PUNCT_CLASS}])\\s+(?=[{CJK_CLASS}{CJK_PUNCT_CLASS}])")


def tidy_chinese(text: str) -> str:
    """Simplified characters, full-width punctuation and no spaces between Chinese characters, as
    Chinese is written (unprompted, Whisper writes "今天有什么 新闻?")."""
    text = _ASCII_PUNCT_AFTER_CJK.sub(lambda m: _FULL_WIDTH[m.group(1)], to_simplified(text))
    return _SPACE_BETWEEN_CJK.sub("", text)


# Matched against normalised text (simplified, lower case, no spaces or punctuation).
# Credits and channel sign-offs: nobody says these to a voice assistant.
_CREDIT_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"请不吝点赞",
        r"订阅转发打赏",
        r"明镜与点点",
        r"字幕由.*提供",
        r"字幕(志愿者|制作|翻译|校对)",
        r"amara",
        r"优优独播剧场",
        r"yoyotelevision",
        r"词曲李宗盛",
        r"(谢谢|感谢)(大家)?(观看|收看|收听)",
        r"(欢迎|记得|请)(点赞)?订阅",
        r"下期(节目)?再见",
        r"subtitlesby",
        r"subtitledby",
        r"captionsby",
        r"transcribedby",
        r"thank(s|you)(very|so)?(much)?forwatching",
        r"pleasesubscribe",
        r"likeandsubscribe",
        r"seeyouinthenextvideo",
    )
)
# Short sign-offs a user might really say: dropped only when the model itself doubts any speech.
_SIGN_OFFS = frozenset({"thankyou", "thanks", "bye", "byebye", "谢谢", "谢谢大家", "再见", "you"})

NO_SPEECH_SUSPECT = 0.3  # above this, a credit phrase is treated as invented
NO_SPEECH_SIGN_OFF = 0.5  # above this, a bare "thank you" is treated as invented
# Whisper's own rule for a silent window: likely no speech and low confidence in the words.
NO_SPEECH_DROP = 0.6
LOGPROB_DROP = -1.0
# Whisper's own mark of a repetition loop ("I'm sorry, I'm sorry, …" on faint noise): text that gzip
# shrinks more than this. A spoken request is far below it. The backend decodes once (no temperature
# fallback, which used to re-decode such loops up to five times), so the loop is dropped here.
REPETITION_DROP = 2.4


# The old prompt's clauses and their near misses ("这位是普通话的句子" was heard on pink noise): never
# kept, whatever the audio. A user's own "用简体中文回答" is not among them.
_PROMPT_ECHO = re.compile(r"(以下|下面|这位|这)?是?普通话的句子|使用简体中文")
_CLAUSE = re.compile(r"[^，。！？；、,.!?;]+[，。！？；、,.!?;]*")


@dataclass(frozen=True, slots=True)
class SegmentScore:
    text: str
    no_speech_prob: float
    avg_logprob: float
    compression_ratio: float = 1.0


def normalize(text: str) -> str:
    """Simplified, lower-case text with spaces and punctuation removed, for phrase matching."""
    text = to_simplified(unicodedata.normalize("NFKC", text)).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def is_prompt_echo(text: str) -> bool:
    return _PROMPT_ECHO.search(normalize(text)) is not None


def strip_prompt_echo(text: str) -> str:
    """``text`` without the prompt's words: "你好世界，使用简体中文。" → "你好世界"; all echo → ""."""
    if not is_prompt_echo(text):
        return text
    kept = [_PROMPT_ECHO.sub("", to_simplified(c)) for c in _CLAUSE.findall(text) or [text]]
    joined = "".join(c for c in kept if normalize(c)).strip()
    return joined.rstrip("，、；,;") if normalize(joined) else ""


def is_hallucination(segment: SegmentScore, clip_is_quiet: bool) -> bool:
    """True when the segment is most likely invented by Whisper rather than heard."""
    if segment.no_speech_prob > NO_SPEECH_DROP and segment.avg_logprob < LOGPROB_DROP:
        return True
    if segment.compression_ratio > REPETITION_DROP:
        return True
    key = normalize(segment.text)
    if not key:
        return True  # punctuation or "..." alone
    suspect = clip_is_quiet or segment.no_speech_prob > NO_SPEECH_SUSPECT
    if suspect and any(p.search(key) for p in _CREDIT_PATTERNS):
        return True
    return key in _SIGN_OFFS and (clip_is_quiet or segment.no_speech_prob > NO_SPEECH_SIGN_OFF)
