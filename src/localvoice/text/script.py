"""Which language a clause is in, judged by its script (Chinese characters vs Latin letters)."""

from __future__ import annotations

import re
from typing import Final, Literal

Lang = Literal["zh", "en"]

# The one definition of a "CJK character" (use these, never a range of your own): Han ideographs
# (basic, extension A, compatibility) and the Japanese kana that can turn up in Chinese text. Each is
# read as one syllable by the Chinese voice, counted one by one, and written without spaces. Hangul
# is deliberately not here: Korean puts spaces between words, so it is handled word by word like
# Latin text, and neither voice speaks it.
CJK_CLASS: Final = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# CJK punctuation and full-width forms (。，、「」 ！？ Ａ１): not characters, but written without spaces too.
CJK_PUNCT_CLASS: Final = "\u3000-\u303f\uff00-\uffef"
_CJK_CHAR: Final = re.compile(f"[{CJK_CLASS}]")
_LATIN_WORD: Final = re.compile(r"[A-Za-zÀ-ɏ]+(?:'[A-Za-z]+)?")


def clause_weight(text: str) -> int:
    """Spoken weight of ``text``: its letters and digits of any script (a CJK character is 1)."""
    return sum(1 for ch in text if ch.isalnum())


def is_cjk(ch: str) -> bool:
    """True for one CJK character (see ``CJK_CLASS``)."""
    return _CJK_CHAR.fullmatch(ch) is not None


def count_cjk(text: str) -> int:
    return len(_CJK_CHAR.findall(text))


def has_cjk(text: str) -> bool:
    return _CJK_CHAR.search(text) is not None


def _is_latin(ch: str) -> bool:
    return (ch.isascii() and ch.isalpha()) or "À" <= ch <= "ɏ"


def dominant_language(text: str) -> Lang:
    """ "en" when the clause has more English words than Chinese characters, else "zh".

    A Chinese character is about a syllable and an English word one or two, so counting one against
    the other is a fair measure of how much of the clause each voice would speak. Ties, and clauses
    with neither (digits, punctuation), go to Chinese: the assistant is Chinese first.
    """
    cjk_chars = count_cjk(text)
    english_words = len(_LATIN_WORD.findall(text))
    return "en" if english_words > cjk_chars else "zh"


def split_by_script(text: str) -> list[tuple[str, Lang]]:
    """Cut ``text`` into runs of one script, e.g. for speaking English names with the English voice.

    Digits, spaces and punctuation join the run before them ("iPhone 15" stays English, "价格是5999元"
    stays Chinese); at the start they join the first run. Joining the texts gives back ``text``.
    Text with no letters at all is one "zh" run.
    """
    runs: list[tuple[str, Lang]] = []
    current = ""
    current_lang: Lang | None = None
    for ch in text:
        lang: Lang | None = "zh" if is_cjk(ch) else "en" if _is_latin(ch) else None
        if lang is None or lang == current_lang or current_lang is None:
            current += ch
            if current_lang is None and lang is not None:
                current_lang = lang
            continue
        runs.append((current, current_lang))
        current, current_lang = ch, lang
    if current:
        runs.append((current, current_lang or "zh"))
    return runs
