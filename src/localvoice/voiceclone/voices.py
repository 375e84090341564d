"""The user's cloned voices: a reference clip, its transcript, and optionally trained weights.

Each voice lives in its own folder under the user data dir (``voices/NAME/``): ``voice.json`` and a
copy of the reference clip (a copy, so deleting or moving the original breaks nothing). The voice in
use is named in ``voices/active``; ``tts.gpt_sovits.voice`` overrides it.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from localvoice.config import GptSovitsConfig, data_dir
from localvoice.errors import BadInputError, ConfigError

# GPT-SoVITS's prompt languages for a reference clip (lower case, as api_v2 spells them).
PROMPT_LANGUAGES = ("zh", "en", "ja", "ko", "yue")
_NAME = re.compile(r"^[\w][\w.-]{0,63}$")
_RECORD = "voice.json"
_ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class Voice:
    name: str
    ref_audio: str  # absolute path of the stored copy (the server reads it: keep the server local)
    prompt_text: str  # exactly what the reference clip says
    prompt_lang: str = "zh"
    aux_refs: list[str] = field(default_factory=list)  # more clips of the same voice (timbre only)
    gpt_weights: str = ""  # a trained GPT .ckpt, as the server sees the path; empty: the server's own
    sovits_weights: str = ""  # a trained SoVITS .pth

    def describe(self) -> str:
        weights = "trained weights" if self.gpt_weights or self.sovits_weights else "zero-shot"
        return f"{self.name} ({self.prompt_lang}, {weights}): “{self.prompt_text}”"


def voices_dir(config: GptSovitsConfig) -> Path:
    return Path(config.voices_dir).expanduser() if config.voices_dir else data_dir() / "voices"


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise BadInputError(
            f"{name!r} cannot name a voice: use letters, digits, '-', '_' or '.', at most 64 characters."
        )
    return name


class VoiceStore:
    """Voices on disk; every method re-reads, so two commands never disagree."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def from_config(cls, config: GptSovitsConfig) -> VoiceStore:
        return cls(voices_dir(config))

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob(f"*/{_RECORD}"))

    def get(self, name: str) -> Voice:
        record = self.root / name / _RECORD
        if not record.is_file():
            known = ", ".join(self.names()) or "none yet"
            raise BadInputError(f"there is no voice named {name!r} (voices: {known}).")
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
            return Voice(**data)
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as error:
            raise BadInputError(
                f"the voice record {record} is damaged ({error}); remove and add it again."
            ) from None

    def add(self, voice: Voice, reference: Path, replace: bool = False) -> Voice:
        """Store ``voice`` with a copy of ``reference``; returns it as stored (absolute paths)."""
        check_name(voice.name)
        folder = self.root / voice.name
        if (folder / _RECORD).exists() and not replace:
            raise BadInputError(f"a voice named {voice.name!r} exists: remove it first or pick another name.")
        folder.mkdir(parents=True, exist_ok=True)
        stored_ref = folder / "reference.wav"
        if reference.resolve() != stored_ref.resolve():
            shutil.copyfile(reference, stored_ref)
        aux: list[str] = []
        for number, clip in enumerate(voice.aux_refs, start=1):
            target = folder / f"aux_{number}{Path(clip).suffix or '.wav'}"
            shutil.copyfile(clip, target)
            aux.append(str(target.resolve()))
        stored = Voice(
            name=voice.name,
            ref_audio=str(stored_ref.resolve()),
            prompt_text=voice.prompt_text,
            prompt_lang=voice.prompt_lang,
            aux_refs=aux,
            gpt_weights=voice.gpt_weights,
            sovits_weights=voice.sovits_weights,
        )
        record = json.dumps(asdict(stored), ensure_ascii=False, indent=2)
        (folder / _RECORD).write_text(record + "\n", encoding="utf-8")
        return stored

    def remove(self, name: str) -> None:
        self.get(name)  # a clear error for an unknown name
        shutil.rmtree(self.root / name)
        if self.active_name() == name:
            (self.root / _ACTIVE).unlink(missing_ok=True)

    def use(self, name: str) -> Voice:
        voice = self.get(name)
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / _ACTIVE).write_text(name + "\n", encoding="utf-8")
        return voice

    def active_name(self) -> str | None:
        marker = self.root / _ACTIVE
        if not marker.is_file():
            return None
        name = marker.read_text(encoding="utf-8").strip()
        return name if (self.root / name / _RECORD).is_file() else None


def active_voice(config: GptSovitsConfig) -> Voice | None:
    """The voice GPT-SoVITS speaks with: ``tts.gpt_sovits.voice``, else the one chosen with ``voice use``."""
    store = VoiceStore.from_config(config)
    if config.voice:
        try:
            return store.get(config.voice)
        except BadInputError as error:
            raise ConfigError(f"tts.gpt_sovits.voice: {error}") from None
    name = store.active_name()
    return store.get(name) if name else None
