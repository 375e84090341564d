"""A last line of defence against the assistant answering itself.

When echo leaks past the canceller (or there is none), the microphone hears the assistant's own
voice and the recogniser turns it into a "user" transcript. ``SelfEchoGuard`` remembers what the
assistant said recently and flags a transcript that is mostly made of those words, so the
conversation can drop it instead of treating it as a barge-in or a new question.

Matching is on normalised units: case, width, punctuation and spaces are ignored; CJK characters
(``text.script.CJK_CLASS``) count one by one, other scripts (Korean included: it spaces its words)
word by word. A transcript is an echo when at least ``threshold`` of it lies in runs shared with the
recent reply text. Runs must be long enough to be no coincidence (``min_run_weight``), so a user who
repeats a word of the reply is not an echo, and transcripts too short to judge are never called
echo: wrongly ignoring the user is worse than occasionally answering an echo.
"""

from __future__ import annotations

import re
import unicodedata
from collections import deque
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from localvoice.text.script import CJK_CLASS, is_cjk

# One CJK character, or a run of other letters/digits (a word); everything else separates units.
_UNIT = re.compile(f"[{CJK_CLASS}]|(?:(?![{CJK_CLASS}])[^\\W_])+")


def units(text: str) -> list[str]:
    """Normalised matching units: CJK characters one by one, other words whole, lower-cased."""
    return _UNIT.findall(unicodedata.normalize("NFKC", text).lower())


def _weight(unit: str) -> int:
    # A word carries about as much as two Chinese characters.
    return 1 if is_cjk(unit) else 2


@dataclass
class SelfEchoGuard:
    """Remembers the assistant's recent words and spots transcripts that are only their echo."""

    memory_s: float = 20.0  # how long a spoken clause can still come back as echo
    threshold: float = 0.6  # share of the transcript (by weight) found in the reply
    min_weight: int = 4  # shorter transcripts are never echo (4 CJK characters or 2 words)
    min_run_weight: int = 3  # shared runs lighter than this (one word, two characters) don't count
    _said: deque[tuple[float, list[str]]] = field(default_factory=deque, init=False, repr=False)

    def remember(self, text: str, at_s: float) -> None:
        """Record that the assistant spoke ``text`` (e.g. a clause, as it starts playing) at ``at_s``."""
        tokens = units(text)
        if tokens:
            self._said.append((at_s, tokens))

    def clear(self) -> None:
        self._said.clear()

    def echo_share(self, transcript: str, now_s: float) -> float:
        """Share (0-1, by weight) of ``transcript`` that repeats the assistant's recent words."""
        while self._said and self._said[0][0] < now_s - self.memory_s:
            self._said.popleft()
        heard = units(transcript)
        total = sum(_weight(u) for u in heard)
        if not heard or not self._said:
            return 0.0
        said = [u for _, tokens in self._said for u in tokens]
        matcher = SequenceMatcher(None, heard, said, autojunk=False)
        shared = 0
        for block in matcher.get_matching_blocks():
            run = sum(_weight(u) for u in heard[block.a : block.a + block.size])
            if run >= self.min_run_weight:
                shared += run
        return shared / total

    def is_echo(self, transcript: str, now_s: float) -> bool:
        """True when ``transcript`` is (mostly) the assistant's own recent words coming back."""
        if sum(_weight(u) for u in units(transcript)) < self.min_weight:
            return False
        return self.echo_share(transcript, now_s) >= self.threshold
