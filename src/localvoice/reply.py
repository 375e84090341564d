"""One spoken reply: LLM deltas → clauses → TTS ahead of playback → the sink, strictly in order.

The reply can be interrupted at any moment (barge-in): everything still running is cancelled, the sink
is cleared, and the result says exactly which part of the text the user heard, cut at the played
sample position. Nothing is left running afterwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from localvoice.clock import Clock
from localvoice.config import Config
from localvoice.errors import LocalVoiceError
from localvoice.events import (
    AudioClip,
    ClauseSpoken,
    ConversationEvent,
    ErrorOccurred,
    Message,
    ReplyAudioStarted,
    ReplyDelta,
    ReplyFinished,
    TurnTimings,
)
from localvoice.protocols import LLM, TTS, AudioSink
from localvoice.text.chunker import SentenceChunker
from localvoice.text.normalize import SpeechFilter

Emit = Callable[[ConversationEvent], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplySettings:
    max_concurrency: int = 2  # clauses synthesized at once
    max_ahead: int = 3  # synthesized clauses waiting for their turn to play
    min_clause_chars: int = 4
    first_clause_min_chars: int = 4
    first_phrase_min_chars: int = 4

    @classmethod
    def from_config(cls, config: Config) -> ReplySettings:
        return cls(
            max_concurrency=config.tts.max_concurrency,
            max_ahead=config.tts.max_ahead,
            min_clause_chars=config.text.min_clause_chars,
            first_clause_min_chars=config.text.first_clause_min_chars,
            first_phrase_min_chars=config.text.first_phrase_min_chars,
        )


@dataclass(slots=True)
class _Clause:
    """One clause: its text, the audio chunks its synthesis streams, and what the sink did with them."""

    index: int
    text: str  # as written by the model: what history records
    span_end: int  # offset in the written reply just after this clause
    chunks: asyncio.Queue[AudioClip | None] = field(default_factory=asyncio.Queue)  # None: the end
    synthesis: asyncio.Task[None] | None = None
    complete: bool = False  # the synthesis delivered all of the clause's audio
    produced_s: Fraction = Fraction(0)  # audio synthesized so far (exact, whatever the rates)
    # Each chunk handed to the sink: (its sample count, its rate, the sink's played-samples future).
    pieces: list[tuple[int, int, asyncio.Future[int]]] = field(default_factory=list)


@dataclass(slots=True)
class _Marks:
    """Clock readings of the stages of one reply."""

    llm_start: float
    speech_end: float
    first_token: float | None = None
    first_clause: float | None = None
    first_audio: float | None = None
    clauses: list[_Clause] = field(default_factory=list)


class ReplyPipeline:
    """Runs replies one at a time; ``interrupt()`` cuts the current one short."""

    def __init__(
        self,
        llm: LLM,
        tts: TTS,
        sink: AudioSink,
        clock: Clock,
        emit: Emit,
        settings: ReplySettings | None = None,
    ) -> None:
        self._llm = llm
        self._tts = tts
        self._sink = sink
        self._clock = clock
        self._emit = emit
        self._settings = settings or ReplySettings()
        self._interrupted = asyncio.Event()

    def interrupt(self) -> None:
        """Stop the reply now: silence the sink and cancel all of its work."""
        self._sink.clear()
        self._interrupted.set()

    async def run(
        self,
        turn: int,
        messages: Sequence[Message],
        speech_end_s: float | None = None,
        asr_ms: float | None = None,
    ) -> ReplyFinished:
        """Speak the reply to ``messages``; returns what was written and what was heard.

        An ``interrupt()`` that arrives before this starts running still counts: the flag is cleared
        only when a reply ends.
        """
        try:
            return await self._run(turn, messages, speech_end_s, asr_ms)
        finally:
            self._interrupted.clear()

    async def _run(
        self, turn: int, messages: Sequence[Message], speech_end_s: float | None, asr_ms: float | None
    ) -> ReplyFinished:
        now = self._clock.now()
        marks = _Marks(llm_start=now, speech_end=now if speech_end_s is None else speech_end_s)
        written: list[str] = []
        errors: list[str] = []
        tasks: list[asyncio.Task[object]] = []
        ahead: asyncio.Queue[_Clause | None] = asyncio.Queue(maxsize=max(1, self._settings.max_ahead))
        synth_slots = asyncio.Semaphore(max(1, self._settings.max_concurrency))

        was_interrupted = False
        try:
            async with asyncio.TaskGroup() as group:

                def spawn(coro: object) -> asyncio.Task[object]:
                    task: asyncio.Task[object] = group.create_task(coro)  # type: ignore[arg-type]
                    tasks.append(task)
                    return task

                spawn(self._produce(turn, messages, marks, written, errors, ahead, synth_slots, spawn))
                consumer = spawn(self._consume(turn, marks, errors, ahead))
                interrupted = spawn(self._interrupted.wait())
                await asyncio.wait({consumer, interrupted}, return_when=asyncio.FIRST_COMPLETED)
                was_interrupted = self._interrupted.is_set()
                for task in tasks:
                    if task is not consumer or was_interrupted:
                        task.cancel()
        except Exception as group_error:  # the TaskGroup's ExceptionGroup: never let it leave a reply
            message = _one_line(group_error)
            log.warning("reply %d failed", turn, exc_info=group_error)
            self._sink.clear()
            errors.insert(0, message)
            self._emit(ErrorOccurred(message, turn))

        heard = await self._heard_text("".join(written), marks.clauses)
        self._emit(self._timings(turn, marks, asr_ms))
        error = errors[0] if errors else None
        return ReplyFinished(turn, "".join(written), heard, interrupted=was_interrupted, error=error)

    async def _produce(
        self,
        turn: int,
        messages: Sequence[Message],
        marks: _Marks,
        written: list[str],
        errors: list[str],
        ahead: asyncio.Queue[_Clause | None],
        synth_slots: asyncio.Semaphore,
        spawn: Callable[[object], asyncio.Task[object]],
    ) -> None:
        chunker = SentenceChunker(
            min_clause_chars=self._settings.min_clause_chars,
            first_clause_min_chars=self._settings.first_clause_min_chars,
            first_phrase_min_chars=self._settings.first_phrase_min_chars,
        )
        speech = SpeechFilter()
        offset = 0

        async def submit(text: str) -> None:
            nonlocal offset
            written_so_far = "".join(written)
            found = written_so_far.find(text, offset)
            offset = found + len(text) if found >= 0 else len(written_so_far)
            spoken = speech.feed(text)
            if marks.first_clause is None:
                marks.first_clause = self._clock.now()
            clause = _Clause(len(marks.clauses), text, offset)
            clause.synthesis = spawn(  # type: ignore[assignment]
                self._synthesize(turn, spoken, clause, synth_slots, errors)
            )
            marks.clauses.append(clause)
            await ahead.put(clause)

        stream = self._llm.stream_chat(messages)
        try:
            try:
                async for delta in stream:
                    if not delta:
                        continue
                    if marks.first_token is None:
                        marks.first_token = self._clock.now()
                    written.append(delta)
                    self._emit(ReplyDelta(turn, delta))
                    for text in chunker.push(delta):
                        await submit(text)
            except LocalVoiceError as error:
                # Keep what the model already wrote: it is spoken and remembered; the session goes on.
                errors.append(str(error))
                self._emit(ErrorOccurred(str(error), turn))
            for text in chunker.flush():
                await submit(text)
        finally:
            # Close the stream now, not at garbage collection: that hangs up on the LLM server.
            close = getattr(stream, "aclose", None)
            if close is not None:
                await close()
            # A sentinel even when cancelled mid-reply, so the consumer never waits forever.
            if not self._interrupted.is_set():
                await ahead.put(None)

    async def _synthesize(
        self, turn: int, text: str, clause: _Clause, slots: asyncio.Semaphore, errors: list[str]
    ) -> None:
        """Stream the clause's audio into ``clause.chunks``; the consumer plays each chunk as it lands."""
        if not text.strip():  # nothing speakable (a code block, an emoji): keep order, play nothing
            clause.complete = True
            clause.chunks.put_nowait(None)
            return
        async with slots:  # held for the whole stream: at most max_concurrency clauses synthesizing
            stream = self._tts.stream_synthesize(text)
            try:
                async for chunk in stream:
                    if len(chunk.samples):
                        clause.produced_s += Fraction(len(chunk.samples), chunk.sample_rate_hz)
                        clause.chunks.put_nowait(chunk)
                clause.complete = True
            except LocalVoiceError as error:
                errors.append(str(error))
                self._emit(ErrorOccurred(str(error), turn))
            finally:
                # Close now, not at garbage collection: that hangs up on a streaming server.
                close = getattr(stream, "aclose", None)
                if close is not None:
                    await close()
        clause.chunks.put_nowait(None)

    async def _consume(
        self, turn: int, marks: _Marks, errors: list[str], ahead: asyncio.Queue[_Clause | None]
    ) -> None:
        """Clauses in order; within a clause, each chunk goes to the sink the moment it exists."""
        watchers: list[asyncio.Future[int]] = []
        while (clause := await ahead.get()) is not None:
            while (chunk := await clause.chunks.get()) is not None:
                if marks.first_audio is None:
                    marks.first_audio = self._clock.now()
                    self._emit(ReplyAudioStarted(turn))
                played = self._sink.enqueue(chunk)
                clause.pieces.append((len(chunk.samples), chunk.sample_rate_hz, played))
                watchers.append(played)
            if clause.pieces:
                size, _, last = clause.pieces[-1]
                last.add_done_callback(self._clause_watcher(turn, clause, size))
        if watchers:
            # Shielded: cancelling this wait (barge-in) must not cancel the sink's futures, which
            # still have to say how much of each chunk was heard.
            await asyncio.gather(*(asyncio.shield(watcher) for watcher in watchers))

    def _clause_watcher(
        self, turn: int, clause: _Clause, last_size: int
    ) -> Callable[[asyncio.Future[int]], None]:
        # The sink plays in order and a clear() drops everything queued: the last chunk played out
        # means the whole clause did.
        def done(future: asyncio.Future[int]) -> None:
            if clause.complete and not future.cancelled() and future.result() >= last_size:
                self._emit(ClauseSpoken(turn, clause.index, clause.text))

        return done

    async def _heard_text(self, written: str, clauses: list[_Clause]) -> str:
        """The written text up to the played sample position of the last clause that sounded.

        Within a clause the position runs across its chunks: the played share of the clause's
        audio is the heard share of its text. A clause whose stream was cut before its end has an
        unknown length: it is measured against this reply's speaking rate so far (or the audio it
        got), and never counts as heard to its last character.
        """
        heard_end = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 1.0  # one second in all for the sink to settle, however many chunks
        for clause in clauses:
            if not clause.pieces:
                synthesis = clause.synthesis
                done = synthesis is not None and synthesis.done() and not synthesis.cancelled()
                if done and clause.produced_s == 0:
                    heard_end = clause.span_end  # nothing to hear in it (e.g. a code block)
                    continue
                break
            played_s = Fraction(0)
            for size, rate_hz, future in clause.pieces:
                try:
                    wait_s = max(0.0, deadline - loop.time())
                    played = await asyncio.wait_for(asyncio.shield(future), timeout=wait_s)
                except (TimeoutError, asyncio.CancelledError):
                    played = 0
                played_s += Fraction(min(played, size), rate_hz)
                if played < size:
                    break
            if clause.complete and played_s >= clause.produced_s:
                heard_end = clause.span_end
                continue
            if played_s > 0:
                start = clause.span_end - len(clause.text)
                heard_end = start + _heard_chars(clause, played_s, clauses)
            break
        return written[:heard_end].strip()

    def _timings(self, turn: int, marks: _Marks, asr_ms: float | None) -> TurnTimings:
        def ms(start: float | None, end: float | None) -> float | None:
            return None if start is None or end is None else round((end - start) * 1000.0, 1)

        return TurnTimings(
            turn=turn,
            asr_ms=asr_ms,
            llm_first_token_ms=ms(marks.llm_start, marks.first_token),
            first_clause_ms=ms(marks.llm_start, marks.first_clause),
            tts_first_audio_ms=ms(marks.first_clause, marks.first_audio),
            voice_to_voice_ms=ms(marks.speech_end, marks.first_audio),
        )


def _heard_chars(clause: _Clause, played_s: Fraction, clauses: list[_Clause]) -> int:
    """How many characters of ``clause`` its ``played_s`` seconds of audio covered."""
    chars = len(clause.text)
    if clause.complete:
        return round(chars * played_s / clause.produced_s)
    whole = [c for c in clauses if c.complete and c.produced_s > 0]
    expected = clause.produced_s
    if whole:  # this reply's seconds per character, from its clauses that were synthesized whole
        rate = sum((c.produced_s for c in whole), Fraction(0)) / sum(len(c.text) for c in whole)
        expected = max(expected, rate * chars)
    return min(chars - 1, round(chars * played_s / expected)) if expected > 0 else 0


def _one_line(error: BaseException) -> str:
    """The first real error inside (possibly nested) exception groups, as one line for the user."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    if isinstance(error, LocalVoiceError):
        return str(error)
    return f"the reply failed ({type(error).__name__}: {error}); the conversation goes on"
