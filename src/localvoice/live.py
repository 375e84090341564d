"""The live loop: microphone → echo cancellation → VAD segmenter → ASR → conversation, with barge-in.

Audio keeps flowing while the assistant thinks and speaks, so the user can cut in at any moment.
The turn-taking rules, as people expect them:

- **A pause is not the end of a turn.** Each utterance the segmenter closes is a *fragment*; fragments
  join into one ``UserTurn`` until the words and the silence say it is over (``TurnRules``): a finished
  sentence is answered at once, an unfinished phrase ("我想问一下，") waits a little longer.
- **Speech before the first answer audio continues the turn.** The reply in flight is withdrawn (it
  frees the LLM and TTS at once, and leaves no trace in history) and the joined text is answered once.
- **Speech over the answer audio is barge-in** once it lasts ``min_interrupt_ms``; a shorter sound is
  judged by its words: a backchannel ("嗯", "ok") or the assistant's own echo changes nothing, "停" /
  "stop" stops the reply and just listens, anything else is barge-in too. The whole interrupting
  utterance, pauses included, becomes the next user turn.

ASR starts speculatively at a tentative pause and its result is used if the user really stopped.
When that transcript is a finished sentence (and the LLM, asked, agrees), the turn ends right there,
without waiting out ``vad.end_of_turn_ms``: should the user go on after all, the straddle rule above
withdraws the answer before it is heard and joins the words.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np

from localvoice.audio.echo import EchoCancellation
from localvoice.audio.echo_guard import SelfEchoGuard
from localvoice.audio.segmenter import Segmenter, SpeechResumed, TentativePause, UtteranceEnded
from localvoice.clock import Clock
from localvoice.config import Config
from localvoice.conversation import Conversation
from localvoice.events import (
    INPUT_RATE_HZ,
    AudioClip,
    ClauseSpoken,
    ConversationEvent,
    ConversationState,
    Notice,
    Pcm,
    ReplyAudioStarted,
    ReplyFinished,
    SpeechEnded,
    SpeechStarted,
    Transcript,
)
from localvoice.protocols import ASR, AudioSource, CaptureTimes
from localvoice.text.turn_end import TurnEnd, is_backchannel, is_stop_command, turn_end
from localvoice.user_turn import TurnRules, UserTurn

Emit = Callable[[ConversationEvent], None]
_T = TypeVar("_T")
LanguageGuess = asyncio.Task[str | None] | None
log = logging.getLogger(__name__)

# Whisper's language detection costs a whole encoder pass (~0.4 s on 2 cores). Done on the first
# second of speech while the user is still talking, it is off the critical path at the end of the turn.
EARLY_LANGUAGE_AFTER_S = 1.0
_RECENT_S = 3.0  # microphone audio kept for that early guess


@dataclass(frozen=True, slots=True)
class LiveSettings:
    mode: str = "full-duplex"  # full-duplex | headset | half-duplex | push-to-talk
    # Speech over the answer audio this long interrupts by its length alone; shorter sounds are
    # judged by their words. Above a backchannel ("嗯", "ok": 0.2–0.45 s), as LiveKit's 0.5 s default.
    min_interrupt_ms: int = 500
    language: str | None = None
    early_language: bool = True  # guess the language while the user is still talking
    rules: TurnRules = field(default_factory=TurnRules)
    end_of_turn_llm: bool = True  # ask the LLM whether the words are finished, when it can tell
    end_of_turn_wait_ms: int = 1000  # longest a turn waits for that answer before the rules decide
    end_on_words: bool = True  # a finished sentence ends the turn at the tentative pause

    @classmethod
    def from_config(cls, config: Config, mode: str | None = None) -> LiveSettings:
        return cls(
            mode=mode or config.audio.mode,
            min_interrupt_ms=config.conversation.min_interrupt_ms,
            language=config.asr.language or None,
            early_language=config.asr.early_language_detection,
            rules=TurnRules(
                incomplete_wait_ms=config.conversation.incomplete_wait_ms,
                stop_grace_ms=config.conversation.stop_grace_ms,
                end_of_turn_threshold=config.conversation.end_of_turn_threshold,
            ),
            end_of_turn_llm=config.conversation.end_of_turn_llm,
            end_of_turn_wait_ms=config.conversation.end_of_turn_wait_ms,
            end_on_words=config.conversation.end_on_words,
        )


class LiveLoop:
    def __init__(
        self,
        conversation: Conversation,
        asr: ASR,
        source: AudioSource,
        segmenter: Segmenter,
        echo: EchoCancellation,
        clock: Clock,
        settings: LiveSettings,
        emit: Emit,
        guard: SelfEchoGuard | None = None,
    ) -> None:
        self._conversation = conversation
        self._asr = asr
        self._source = source
        # Decided once: a protocol isinstance check costs too much to repeat for every 20 ms block.
        self._timed_source = source if isinstance(source, CaptureTimes) else None
        self._segmenter = segmenter
        self._echo = echo
        self._clock = clock
        self._settings = settings
        self._emit = emit
        self._guard = guard
        self._audio_s = 0.0  # audio time: seconds of microphone audio seen so far
        self._interrupt_due: float | None = None  # audio time at which ongoing speech becomes barge-in
        self._overlap = False  # the utterance in progress began over answer audio, not yet barge-in
        self._speculative: tuple[AudioClip, asyncio.Task[Transcript]] | None = None
        self._recent: deque[tuple[float, Pcm]] = deque()  # (audio time at block end, cleaned block)
        self._onset_s: float | None = None  # onset of the utterance in progress
        self._language: LanguageGuess = None  # early language guess for that utterance
        self._turn = UserTurn()  # what the user has said that is not answered yet
        self._answering: UserTurn | None = None  # the turn the reply in flight answers
        self._answer_due: float | None = None  # audio time at which ``_turn`` gets its answer
        self._forget_due: float | None = None  # audio time at which a stop-only turn is dropped
        self._pending_fragments = 0  # utterances ended but not transcribed yet: the turn may grow
        self._fragments: asyncio.Task[None] | None = None  # the latest fragment (they land in order)
        self._scoring: tuple[str, asyncio.Task[float | None]] | None = None  # the LLM judging words
        # (audio time the answer's first audio started, the turn it answers) while that answer plays.
        self._heard: tuple[float, UserTurn] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.talk_enabled = False  # push-to-talk: toggled by the talk key
        self.muted = False  # the microphone is ignored entirely
        self.level_dbfs = -120.0  # input level of the latest block, for the meter
        conversation.subscribe(self._on_conversation_event)

    async def run(self) -> None:
        """Listen until the source ends (or the task is cancelled)."""
        try:
            async for block in self._source.stream_frames():
                self._on_block(block)
                await asyncio.sleep(0)
        finally:
            self._drop_speculation()
            for task in list(self._tasks):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Wait for pending transcriptions and the reply in progress (used at end of input)."""
        while self._tasks or self._conversation.replying:
            await asyncio.gather(*self._tasks, return_exceptions=True)
            task = self._conversation.current_reply
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)

    # ---- audio in ----

    def _on_block(self, block: Pcm) -> None:
        captured_at = self._timed_source.last_block_at_s if self._timed_source is not None else None
        cleaned = self._echo.process_capture(block, captured_at)
        # The VAD listens to the fully cleaned audio; the recogniser gets the words unducked.
        unducked = self._echo.words_audio()
        words = cleaned if unducked is None else unducked
        self._audio_s += len(cleaned) / INPUT_RATE_HZ
        self.level_dbfs = _level_dbfs(cleaned)
        if not self._hearing():
            # Muted while speaking (half-duplex) or key released (push-to-talk): feed silence so the
            # segmenter closes any utterance in progress instead of freezing mid-word.
            cleaned, words = cleaned * 0, words * 0
        self._remember(words)
        # Only an unducked clip holds the first syllables the late-confirmed onset missed.
        self._segmenter.over_echo = (
            unducked is not None and self._conversation.state is ConversationState.SPEAKING
        )
        for event in self._segmenter.push(cleaned, words):
            self._on_segment(event)
        self._maybe_guess_language()
        due = self._interrupt_due
        # Long enough, and still talking (a short sound already over is judged by its words).
        if due is not None and self._audio_s >= due and self._segmenter.hearing_speech:
            self._interrupt_due = None
            self._barge_in()
        self._check_turn_timers()

    def _hearing(self) -> bool:
        if self.muted:
            return False
        mode = self._settings.mode
        if mode == "half-duplex":  # deaf only while its own voice plays: no echo to fear otherwise
            return self._conversation.state is not ConversationState.SPEAKING
        if mode == "push-to-talk":
            return self.talk_enabled
        return True

    def _on_segment(self, event: object) -> None:
        if isinstance(event, SpeechStarted):
            self._on_speech_started(event)
        elif isinstance(event, TentativePause):
            self._start_speculation(event.audio)
        elif isinstance(event, SpeechResumed):
            self._drop_speculation()
        elif isinstance(event, UtteranceEnded):
            self._on_utterance_ended(event)

    def _on_speech_started(self, event: SpeechStarted) -> None:
        self._emit(event)
        self._onset_s, self._language = event.at_s, None
        self._answer_due = self._forget_due = None  # the user goes on: the turn is not over
        self._overlap = False
        if not self._conversation.replying:
            if self._turn.empty and self._scores_turns():  # the LLM is idle while the user talks
                self._track(asyncio.create_task(self._conversation.prefill_next_turn()))
            return
        heard = self._heard
        # The user went on talking before the answer's first audio, which only started while the VAD
        # was still confirming the speech: the same turn. Withdraw the answer, join the words.
        if (
            heard is not None
            and event.at_s < heard[0]
            and self._conversation.withdraw_now(started=True) is not None
        ):
            self._turn, self._heard = heard[1], None
            self._emit(Notice("you went on talking: answering the whole of it"))
            return
        if self._conversation.state is ConversationState.SPEAKING:
            self._overlap = True
            self._interrupt_due = event.at_s + self._settings.min_interrupt_ms / 1000.0
        elif self._conversation.withdraw_now() is not None:
            self._emit(Notice("you went on talking: answering the whole of it"))

    def _on_utterance_ended(self, event: UtteranceEnded) -> None:
        self._interrupt_due = None
        self._onset_s = None
        self._emit(SpeechEnded(event.end_s))
        # Clock time at which the user stopped speaking, for voice-to-voice latency.
        speech_end = self._clock.now() - max(0.0, self._audio_s - event.end_s)
        overlap, self._overlap = self._overlap, False
        self._pending_fragments += 1
        previous = self._fragments
        self._fragments = self._spawn(
            self._fragment(event.audio, speech_end, event.end_s, self._language, overlap, previous)
        )

    def _barge_in(self) -> None:
        self._overlap = False
        if self._conversation.interrupt_now() is not None:
            self._answering = None  # its words were heard in part; what the user says now is new

    # ---- transcripts → the user's turn ----

    async def _fragment(
        self,
        audio: AudioClip,
        speech_end: float,
        end_s: float,
        guess: LanguageGuess,
        overlap: bool,
        previous: asyncio.Task[None] | None,
    ) -> None:
        try:
            transcript, asr_ms = await self._transcript_for(audio, speech_end, guess)
            if previous is not None:  # fragments join in the order they were spoken
                await asyncio.gather(previous, return_exceptions=True)
            self._add_fragment(transcript, speech_end, end_s, asr_ms, overlap)
            await self._judge_words()
        finally:
            self._pending_fragments -= 1
            self._check_turn_timers()

    def _add_fragment(
        self, transcript: Transcript, speech_end: float, end_s: float, asr_ms: float, overlap: bool
    ) -> None:
        text = transcript.text.strip()
        if text and self._guard is not None and self._guard.is_echo(text, self._clock.now()):
            self._emit(Notice(f"ignored my own voice: {text}"))
            text = ""
        if overlap:
            # A short sound that began over the answer audio: only words that mean something count.
            if not text or is_backchannel(text):
                return
            if self._conversation.state is ConversationState.SPEAKING:
                self._barge_in()
        if not text:
            return  # noise; a turn already waiting (its reply withdrawn for this) is re-checked
        if is_stop_command(text):
            # "停" / "stop": quiet now, and forget the question in flight; words that follow soon
            # still join this turn ("停一下。今天天气怎么样？").
            if self._conversation.replying:
                self._barge_in_or_withdraw()
            self._turn = UserTurn()
            self._emit(Notice("stopped; listening"))
        self._turn.add(text, transcript.language, speech_end, end_s, asr_ms)
        if self._turn.stop_only:
            self._forget_due = self._turn.forget_at_s(self._settings.rules)
        else:
            self._answer_due = self._turn.answer_at_s(self._settings.rules)

    async def _judge_words(self) -> None:
        """Ask the LLM whether the turn's words are finished, unless the rules already know.

        The turn is not answered meanwhile (this fragment still counts as pending); past
        ``end_of_turn_wait_ms`` the rules alone decide, and the pass goes on as the reply's prefill.
        """
        turn = self._turn
        if turn.stop_only or turn.unfinished_by_rule or not self._scores_turns():
            return
        task = self._score(turn.text)
        timer = asyncio.create_task(self._clock.sleep(self._settings.end_of_turn_wait_ms / 1000.0))
        try:  # on the loop's clock, so the virtual one of the tests is honoured too
            await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if not task.done() or task.cancelled() or task.exception() is not None:
            return
        if turn is self._turn and turn.text == self._scoring_text() and self._answer_due is not None:
            turn.done_probability = task.result()
            self._answer_due = turn.answer_at_s(self._settings.rules)

    def _scores_turns(self) -> bool:
        return self._settings.end_of_turn_llm and self._conversation.can_score_turns

    def _score(self, text: str) -> asyncio.Task[float | None]:
        """The LLM's verdict on ``text``: the one already asked for at the tentative pause, or a new one."""
        if self._scoring is None or self._scoring[0] != text:
            task = self._track(asyncio.create_task(self._conversation.end_of_turn_probability(text)))
            self._scoring = (text, task)
        return self._scoring[1]

    def _scoring_text(self) -> str | None:
        return self._scoring[0] if self._scoring is not None else None

    def _barge_in_or_withdraw(self) -> None:
        if self._conversation.withdraw_now() is None:
            self._barge_in()
        self._answering = None

    def _check_turn_timers(self) -> None:
        """Answer the turn, or drop a stop-only one, once the silence after it is long enough.

        Never while the user speaks, a fragment is still being transcribed, or a cut reply settles.
        """
        if self._pending_fragments or self._segmenter.speech_active or self._conversation.replying:
            return
        now = self._audio_s
        if self._forget_due is not None and now >= self._forget_due:
            self._forget_due = None
            if self._turn.stop_only:
                self._turn = UserTurn()
        waiting = not self._turn.empty and not self._turn.stop_only
        if self._answer_due is None and self._answering is None and waiting:
            # A turn with no answer on its way: its reply was withdrawn for what proved to be noise.
            self._answer_due = self._turn.answer_at_s(self._settings.rules)
        if self._answer_due is not None and now >= self._answer_due:
            self._answer_due = None
            turn = self._answering = self._turn
            self._conversation.start_reply(turn.text, turn.language, turn.speech_end, turn.asr_ms)

    async def _transcript_for(
        self, audio: AudioClip, speech_end: float, guess: LanguageGuess
    ) -> tuple[Transcript, float]:
        speculative, self._speculative = self._speculative, None
        started = self._clock.now()
        if speculative is not None and _same_audio(speculative[0], audio):
            transcript = await speculative[1]  # the user really stopped at the tentative pause
        else:
            if speculative is not None:
                speculative[1].cancel()
            transcript = await self._transcribe(audio, guess)
        asr_ms = round((self._clock.now() - max(started, speech_end)) * 1000.0, 1)
        return transcript, asr_ms

    # ---- speculative ASR and the early language guess ----

    def _start_speculation(self, audio: AudioClip) -> None:
        self._drop_speculation()
        task = self._track(asyncio.create_task(self._transcribe(audio, self._language)))
        self._speculative = (audio, task)
        if self._overlap:  # a short sound over the answer: its words may stop it before it ends
            task.add_done_callback(self._judge_overlap)
        elif not self._conversation.replying:
            task.add_done_callback(functools.partial(self._judge_early, audio))

    def _judge_early(self, audio: AudioClip, task: asyncio.Task[Transcript]) -> None:
        """While the silence is still being confirmed: let the LLM judge the words heard so far, and
        end the turn now if they are a finished sentence."""
        if task.cancelled() or task.exception() is not None or self._conversation.replying:
            return
        text = task.result().text.strip()
        if not text or is_stop_command(text) or is_backchannel(text):
            return
        candidate = UserTurn(self._turn.text)
        candidate.add(text, "", 0.0, 0.0, 0.0)
        if candidate.unfinished_by_rule:
            return
        scoring = self._score(candidate.text) if self._scores_turns() else None
        if not self._settings.end_on_words or turn_end(candidate.text) is not TurnEnd.COMPLETE:
            return
        if scoring is None:
            self._end_by_words(audio, None)
        else:
            scoring.add_done_callback(lambda done: self._end_by_words(audio, done))

    def _end_by_words(self, audio: AudioClip, scoring: asyncio.Task[float | None] | None) -> None:
        """End the utterance at its tentative pause, if the user is still silent and the LLM agrees."""
        speculative = self._speculative
        if speculative is None or speculative[0] is not audio or self._pending_fragments:
            return  # the user went on, or an earlier fragment is still being heard
        if self._conversation.replying:
            return
        if scoring is not None:
            if scoring.cancelled() or scoring.exception() is not None:
                return
            probability = scoring.result()
            if probability is not None and probability < self._settings.rules.end_of_turn_threshold:
                return
        event = self._segmenter.end_now()
        if event is not None:
            self._on_utterance_ended(event)

    def _judge_overlap(self, task: asyncio.Task[Transcript]) -> None:
        if task.cancelled() or task.exception() is not None or not self._overlap:
            return
        text = task.result().text.strip()
        if not text or is_backchannel(text):
            return
        if self._guard is not None and self._guard.is_echo(text, self._clock.now()):
            return
        if self._conversation.state is ConversationState.SPEAKING:
            self._barge_in()

    def _drop_speculation(self) -> None:
        if self._speculative is not None:
            self._speculative[1].cancel()  # still queued on the ASR worker: it never runs
            self._speculative = None

    def _remember(self, block: Pcm) -> None:
        self._recent.append((self._audio_s, block))
        while self._recent and self._recent[0][0] < self._audio_s - _RECENT_S:
            self._recent.popleft()

    def _maybe_guess_language(self) -> None:
        onset = self._onset_s
        wanted = self._settings.early_language and not self._settings.language and self._language is None
        if not wanted or onset is None or self._audio_s < onset + EARLY_LANGUAGE_AFTER_S:
            return
        heard = [block for end_s, block in self._recent if end_s > onset]
        speech = AudioClip(np.concatenate(heard), INPUT_RATE_HZ)
        self._language = self._track(asyncio.create_task(self._asr.detect_language(speech)))

    async def _transcribe(self, audio: AudioClip, guess: LanguageGuess) -> Transcript:
        language = self._settings.language
        if language is None and guess is not None:
            with contextlib.suppress(Exception):
                language = await asyncio.shield(guess)  # unsure (None) → the ASR detects on the whole clip
        return await self._asr.transcribe(audio, language)

    # ---- bookkeeping ----

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        return self._track(asyncio.create_task(coro))

    def _track(self, task: asyncio.Task[_T]) -> asyncio.Task[_T]:
        """Every task the loop starts is cancelled at shutdown, and a failure is said, not hidden."""
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or task.exception() is None:
            return
        error = task.exception()
        log.warning("a live-loop task failed", exc_info=error)
        self._emit(Notice(f"could not handle that utterance: {error}"))

    def _on_conversation_event(self, event: ConversationEvent) -> None:
        if isinstance(event, ClauseSpoken) and self._guard is not None:
            self._guard.remember(event.text, self._clock.now())
        elif isinstance(event, ReplyAudioStarted) and self._answering is not None:
            # The answer is being heard: its words are history now; what the user says next is new.
            if self._answering is self._turn:
                self._heard = (self._audio_s, self._turn)
                self._turn = UserTurn()
            self._answering = None
        elif isinstance(event, ReplyFinished):
            self._heard = None
            if not event.withdrawn and self._answering is self._turn:
                self._turn = UserTurn()  # answered without audio (an error, an empty reply)
            self._answering = None  # withdrawn: the turn stays and grows with what the user says


def _level_dbfs(block: Pcm) -> float:
    if len(block) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(block.astype(np.float64) ** 2)))
    return max(-120.0, 20.0 * math.log10(max(rms, 1e-6) / 32768.0))


def _same_audio(a: AudioClip, b: AudioClip) -> bool:
    return len(a.samples) == len(b.samples) and bool(np.array_equal(a.samples, b.samples))
