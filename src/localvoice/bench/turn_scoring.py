"""Judging one scripted conversation from the person's side: which of their turns got an audible
answer, whether a question was split or answered half-way, whether spoken words were lost, whether a
backchannel or a cough cut the assistant off.

Shared by ``bench turn_taking`` (in-process, exact clock times) and the PulseAudio end-to-end test
(transcript log only).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from localvoice.bench.turn_scenarios import FRAGMENTS, Scenario

LATE_MS = 1000.0  # first answer audio later than this after a finished question is late
V2vKind = Literal["idle", "after_barge_in"]
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class HeardTurn:
    """One user turn as the transcript log recorded it."""

    turn: int
    user: str
    answered: bool  # some of its reply reached the speaker
    cut_by_user: bool | None  # its reply was interrupted before the harness stopped the scenario
    answer_at_s: float | None = None  # clock time the first answer audio played, when known
    decided_at_s: float | None = None  # clock time the turn was handed to the LLM, when known


@dataclass(slots=True)
class Verdict:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    invalid: str | None = None  # the script could not set up its situation; left out of the rates
    questions_with_pause: int = 0
    premature: int = 0
    content_fragments: int = 0
    lost: int = 0
    false_barge_in: bool | None = None  # backchannel and noise scenarios only
    bare_stop_ok: bool | None = None  # bare-stop scenarios only
    voice_to_voice: list[tuple[V2vKind, float]] = field(default_factory=list)
    turn_decided_ms: list[float] = field(default_factory=list)  # question end → turn handed to the LLM
    late: int = 0
    unanswered: int = 0
    timed_out: int = 0  # unanswered, though the words made the expected turn: counted as late

    @property
    def ok(self) -> bool:
        return self.invalid is None and not self.problems


def _normal(text: str) -> str:
    return _SPACE.sub("", text.lower())


def holds(text: str, fragment: str) -> bool:
    """Whether ``text`` carries every keyword of ``fragment`` (never, for a fragment without any)."""
    keywords = FRAGMENTS[fragment].keywords
    clean = _normal(text)
    return bool(keywords) and all(any(alt in clean for alt in k.split("|")) for k in keywords)


def touches(text: str, fragment: str) -> bool:
    """Whether ``text`` carries any keyword of ``fragment``: a misheard part ("capital of friends") is
    still there, so it was not cut off."""
    clean = _normal(text)
    return any(any(alt in clean for alt in k.split("|")) for k in FRAGMENTS[fragment].keywords)


def _last_step(scenario: Scenario, fragment: str) -> int:
    return max(i for i, step in enumerate(scenario.steps) if step.fragment == fragment)


def judge(
    scenario: Scenario,
    turns: Sequence[HeardTurn],
    speech_end_at: Sequence[float | None] | None = None,
    invalid: str | None = None,
) -> Verdict:
    """Compare the logged ``turns`` with what ``scenario`` expects. ``speech_end_at[i]`` is the clock
    time step ``i``'s speech ended (None: never said); with it, voice-to-voice is measured."""
    verdict = Verdict(invalid=invalid)
    answered = [t for t in turns if t.answered]
    matched: dict[int, HeardTurn] = {}  # expected index → the answered turn that holds it
    used: set[int] = set()  # turns matched, or already reported as answered half-way
    for k, expected in enumerate(scenario.answered):
        joined = " + ".join(FRAGMENTS[f].text for f in expected)
        hit = next(
            (t for t in answered if t.turn not in used and all(holds(t.user, f) for f in expected)), None
        )
        pending = None
        if hit is None:
            verdict.unanswered += 1
            pending = next(
                (t for t in turns if not t.answered and all(holds(t.user, f) for f in expected)), None
            )
            if pending is None:
                verdict.problems.append(f"no answered turn holds {joined!r}")
            else:  # the turn was right; its answer was too slow to be heard before the scenario ended
                verdict.timed_out += 1
                verdict.problems.append(f"{pending.user!r} was one turn, but its answer never played in time")
        else:
            matched[k] = hit
            used.add(hit.turn)
        if len(expected) > 1:
            verdict.questions_with_pause += 1
            # Answered before the question was over: it holds an earlier part, not the last one. (A turn
            # that holds the last part but not the first lost its start; that is lost speech, or a
            # mishearing such as 停一下 → 填一下, not a cut-off.)
            halfway = [
                t
                for t in answered
                if not touches(t.user, expected[-1]) and any(holds(t.user, f) for f in expected[:-1])
            ]
            parts = [t for t in turns if any(holds(t.user, f) for f in expected)]
            split = hit is None and pending is None and len(parts) > 1
            if halfway or split:
                verdict.premature += 1
                for t in halfway:
                    used.add(t.turn)
                    verdict.problems.append(f"answered half-way: {t.user!r}")
                if split and not halfway:
                    verdict.problems.append(f"split into turns: {[t.user for t in parts]}")
        want = scenario.interrupted[k]
        if hit is not None and want is not None and bool(hit.cut_by_user) != want:
            verdict.problems.append(f"reply to {hit.user!r} {'not ' if want else ''}cut short by the user")
        end = None if speech_end_at is None else speech_end_at[_last_step(scenario, expected[-1])]
        if hit is not None and end is not None and hit.decided_at_s is not None:
            verdict.turn_decided_ms.append((hit.decided_at_s - end) * 1000.0)
        if hit is not None and end is not None and hit.answer_at_s is not None:
            kind: V2vKind = "after_barge_in" if k > 0 and scenario.interrupted[k - 1] else "idle"
            ms = (hit.answer_at_s - end) * 1000.0
            verdict.voice_to_voice.append((kind, ms))
            verdict.late += ms > LATE_MS
    missed = [e for k, e in enumerate(scenario.answered) if k not in matched]
    for t in answered:
        if t.turn in used:
            continue
        if any(holds(t.user, expected[-1]) for expected in missed):
            verdict.problems.append(f"answered without its beginning: {t.user!r}")
        elif any(touches(t.user, f) for expected in missed for f in expected):
            verdict.problems.append(f"answered with words misheard or missing: {t.user!r}")
        else:
            verdict.problems.append(f"extra answered turn: {t.user!r}")
    content = [f for expected in scenario.answered for f in expected]
    verdict.content_fragments = len(content)
    for fragment in content:
        if not any(holds(t.user, fragment) for t in turns):
            verdict.lost += 1
            verdict.problems.append(f"lost: {FRAGMENTS[fragment].text!r} reached no user turn")
    expected_users = {t.turn for t in matched.values()}
    unanswered_logged = [t for t in turns if not t.answered and t.turn not in expected_users]
    if scenario.case in ("backchannel", "noise"):
        cut = any(t.cut_by_user for t in matched.values())
        extra = [t for t in turns if t.turn not in expected_users]
        verdict.false_barge_in = cut or bool(extra)
        for t in extra:
            if not t.answered:
                verdict.problems.append(f"a user turn from a {scenario.case}: {t.user!r}")
    elif scenario.case == "bare_stop":
        story = matched.get(0)
        verdict.bare_stop_ok = story is not None and bool(story.cut_by_user) and len(answered) == 1
    else:
        for t in unanswered_logged:
            verdict.notes.append(f"logged without an answer: {t.user!r}")
    return verdict
