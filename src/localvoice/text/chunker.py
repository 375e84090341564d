"""Cut a streamed LLM reply into clauses that text-to-speech can start on early.

Rules (Chinese first, English too):

- A clause ends at 。！？；… ！？; ; and at a newline; in English at ``.`` followed by a space (or by
  Chinese text). Runs of marks ("！？", "……", "...") count as one end, and closing quotes, brackets
  and markdown emphasis right after the mark (”」』）)】》"'*_) stay with the clause.
- The first clause of a reply may also end at ，、,:： so the first audio starts early, but only
  once it weighs at least ``first_clause_min_chars``; and, with ``first_phrase_min_chars``, at a
  phrase boundary before a connective ("今天晚饭 | 可以…", "There once was a brave knight | who…",
  ``first_phrase.py``) once what comes before weighs that much, whichever comes first.
- A clause lighter than ``min_clause_chars`` is not cut off: it merges into the next clause.
  With the defaults (4 and 4), "好的，我来帮你查一下明天北京的天气。" is one clause, out when 。 is
  followed by anything: "好的，" alone (weight 2) is too short a sound to stand alone, whereas
  "要睡得更好，首先……" starts speaking at the comma (weight 5).
- Weight rule: every letter or digit of any script counts 1, so a Chinese character counts 1 and an
  English word counts its letters ("好的。" weighs 2, "Sure." weighs 4); punctuation, spaces and emoji
  weigh nothing.
- Never cut inside numbers (3.14, 1,000, 14:30, 1.5亿), URLs, file names, "e.g."/"i.e."/"Mr."-style
  abbreviations, initials ("J. K."), a markdown list number ("1. "), or before a lower-case word
  ("in the U.S. and", "etc. are"): an ASCII mark only ends a clause when whitespace or non-ASCII text
  follows it.

Streaming: the result does not depend on how the text is split into deltas. Where a decision needs
the next character (is "3." followed by "14"? is 。 followed by ”?) the chunker waits for it, so
a clause usually comes out one delta after its end mark. ``flush`` decides the rest as if the text
ended there. Clauses with no letter or digit at all (a lone "```" or "😀" at the end) are dropped.
"""

from __future__ import annotations

from typing import Final

from localvoice.text.first_phrase import phrase_break
from localvoice.text.script import clause_weight

# Strong ends: always end a clause (subject to the minimum weight).
_END_MARKS: Final = frozenset("。！？；…．!?;.")
# Soft ends: only for the first clause of a reply.
_SOFT_MARKS: Final = frozenset("，、,:：")
# Characters that close what the mark ended and so belong to the clause.
_CLOSERS: Final = frozenset("”’」』）)】》]\"'*_~")
# Titles and Latin shorthand that are followed by more of the same sentence.
_NEVER_END: Final = frozenset(
    {
        "mr.", "mrs.", "ms.", "dr.", "prof.", "sr.", "jr.", "st.", "mt.", "vs.", "cf.", "no.",
        "fig.", "approx.", "ca.", "e.g.", "i.e.", "eg.", "ie.", "al.", "gen.", "gov.", "rev.",
    }
)  # fmt: skip


class _NeedMore:
    """Marker: the decision needs characters that have not arrived yet."""


_NEED_MORE: Final = _NeedMore()


