"""The user's turn as it builds up: fragments of speech, split by pauses, joined into one message.

A person pauses mid-question ("我想问一下，" … "明天北京的天气怎么样？") and mid-interruption
("停一下。" … "今天天气怎么样？"). Each pause ends an utterance for the VAD, but not the turn: the
fragments collect here until the words and the silence together say the turn is over.
"""

from __future__ import annotations

from dataclasses import dataclass

from localvoice.text.turn_end import TurnEnd, is_stop_command, join_fragments, turn_end


@dataclass(frozen=True, slots=True)
class TurnRules:
    """How long the silence after the last word must be before answering, by what the words say."""

    # Silence needed after an unfinished phrase ("我想问一下，", "and then") before answering it
    # anyway: the user is still thinking. Finished or neutral words need only the segmenter's pause.
    incomplete_wait_ms: int = 1500
    # After a bare "停" / "stop": how long more words still join the same turn ("停一下。今天天气怎么样？").
    stop_grace_ms: int = 3000
    # The LLM's P(the words are finished) below this counts as an unfinished phrase.
    end_of_turn_threshold: float = 0.01


@dataclass(slots=True)
class UserTurn:
    """Fragments heard since the last answer started playing, joined in order."""

    text: str = ""
    language: str = ""
    speech_end: float = 0.0  # clock time the latest fragment ended (for voice-to-voice)
    end_s: float = 0.0  # audio time the latest fragment ended
    asr_ms: float | None = None
    done_probability: float | None = None  # the LLM's P(these words are finished), once asked
    _longest: int = 0

    def add(self, text: str, language: str, speech_end: float, end_s: float, asr_ms: float) -> None:
        self.text = join_fragments(self.text, text)
        if len(text) >= self._longest:  # the language the user spoke most of this turn in
            self._longest = len(text)
            self.language = language or self.language
        self.speech_end = max(self.speech_end, speech_end)
        self.end_s = max(self.end_s, end_s)
        self.asr_ms = asr_ms
        self.done_probability = None  # new words: the model's word on the old ones no longer holds

    @property
    def empty(self) -> bool:
        return not self.text

    @property
    def stop_only(self) -> bool:
        """The turn so far only asks the assistant to stop: nothing to answer."""
        return is_stop_command(self.text)

    @property
    def unfinished_by_rule(self) -> bool:
        """The cheap rules already say more is coming: no model needs asking."""
        return turn_end(self.text) is TurnEnd.INCOMPLETE

    def answer_at_s(self, rules: TurnRules) -> float:
        """Audio time at which, with no more speech, this turn is over and gets its answer."""
        p = self.done_probability
        unsure = p is not None and p < rules.end_of_turn_threshold
        if self.unfinished_by_rule or unsure:
            return self.end_s + rules.incomplete_wait_ms / 1000.0
        return self.end_s

    def forget_at_s(self, rules: TurnRules) -> float:
        """For a stop-only turn: audio time after which it is dropped (the user only wanted quiet)."""
        return self.end_s + rules.stop_grace_ms / 1000.0
