"""Transcripts for training clips, written as GPT-SoVITS's ``.list`` file.

One clip a line: ``{absolute wav path}|{speaker}|{LANG}|{text}``, LANG one of ZH, EN, JA, KO, YUE
(GPT-SoVITS skips other codes at training). The text may hold no ``|`` and no line break.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from localvoice.errors import BadInputError
from localvoice.events import AudioClip
from localvoice.protocols import ASR

LIST_LANGUAGES = {"zh": "ZH", "en": "EN", "ja": "JA", "ko": "KO", "yue": "YUE"}


@dataclass(frozen=True, slots=True)
class Labelled:
    path: Path
    speaker: str
    language: str  # as the .list spells it: ZH, EN, ...
    text: str

    def line(self) -> str:
        return f"{self.path.resolve()}|{self.speaker}|{self.language}|{self.text}"


def list_language(code: str) -> str:
    try:
        return LIST_LANGUAGES[code.lower()]
    except KeyError:
        choices = ", ".join(LIST_LANGUAGES)
        raise BadInputError(f"GPT-SoVITS trains on {choices} only, not {code!r}: pass --language.") from None


def clean_text(text: str) -> str:
    """One line, no field separator: what the .list format can hold."""
    return " ".join(text.replace("|", " ").split())


async def transcribe_clip(asr: ASR, clip: AudioClip, language: str) -> str:
    """The clip's text (16 kHz for the ASR), cleaned for the .list; empty when no speech was heard."""
    from localvoice.audio.resample import resample

    heard = AudioClip(resample(clip.samples, clip.sample_rate_hz, 16_000), 16_000)
    transcript = await asr.transcribe(heard, asr_language(language))
    return clean_text(transcript.text)


def asr_language(code: str) -> str:
    """The ASR's language for a GPT-SoVITS one: Whisper writes Cantonese in Chinese characters as zh."""
    return "zh" if code == "yue" else code


def write_list(path: Path, entries: Iterable[Labelled]) -> None:
    path.write_text("".join(entry.line() + "\n" for entry in entries), encoding="utf-8")


def read_list(path: Path) -> list[Labelled]:
    """Parse a .list file as GPT-SoVITS does (four fields split on ``|``); a bad line is an error."""
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        fields = line.split("|")
        if len(fields) != 4 or fields[2].upper() not in LIST_LANGUAGES.values():
            raise BadInputError(f"{path}:{number} is not a GPT-SoVITS .list line: {line!r}")
        entries.append(Labelled(Path(fields[0]), fields[1], fields[2].upper(), fields[3]))
    return entries
