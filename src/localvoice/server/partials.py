"""Partial transcripts for the page: while the user speaks, what they said so far, about once a second.

The live loop transcribes a turn once it ends (speculatively at a pause); it does not transcribe while
the user talks. For the page's live caption this re-transcribes the utterance so far every
``EVERY_S`` of speech, one request at a time. Whisper is shared by every session and each partial is
a whole extra pass, so partials are sent only while this is the only voice session: under load the
worker belongs to the final transcripts that turns wait for. A partial still queued when the user
stops is cancelled, so it never delays the final one by more than a pass already running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from localvoice.events import (
    INPUT_RATE_HZ,
    AudioClip,
    ConversationEvent,
    SpeechEnded,
    SpeechStarted,
    TranscriptReady,
)
from localvoice.protocols import ASR
from localvoice.server.socket_audio import SocketSource

log = logging.getLogger(__name__)
EVERY_S = 1.0
MIN_AUDIO_S = 0.6  # shorter than this, Whisper guesses rather than hears
PRE_ROLL_S = 0.3  # the onset is confirmed a little after the first sound


class PartialTranscripts:
    def __init__(
        self,
        asr: ASR,
        source: SocketSource,
        send: Callable[[dict[str, Any]], None],
        language: str | None,
        alone: Callable[[], bool],
    ) -> None:
        self._asr = asr
        self._source = source
        self._send = send
        self._language = language
        self._alone = alone
        self.enabled = False
        self._onset_s: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._transcribing = False
        self._speaking = False

    def on_event(self, event: ConversationEvent) -> None:
        """Fed both the live loop's events (speech start / end) and the conversation's (transcript)."""
        if isinstance(event, SpeechStarted):
            self.stop()
            if self.enabled:
                self._onset_s, self._speaking = event.at_s, True
                self._task = asyncio.create_task(self._run(event.at_s))
        elif isinstance(event, SpeechEnded):
            # No new pass; one already on the worker finishes and is still shown (it costs no more).
            self._speaking = False
            if self._task is not None and not self._transcribing:
                self._task.cancel()
        elif isinstance(event, TranscriptReady):
            self.stop()  # the final transcript is out: a late partial must not follow it

    def stop(self) -> None:
        self._onset_s, self._speaking = None, False
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def aclose(self) -> None:
        task = self._task
        self.stop()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, onset_s: float) -> None:
        while True:
            await asyncio.sleep(EVERY_S)
            if not self._alone():
                continue
            samples = self._source.heard_since(max(0.0, onset_s - PRE_ROLL_S))
            if len(samples) < MIN_AUDIO_S * INPUT_RATE_HZ:
                continue
            self._transcribing = True
            try:
                transcript = await self._asr.transcribe(AudioClip(samples, INPUT_RATE_HZ), self._language)
            except Exception:  # a caption is a nicety: the final transcript will say what failed
                log.warning("a partial transcript failed", exc_info=True)
                return
            finally:
                self._transcribing = False
            text = transcript.text.strip()
            if text and self._onset_s == onset_s:  # still this utterance, and no final transcript yet
                self._send({"type": "transcript_partial", "text": text, "language": transcript.language})
            if not self._speaking:
                return
