"""Strip from a clause what should not be spoken: markdown, code, emoji, URLs, HTML.

``clean_for_speech`` works on one clause and copes with half a construct (a lone "**", a "```"
that opens a block, a link whose URL has not closed). Code fences span clauses, though: the chunker
cuts "```python\\nprint(1)\\n```\\n正如上面所示。" into several clauses, and only the first shows the
opening fence. ``SpeechFilter`` keeps that state across the clauses of one reply: a "```" (anywhere)
or a "~~~" (at a line start only: "哈哈~~~" is not code) opens a block that only the same marker
closes, and text inside is dropped whatever clause it lands in. A reasoning model's
"<think>…</think>" is hidden the same way. Use one filter per reply (or ``reset()`` it);
``clean_for_speech`` is a fresh filter, i.e. it assumes the clause starts outside code, so an
unmatched fence drops the rest of that clause.
"""

from __future__ import annotations

import re
from typing import Final

from localvoice.text.script import CJK_CLASS, CJK_PUNCT_CLASS, has_cjk

_HIDDEN_MARK: Final = re.compile(r"```|^[ \t]*~~~|<think>|</think>", re.MULTILINE)
_CLOSING: Final = {"```": "```", "~~~": "~~~", "<think>": "</think>"}
_HTML_TAG: Final = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_IMAGE: Final = re.compile(r"!\[([^\]\n]*)\]\([^)\n]*\)?")
_LINK: Final = re.compile(r"\[([^\]\n]*)\]\([^)\n]*\)?")
_REF_LINK: Final = re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]")
_INLINE_CODE: Final = re.compile(r"`+")
# URL characters are ASCII; stop before CJK text and drop trailing sentence punctuation from the match.
_URL: Final = re.compile(r"(?:https?://|www\.)[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+", re.IGNORECASE)
_URL_TRAILING: Final = ".,;:!?)'\""
_HEADING: Final = re.compile(r"^[ \t]{0,3}#{1,6}(?:[ \t]+|$)", re.MULTILINE)
_QUOTE: Final = re.compile(r"^[ \t]*(?:>[ \t]?)+", re.MULTILINE)
_BULLET: Final = re.compile(r"^[ \t]*[-*+•·][ \t]+", re.MULTILINE)
_NUMBERED: Final = re.compile(r"^[ \t]*\d{1,3}(?:[.)][ \t]+|、[ \t]*)", re.MULTILINE)
_RULE: Final = re.compile(r"^[ \t]*(?:[-*_=][ \t]*){3,}$", re.MULTILINE)
_TABLE_SEPARATOR: Final = re.compile(
    r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*$", re.MULTILINE
)
_EMPHASIS_RUN: Final = re.compile(r"\*{2,}|_{2,}|~{2,}")
# A single * is emphasis unless it sits between numbers or spaces (3 * 4, 3*4); a single _ is
# emphasis only at an (ASCII) word edge, so snake_case keeps its underscore.
_SINGLE_STAR: Final = re.compile(r"(?<![\d\s])\*|\*(?![\d\s])")
_SINGLE_UNDERSCORE: Final = re.compile(r"(?<!\w)_(?=[^\s_])|(?<=[^\s_])_(?!\w)", re.ASCII)
_EMPTY_BRACKETS: Final = re.compile(r"\(\s*\)|（\s*）|\[\s*\]")
_SPACE_BEFORE_PUNCT: Final = re.compile(r"\s+([,.;:!?，。！？；：、）)」』”])")
_SPACES: Final = re.compile(r"\s+")
# A space between two CJK characters or CJK punctuation marks: Chinese is written without them.
_CJK_GAP: Final = re.compile(f"(?<=[{CJK_CLASS}{CJK_PUNCT_CLASS}]) (?=[{CJK_CLASS}{CJK_PUNCT_CLASS}])")
_PICTOGRAPHS: Final = re.compile(
    "["
    "\U0001f000-\U0001faff"  # emoji, symbols and pictographs, mahjong/cards, flags
    "\u2600-\u27bf"  # miscellaneous symbols, dingbats (☀ ✅ ✨ ❤)
    "\u2b00-\u2bff"  # arrows and stars (⭐ ⬆)
    "\u2300-\u23ff"  # technical symbols used as emoji (⌚ ⏰ ⏳)
    "\ufe0e\ufe0f\u200d\u20e3"  # variation selectors, zero-width joiner, keycap
    "\U000e0020-\U000e007f"  # emoji tag sequences
    "]"
)


class SpeechFilter:
    """Stateful cleaner for the clauses of one reply: tracks code fences across clauses."""

    def __init__(self) -> None:
        self._closing = ""  # the marker that ends the hidden block we are in, or ""

    @property
    def in_code(self) -> bool:
        """Inside a code block (or a <think> block): what follows is not spoken."""
        return bool(self._closing)

    def feed(self, clause: str) -> str:
        """Return what of ``clause`` should be spoken ("" when nothing)."""
        return _clean_inline(self._drop_code(clause))

    def reset(self) -> None:
        self._closing = ""

    def _drop_code(self, text: str) -> str:
        kept: list[str] = []
        position = 0
        for match in _HIDDEN_MARK.finditer(text):
            if not self._closing:
                kept.append(text[position : match.start()])
            mark = match.group().strip()
            if not self._closing:
                self._closing = _CLOSING.get(mark, "")  # a stray </think> opens nothing
            elif mark == self._closing:
                self._closing = ""
            position = match.end()
        if not self._closing:
            kept.append(text[position:])
        return "".join(kept)


def clean_for_speech(text: str) -> str:
    """One clause, made speakable; assumes it starts outside a code block (see ``SpeechFilter``)."""
    return SpeechFilter().feed(text)


def _clean_inline(text: str) -> str:
    text = _HTML_TAG.sub(" ", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _REF_LINK.sub(r"\1", text)
    text = _URL.sub(_drop_url, text)
    text = _INLINE_CODE.sub("", text)
    text = _RULE.sub("", text)
    text = _TABLE_SEPARATOR.sub("", text)
    text = _HEADING.sub("", text)
    text = _QUOTE.sub("", text)
    text = _BULLET.sub("", text)
    text = _NUMBERED.sub("", text)
    text = "\n".join(_table_row(line) for line in text.split("\n"))
    text = _EMPHASIS_RUN.sub("", text)
    text = _SINGLE_STAR.sub("", text)
    text = _SINGLE_UNDERSCORE.sub("", text)
    text = _PICTOGRAPHS.sub("", text)
    text = _EMPTY_BRACKETS.sub("", text)
    text = _SPACES.sub(" ", text).strip()
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return _CJK_GAP.sub("", text)


def _drop_url(match: re.Match[str]) -> str:
    url = match.group(0)
    trimmed = url.rstrip(_URL_TRAILING)
    # Keep a closing bracket that belongs to the sentence, not the URL: "(see https://x.org)".
    return url[len(trimmed) :]


def _table_row(line: str) -> str:
    """ "| 名称 | 价格 |" → "名称，价格": cells become a spoken list."""
    if line.count("|") < 2:
        return line
    cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
    cells = [cell for cell in cells if cell]
    joiner = "，" if has_cjk(line) else ", "
    return joiner.join(cells)
