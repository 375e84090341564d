"""The bench questions: short everyday questions spoken by the project's TTS, with their text.

``tests/fixtures/speech/bench/manifest.json`` (made by ``bench/make_bench_questions.py``) lists
``{"file", "text", "language"}`` per question; the WAVs are 16 kHz mono int16 beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from localvoice.audio.wav import read_audio
from localvoice.errors import BadInputError
from localvoice.events import AudioClip

MANIFEST_NAME = "manifest.json"
_RELATIVE_DIR = Path("tests") / "fixtures" / "speech" / "bench"
MAKE_HINT = "make them with: .venv/bin/python bench/make_bench_questions.py"


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    language: str  # "zh" | "en"
    path: Path

    def audio(self) -> AudioClip:
        return read_audio(self.path, 16_000)


def default_dir() -> Path:
    """The repository's bench fixtures: found from the working directory, else from this source file."""
    for base in (Path.cwd(), *Path(__file__).resolve().parents):
        candidate = base / _RELATIVE_DIR
        if (candidate / MANIFEST_NAME).is_file():
            return candidate
    return Path.cwd() / _RELATIVE_DIR


def load_questions(directory: Path | None = None) -> list[Question]:
    folder = directory or default_dir()
    manifest = folder / MANIFEST_NAME
    if not manifest.is_file():
        raise BadInputError(f"the bench questions are missing ({manifest} does not exist); {MAKE_HINT}")
    try:
        entries = json.loads(manifest.read_text(encoding="utf-8"))
        questions = [Question(e["text"], e["language"], folder / e["file"]) for e in entries]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise BadInputError(f"{manifest} is not a valid bench manifest ({error}); {MAKE_HINT}") from None
    if not questions:
        raise BadInputError(f"{manifest} lists no questions; {MAKE_HINT}")
    return questions


def pick(questions: list[Question], limit: int | None) -> list[Question]:
    """The first ``limit`` questions, alternating languages so a short run still covers both."""
    if limit is None or limit >= len(questions):
        return questions
    by_language: dict[str, list[Question]] = {}
    for question in questions:
        by_language.setdefault(question.language, []).append(question)
    interleaved: list[Question] = []
    for round_ in range(max(len(group) for group in by_language.values())):
        interleaved += [group[round_] for group in by_language.values() if round_ < len(group)]
    return interleaved[: max(1, limit)]
