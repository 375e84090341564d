"""Language detection limited to the languages the user speaks (``asr.languages``).

Whisper scores all of its 99 languages; on a second of speech it often prefers one nobody in the room
speaks (a short "停一下" came back as Japanese). Picking the best of the allowed languages, with its
probability taken among them alone, keeps the guess inside what the user can say.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable


def pick_language(scores: Iterable[tuple[str, float]], allowed: Collection[str]) -> tuple[str, float] | None:
    """The most likely allowed language and its share of the allowed languages' probability.

    ``scores`` are Whisper's ``(code, probability)`` pairs; an empty ``allowed`` allows every language.
    None when no allowed language was scored at all.
    """
    kept = [(code, p) for code, p in scores if not allowed or code in allowed]
    if not kept:
        return None
    code, best = max(kept, key=lambda item: item[1])
    total = sum(p for _, p in kept)
    return code, (best / total if total > 0 else 0.0)


def check_languages(languages: Iterable[str], known: Collection[str]) -> str | None:
    """A one-line complaint about the codes Whisper does not know, or None when all are known."""
    unknown = [code for code in languages if code not in known]
    if not unknown:
        return None
    return (
        f"asr.languages lists {', '.join(map(repr, unknown))}, which Whisper does not know; "
        "use codes such as zh and en, or an empty list for any language"
    )
