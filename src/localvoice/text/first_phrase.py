"""Where a reply's first clause may be cut short, so its first audio starts sooner.

The first audio waits for the first clause to be written and synthesized: "今天晚饭可以尝试烤蔬菜或者
煮一份清蒸鱼，" is 19 characters of LLM output and ~0.2 s of synthesis before anything sounds. A
listener hears no seam at a phrase boundary, so the first clause may end early there: before a
connective ("今天晚饭 | 可以尝试烤蔬菜…", "There once was a brave knight | who had …"). Only the first
clause is cut so; later ones keep their whole length for natural prosody, and are written and
synthesized while the first plays.
"""

from __future__ import annotations

import re
from typing import Final

from localvoice.text.script import clause_weight, is_cjk

# A phrase starts at these words (the cut goes before them). Two characters or more: a single
# character such as 和 or 的 is too often inside a word (和平, 的确).
CHINESE_CONNECTIVES: Final = (
    "或者", "还是", "而且", "并且", "但是", "不过", "因为", "所以", "然后", "如果", "可以", "就是",
    "比如", "例如", "以及", "还有", "同时", "而是", "因此", "只要", "只是", "虽然", "那么", "其实",
    "建议", "需要", "应该", "也可以", "一起", "尤其",
)  # fmt: skip
ENGLISH_CONNECTIVES: Final = frozenset(
    {
        "and", "or", "but", "so", "because", "to", "with", "for", "in", "on", "at", "of", "from",
        "by", "about", "that", "which", "who", "when", "while", "if", "as", "like", "than",
        "into", "through", "after", "before", "during", "until", "without", "where", "since",
    }
)  # fmt: skip
MIN_ENGLISH_WORDS: Final = 3  # "Try to | maintain" would be too short a sound to stand alone
_CHINESE = re.compile("|".join(sorted(CHINESE_CONNECTIVES, key=len, reverse=True)))
_WORD = re.compile(r"[A-Za-z']+")


def phrase_break(text: str, min_weight: int) -> int | None:
    """Index of the first phrase boundary in ``text`` after at least ``min_weight`` of speech.

    None when there is none yet. A break is only reported once the word after it is complete (a
    space follows the English word; both characters of a Chinese connective are there), so the
    answer does not depend on how the streamed text was split.
    """
    for match in _CHINESE.finditer(text):
        start = match.start()
        if start > 0 and is_cjk(text[start - 1]) and clause_weight(text[:start]) >= min_weight:
            return start
    words = list(_WORD.finditer(text))
    for index, match in enumerate(words):
        spaced = match.start() > 0 and text[match.start() - 1] == " "
        complete = match.end() < len(text) and text[match.end()] == " "  # not "to/file", not "today"
        if not (spaced and complete) or index < MIN_ENGLISH_WORDS:
            continue
        if match.group().lower() not in ENGLISH_CONNECTIVES:
            continue
        if clause_weight(text[: match.start()]) >= min_weight:
            return match.start()
    return None