class SentenceChunker:
    """Pure, synchronous clause cutter: ``push`` deltas as they stream, ``flush`` at the reply's end."""

    def __init__(
        self, min_clause_chars: int = 4, first_clause_min_chars: int = 4, first_phrase_min_chars: int = 0
    ) -> None:
        self.min_clause_chars = min_clause_chars
        self.first_clause_min_chars = first_clause_min_chars
        self.first_phrase_min_chars = first_phrase_min_chars  # 0: the first clause ends at marks only
        self._buf = ""
        self._scan = 0  # everything in _buf before this index is known not to be a cut
        self._first = True

    def push(self, delta: str) -> list[str]:
        """Add a streamed delta; return the clauses it completed (often none)."""
        self._buf += delta
        return self._drain(final=False)

    def flush(self) -> list[str]:
        """End of the reply: return every clause left, and reset for the next reply."""
        clauses = self._drain(final=True)
        rest = self._buf.strip()
        if clause_weight(rest) > 0:
            clauses.append(rest)
        self.reset()
        return clauses

    def reset(self) -> None:
        """Forget any pending text (e.g. the reply was interrupted)."""
        self._buf = ""
        self._scan = 0
        self._first = True

    def _drain(self, final: bool) -> list[str]:
        clauses: list[str] = []
        while True:
            cut = self._find_cut(final)
            if cut is None:
                return clauses
            clause = self._buf[:cut].strip()
            self._buf = self._buf[cut:]
            self._scan = 0
            self._first = False
            clauses.append(clause)

    def _find_cut(self, final: bool) -> int | None:
        """Index just after the next clause end, or None (none yet; ``_scan`` remembers progress)."""
        phrase = None
        if self._first and self.first_phrase_min_chars > 0:
            phrase = phrase_break(self._buf, self.first_phrase_min_chars)
        cut = self._find_mark_cut(final, len(self._buf) if phrase is None else phrase)
        return cut if cut is not None else phrase

    def _find_mark_cut(self, final: bool, limit: int) -> int | None:
        """The next clause end at a mark before ``limit`` (a phrase break that comes first wins)."""
        buf = self._buf
        i = self._scan
        while i < limit:
            ch = buf[i]
            if ch == "\n":
                if clause_weight(buf[: i + 1]) >= self.min_clause_chars:
                    return i + 1
                i += 1
                continue
            strong = ch in _END_MARKS
            if strong or (self._first and ch in _SOFT_MARKS):
                decision = self._judge(i, strong, final)
                if isinstance(decision, _NeedMore):
                    self._scan = i
                    return None
                is_cut, end = decision
                minimum = self.min_clause_chars if strong else self.first_clause_min_chars
                if is_cut and clause_weight(buf[:end]) >= minimum:
                    return end
                i = end
                continue
            i += 1
        self._scan = i
        return None

    def _judge(self, i: int, strong: bool, final: bool) -> tuple[bool, int] | _NeedMore:
        """Is the mark run starting at ``i`` a clause end? Returns (is_cut, index after the run)."""
        buf = self._buf
        marks = _END_MARKS if strong else _SOFT_MARKS
        j = i
        while j < len(buf) and buf[j] in marks:
            j += 1
        run = buf[i:j]
        while j < len(buf) and buf[j] in _CLOSERS:
            j += 1
        if j == len(buf) and not final:
            return _NEED_MORE
        nxt = buf[j] if j < len(buf) else ""
        if not run.isascii():
            return True, j  # 。！？…，、 end whatever follows
        if nxt and not nxt.isspace() and nxt.isascii():
            return False, j  # 3.14, 1,000, 14:30, e.g, example.com, a?b=1, Yahoo!Japan
        if run == ".":
            return self._judge_period(i, j, final)
        return True, j

    def _judge_period(self, i: int, j: int, final: bool) -> tuple[bool, int] | _NeedMore:
        """A single '.' followed by whitespace, non-ASCII text or the end: sentence end or not?"""
        buf = self._buf
        start = i
        while start > 0 and buf[start - 1].isascii() and (buf[start - 1].isalnum() or buf[start - 1] == "."):
            start -= 1
        token = buf[start : i + 1]
        if token.lower() in _NEVER_END:
            return False, j
        if len(token) == 2 and token[0].isupper():
            return False, j  # an initial: "J. K. Rowling"
        if token[:-1].isdigit() and _at_line_start(buf, start):
            return False, j  # a markdown list number "1. "
        # Look past spaces for the next word: a lower-case word continues the sentence.
        k = j
        while k < len(buf) and buf[k] in " \t":
            k += 1
        if k == len(buf):
            return (True, j) if final else _NEED_MORE
        nxt = buf[k]
        if nxt.isascii() and nxt.islower():
            return False, j
        return True, j


def _at_line_start(buf: str, index: int) -> bool:
    """True when only spaces (or markdown quote/bullet marks) stand between ``index`` and a line start."""
    prefix = buf[:index]
    line = prefix[prefix.rfind("\n") + 1 :]
    return line.strip(" \t>") == ""
