"""The conversation: history, turn numbers, state, and barge-in around the reply pipeline.

History keeps only what the user actually heard: an interrupted reply is recorded cut at the played
sample position and marked as interrupted. A reply withdrawn before its first audio (the user went on
talking, so the turn was not over) leaves no trace: its user text comes back joined with what followed.
Whatever happens inside a reply, error included, the conversation settles back to LISTENING.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from localvoice.clock import Clock
from localvoice.events import (
    ConversationEvent,
    ConversationState,
    Message,
    ReplyAudioStarted,
    ReplyFinished,
    StateChanged,
    TranscriptReady,
    TurnRecord,
    TurnTimings,
)
from localvoice.protocols import LLM, TTS, AudioSink, TurnScorer
from localvoice.reply import ReplyPipeline, ReplySettings
from localvoice.transcript_log import TranscriptLog

Observer = Callable[[ConversationEvent], None]


def compose_messages(
    system_prompt: str, history: Sequence[Message], user_text: str, now_line: str = ""
) -> list[Message]:
    """The request for one turn: persona, history, then the time, then the user's words.

    The time line goes in its own system message just before the newest user message, not at the
    end of the persona, and stays in history with its turn (``Conversation`` records it): each request
    then only appends to the one before, so a prompt cache (llama.cpp's) never reads the history
    again when the minute changes. Each recorded line was true at its turn; the newest comes last.
    """
    system = [Message("system", system_prompt)] if system_prompt else []
    now = [Message("system", now_line)] if now_line else []
    return [*system, *history, *now, Message("user", user_text)]


class Conversation:
    def __init__(
        self,
        llm: LLM,
        tts: TTS,
        sink: AudioSink,
        clock: Clock,
        system_prompt: str = "",
        settings: ReplySettings | None = None,
        log: TranscriptLog | None = None,
        observers: Sequence[Observer] = (),
        now_line: Callable[[], str] | None = None,
    ) -> None:
        """``now_line`` (e.g. ``now.time_teller``) is asked each turn for a line about the current time."""
        self.system_prompt = system_prompt
        self._now_line = now_line
        self.history: list[Message] = []
        self.turn = 0
        self.state = ConversationState.LISTENING
        self._clock = clock
        self._log = log
        self._observers = list(observers)
        self._timings: dict[int, TurnTimings] = {}
        self._scorer = llm if isinstance(llm, TurnScorer) else None
        self._pipeline = ReplyPipeline(llm, tts, sink, clock, self._emit, settings)
        self._reply_task: asyncio.Task[ReplyFinished] | None = None
        self._withdrawn: set[int] = set()  # turns withdrawn before any audio

    def subscribe(self, observer: Observer) -> None:
        self._observers.append(observer)

    @property
    def replying(self) -> bool:
        return self._reply_task is not None and not self._reply_task.done()

    @property
    def current_reply(self) -> asyncio.Task[ReplyFinished] | None:
        return self._reply_task

    def messages_for(self, user_text: str) -> list[Message]:
        """The request for a new turn on ``user_text``."""
        # Read fresh each turn: a model has no clock and invents the time when not told.
        now = self._now_line() if self._now_line is not None else ""
        return compose_messages(self.system_prompt, self.history, user_text, now)

    @property
    def can_score_turns(self) -> bool:
        """Whether the LLM can say if the user's words are finished (the embedded one can)."""
        return self._scorer is not None

    async def end_of_turn_probability(self, user_text: str) -> float | None:
        """The LLM's P(``user_text`` is all the user meant to say), on this turn's exact prompt.

        None when the LLM can't tell. The pass prefills the reply's prompt, so it is not wasted.
        """
        if self._scorer is None:
            return None
        return await self._scorer.end_of_turn_probability(self.messages_for(user_text))

    async def prefill_next_turn(self) -> None:
        """While the user talks: let the LLM read the next request up to the user's words.

        The persona, the history and the new time line are then cached when the words arrive, so
        judging them (and the reply) reads only the words themselves.
        """
        if self._scorer is not None:
            await self._scorer.prefill(self.messages_for("")[:-1])

    def _new_messages(self, messages: list[Message]) -> int:
        """How many messages at the end of a request are this turn's own (time line and question)."""
        return len(messages) - len(self.history) - (1 if self.system_prompt else 0)

    def start_reply(
        self,
        user_text: str,
        language: str = "",
        speech_end_s: float | None = None,
        asr_ms: float | None = None,
    ) -> asyncio.Task[ReplyFinished]:
        """Begin answering ``user_text`` in the background (a new turn)."""
        if self.replying:
            raise RuntimeError("a reply is still running: interrupt it first")
        self.turn += 1
        turn = self.turn
        self._emit(TranscriptReady(turn, user_text, language))
        self._set_state(ConversationState.THINKING)
        messages = self.messages_for(user_text)
        asked = messages[len(messages) - self._new_messages(messages) :]  # what history keeps
        task = asyncio.create_task(self._reply(turn, asked, messages, speech_end_s, asr_ms))
        self._reply_task = task
        return task

    async def reply_to(
        self,
        user_text: str,
        language: str = "",
        speech_end_s: float | None = None,
        asr_ms: float | None = None,
    ) -> ReplyFinished:
        """Answer one user message and wait until the reply has been played (or cut short)."""
        return await self.start_reply(user_text, language, speech_end_s, asr_ms)

    def interrupt_now(self) -> asyncio.Task[ReplyFinished] | None:
        """Barge-in: silence the reply at once (synchronously) and return the settling task."""
        task = self._reply_task
        if task is None or task.done():
            return None
        self._pipeline.interrupt()
        return task

    def withdraw_now(self, *, started: bool = False) -> asyncio.Task[ReplyFinished] | None:
        """The user is still talking and nothing was played yet: cancel the reply and forget the turn.

        Returns the settling task, or None when there was nothing to withdraw (no reply, or its
        audio has already started: then only ``interrupt_now`` applies). ``started``: withdraw even
        so — the user began talking before that audio, so the answer was never listened to.
        """
        task = self._reply_task
        if task is None or task.done() or (self.state is ConversationState.SPEAKING and not started):
            return None
        self._withdrawn.add(self.turn)
        self._pipeline.interrupt()
        return task

    async def interrupt(self) -> ReplyFinished | None:
        """Barge-in, then wait for the cut reply to settle into history."""
        task = self.interrupt_now()
        return None if task is None else await task

    async def _reply(
        self,
        turn: int,
        asked: list[Message],
        messages: list[Message],
        speech_end_s: float | None,
        asr_ms: float | None,
    ) -> ReplyFinished:
        finished = ReplyFinished(turn, "", "", error="the reply did not finish")
        try:
            finished = await self._pipeline.run(turn, messages, speech_end_s, asr_ms)
        finally:
            # Runs on cancellation too: the turn is settled and the microphone is live again.
            if turn in self._withdrawn:
                self._withdrawn.discard(turn)
                self._timings.pop(turn, None)
                finished = ReplyFinished(turn, finished.written, "", interrupted=True, withdrawn=True)
            else:
                self._remember(turn, asked, finished)
            self._emit(finished)
            if turn == self.turn:
                self._set_state(ConversationState.LISTENING)
        return finished

    def _remember(self, turn: int, asked: list[Message], finished: ReplyFinished) -> None:
        """History keeps the turn as it was sent (its time line too: later requests then only append)."""
        self.history.extend(asked)
        user_text = asked[-1].content
        if finished.heard:
            self.history.append(Message("assistant", finished.heard, interrupted=finished.interrupted))
        if self._log is not None:
            timings = self._timings.pop(turn, TurnTimings(turn))
            record = TurnRecord(
                turn=turn,
                user=user_text,
                assistant=finished.heard,
                interrupted=finished.interrupted,
                error=finished.error,
                timings_ms=timings.as_dict(),
            )
            self._log.append(record, written=finished.written)

    def _set_state(self, state: ConversationState) -> None:
        if state is not self.state:
            self.state = state
            self._emit(StateChanged(state))

    def _emit(self, event: ConversationEvent) -> None:
        if isinstance(event, TurnTimings):
            self._timings[event.turn] = event
        for observer in self._observers:
            observer(event)
        if isinstance(event, ReplyAudioStarted) and event.turn == self.turn:
            self._set_state(ConversationState.SPEAKING)
