"""``/ws``: one voice session per WebSocket (protocol in docs/websocket.md, frames in protocol.py).

Each connection gets its own ``Conversation`` and live loop from the server's one shared ``Session``
(models loaded once), in headset mode: the browser cancels its own echo. Three tasks run per
connection — the live loop, the reader and the writer — and when any of them ends (the client left,
broke a limit, or stopped reading) all of them are cancelled, the reply in flight is stopped, the
transcript log is closed and the session slot is given back. The server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketState

from localvoice.audio.echo_guard import SelfEchoGuard
from localvoice.clock import MonotonicClock
from localvoice.conversation import Conversation
from localvoice.events import ConversationEvent, SpeechEnded, SpeechStarted
from localvoice.live import LiveLoop
from localvoice.server import pickers, protocol
from localvoice.server.partials import PartialTranscripts
from localvoice.server.protocol import (
    CLOSE_INTERNAL,
    CLOSE_NORMAL,
    CLOSE_POLICY,
    CLOSE_TOO_BIG,
    CLOSE_TRY_AGAIN,
    MAX_AUDIO_FRAME_BYTES,
    MAX_TEXT_FRAME_BYTES,
    SUBPROTOCOL,
    ProtocolError,
)
from localvoice.server.security import accepted_subprotocol, check_websocket
from localvoice.server.socket_audio import Outbox, SocketSink, SocketSource

if TYPE_CHECKING:
    from localvoice.protocols import TTS, VAD
    from localvoice.server.state import ServerState
    from localvoice.session import Session
    from localvoice.transcript_log import TranscriptLog

log = logging.getLogger(__name__)
CLOSE_TIMEOUT_S = 5.0
MODE = "headset"  # the browser's getUserMedia cancels the echo; no second canceller on the server


def add_voice_socket(app: FastAPI, state: ServerState) -> None:
    @app.websocket("/ws")
    async def voice(websocket: WebSocket) -> None:
        await serve_voice(websocket, state)


async def serve_voice(websocket: WebSocket, state: ServerState) -> None:
    if not check_websocket(websocket, state):
        await websocket.close(code=CLOSE_POLICY)  # before accept: the handshake is refused (HTTP 403)
        return
    offered = websocket.scope.get("subprotocols", [])
    await websocket.accept(
        subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else accepted_subprotocol(websocket)
    )
    if state.session is None:
        await websocket.close(code=CLOSE_TRY_AGAIN, reason="the models are still loading")
        return
    if not state.try_acquire_session():
        limit = state.config.server.max_sessions
        await websocket.close(code=CLOSE_TRY_AGAIN, reason=f"all {limit} voice sessions are in use")
        return
    try:
        await VoiceConnection(websocket, state).run()
    except Exception:  # setting the session up failed: say so in the close, never in a traceback
        log.warning("a voice session could not start", exc_info=True)
        with contextlib.suppress(Exception):
            await websocket.close(
                code=CLOSE_INTERNAL, reason="the session could not start; see the server log"
            )
    finally:
        state.release_session()


class VoiceConnection:
    def __init__(self, websocket: WebSocket, state: ServerState) -> None:
        self._websocket = websocket
        self._state = state
        self._clock = MonotonicClock()
        self._outbox = Outbox()
        self._source = SocketSource()
        self._sink = SocketSink(self._outbox, self._clock)
        self._close_code = CLOSE_NORMAL
        self._close_reason = ""
        self._typed: asyncio.Task[None] | None = None
        self._dropped_said = False
        self._partials: PartialTranscripts | None = None
        self._conversation: Conversation | None = None
        self._live: LiveLoop | None = None
        self._muted = False
        self._choice = pickers.Choice()
        self._own_tts: list[TTS] = []  # per-connection voices built here, closed here
        self._closing: set[asyncio.Task[None]] = set()
        self._picking: asyncio.Task[None] | None = None
        self._switch = asyncio.Event()  # set: restart the conversation with ``_choice``
        self._rebuilt = asyncio.Event()  # set: the conversation now in use has ``_choice``
        self._loop = asyncio.get_running_loop()

    async def run(self) -> None:
        session = self._state.session
        assert session is not None and session.asr is not None
        from localvoice.backends.vad.silero import SileroVAD

        transcript_log = self._state.new_transcript_log()
        vad = await asyncio.to_thread(SileroVAD.from_config, self._state.config.vad)  # loads an ONNX file
        config = self._state.config
        self._partials = PartialTranscripts(
            session.asr,
            self._source,
            self._outbox.put_json,
            config.asr.language or None,
            alone=lambda: self._state.voice_slots.in_use <= 1,
        )
        self._outbox.put_json(protocol.hello(transcript_log.session))
        self._outbox.put_json(self._choices_message())
        tasks = [
            asyncio.create_task(self._listen(session, vad, transcript_log), name="live"),
            asyncio.create_task(self._read(), name="reader"),
            asyncio.create_task(self._write(), name="writer"),
            asyncio.create_task(self._watch_overflow(), name="overflow"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.warning(
                        "voice session %s: %s failed",
                        transcript_log.session,
                        task.get_name(),
                        exc_info=task.exception(),
                    )
                    self._close(CLOSE_INTERNAL, "the session failed; reconnect to start a new one")
        finally:
            await self._shut_down(tasks, transcript_log)

    async def _listen(self, session: Session, vad: VAD, transcript_log: TranscriptLog) -> None:
        """The live loop; a new persona or voice restarts it around a new Conversation (fresh history)."""
        partials = self._partials
        assert partials is not None
        while True:
            offset_s = self._source.consumed_s  # the new loop's audio time starts at 0 again
            chosen = pickers.persona_session(session, self._choice.persona)
            conversation = chosen.conversation(
                self._sink,
                self._clock,
                observers=[self._send_event],
                log=transcript_log,
                tts=self._choice.tts,
            )
            conversation.subscribe(partials.on_event)  # its final transcripts

            live = session.live_loop(
                conversation,
                self._source,
                self._clock,
                self._emitter(offset_s),
                vad=vad,
                guard=SelfEchoGuard(),
                mode=MODE,
            )
            live.muted = self._muted
            self._conversation, self._live = conversation, live
            self._switch.clear()
            self._rebuilt.set()
            running = asyncio.create_task(live.run())
            switch = asyncio.create_task(self._switch.wait())
            try:
                await asyncio.wait([running, switch], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (running, switch):
                    task.cancel()
                await asyncio.gather(running, switch, return_exceptions=True)
                with contextlib.suppress(Exception):
                    await conversation.interrupt()
            if not self._switch.is_set():
                if not running.cancelled() and (error := running.exception()) is not None:
                    raise error
                return
            self._close_unused_tts()

    def _emitter(self, offset_s: float) -> Callable[[ConversationEvent], None]:
        """The live loop's events (speech start and end), on the source's audio time for the partials."""
        partials = self._partials
        assert partials is not None

        def emit(event: ConversationEvent) -> None:
            self._send_event(event)
            if isinstance(event, SpeechStarted | SpeechEnded):
                event = dataclasses.replace(event, at_s=event.at_s + offset_s)
            partials.on_event(event)

        return emit

    async def _shut_down(self, tasks: list[asyncio.Task[None]], transcript_log: TranscriptLog) -> None:
        for extra in (self._typed, self._picking):
            if extra is not None:
                tasks.append(extra)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._partials is not None:
            await self._partials.aclose()
        if self._conversation is not None:
            with contextlib.suppress(Exception):
                await self._conversation.interrupt()  # the reply in flight stops; its turn is logged as heard
        self._choice.tts = None
        self._close_unused_tts()
        await self._sink.aclose()
        await self._source.aclose()
        self._outbox.close()
        transcript_log.close()
        if self._websocket.application_state is WebSocketState.CONNECTED:
            # The client may be gone, or not reading at all: then the close cannot be sent either.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await self._websocket.close(code=self._close_code, reason=self._close_reason)

    def _close(self, code: int, reason: str) -> None:
        if self._close_code == CLOSE_NORMAL:
            self._close_code, self._close_reason = code, reason

    # ---- frames in ----

    async def _read(self) -> None:
        while True:
            message = await self._websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data: bytes | None = message.get("bytes")
            text: str | None = message.get("text")
            if data is not None:
                if len(data) > MAX_AUDIO_FRAME_BYTES:
                    self._close(CLOSE_TOO_BIG, f"audio frames are limited to {MAX_AUDIO_FRAME_BYTES} bytes")
                    return
                self._on_audio(data)
            elif text is not None:
                if len(text.encode("utf-8")) > MAX_TEXT_FRAME_BYTES:
                    self._close(CLOSE_TOO_BIG, f"text frames are limited to {MAX_TEXT_FRAME_BYTES} bytes")
                    return
                try:
                    self._on_message(protocol.parse_client_text(text))
                except ProtocolError as error:
                    self._outbox.put_json(protocol.error_event("bad_message", str(error)))

    def _on_audio(self, data: bytes) -> None:
        try:
            protocol.check_audio_frame(data)
        except ProtocolError as error:
            self._outbox.put_json(protocol.error_event("bad_audio", str(error)))
            return
        self._source.push(data)
        if self._source.dropped_s > 0 and not self._dropped_said:
            self._dropped_said = True
            message = "the server fell behind and dropped microphone audio; speak again"
            self._outbox.put_json(protocol.error_event("audio_dropped", message))

    def _on_message(self, message: protocol.ClientMessage) -> None:
        conversation, live = self._conversation, self._live
        if conversation is None or live is None:  # the first live loop is not built yet: a moment
            self._outbox.put_json(protocol.error_event("not_ready", "the session is starting; retry"))
            return
        match message:
            case protocol.Listen(on=on):
                self._muted = live.muted = not on
            case protocol.TextInput(text=text):
                if self._typed is not None and not self._typed.done():
                    self._typed.cancel()
                self._typed = asyncio.create_task(self._answer_typed(text))
            case protocol.Interrupt():
                conversation.interrupt_now()
            case protocol.Ping(id=ident):
                self._outbox.put_json({"type": "pong", "id": ident})
            case protocol.Played(samples=samples):
                self._sink.on_played(samples)
            case protocol.Cleared(id=clear_id, played=played):
                self._sink.on_cleared(clear_id, played)
            case protocol.Configure(
                playback_reports=reports, partials=partials, persona=persona, voice=voice
            ):
                if reports is not None:
                    self._sink.reports = reports
                if partials is not None and self._partials is not None:
                    self._partials.enabled = partials
                if persona is not None or voice is not None:
                    self._pick(persona, voice)

    async def _answer_typed(self, text: str) -> None:
        """A typed message cuts the reply in flight, as speaking over it would, then gets its own."""
        if self._picking is not None:  # a persona or voice being set up answers this message
            await asyncio.gather(self._picking, return_exceptions=True)
        conversation = self._conversation
        assert conversation is not None
        while conversation.replying:
            await conversation.interrupt()
        conversation.start_reply(text, "", self._clock.now())

    # ---- persona and voice ----

    def _choices_message(self) -> dict[str, Any]:
        choice, state = self._choice, self._state
        llm = state.session.llm if state.session is not None else None
        return pickers.choices_message(state.config, llm, choice.persona, choice.voice)

    def _pick(self, persona: str | None, voice: str | None) -> None:
        previous = self._picking
        self._picking = asyncio.create_task(self._apply_pick(previous, persona, voice))

    async def _apply_pick(
        self, previous: asyncio.Task[None] | None, persona: str | None, voice: str | None
    ) -> None:
        """Check and build the choice, then restart the conversation with it; a bad one: one error line."""
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        session, choice = self._state.session, self._choice
        assert session is not None
        try:
            if persona is not None and persona != choice.persona:
                pickers.persona_session(session, persona)  # checks it before anything changes
            tts = choice.tts
            if voice is not None and voice != choice.voice:
                tts = await asyncio.to_thread(
                    pickers.build_voice_tts, self._state.config, voice, self._notify
                )
        except pickers.PickError as error:
            self._outbox.put_json(protocol.error_event("bad_choice", str(error)))
            return
        if tts is not choice.tts:
            if tts is not None:
                self._own_tts.append(tts)
            choice.tts, choice.voice = tts, voice or ""
        if persona is not None:
            choice.persona = persona
        self._rebuilt.clear()
        self._switch.set()
        await self._rebuilt.wait()  # the live loop restarted with the choice
        message = self._choices_message() | {"restarted": True}
        self._outbox.put_json(message)

    def _notify(self, line: str) -> None:
        """Called from the TTS build thread: the notice is queued on the event loop's thread."""
        self._loop.call_soon_threadsafe(self._outbox.put_json, {"type": "notice", "message": line})

    def _close_unused_tts(self) -> None:
        for tts in [t for t in self._own_tts if t is not self._choice.tts]:
            self._own_tts.remove(tts)
            self._closing.add(task := asyncio.create_task(tts.aclose()))
            task.add_done_callback(self._closing.discard)

    # ---- frames out ----

    def _send_event(self, event: ConversationEvent) -> None:
        message = protocol.event_message(event)
        if message is not None:
            self._outbox.put_json(message)

    async def _write(self) -> None:
        while (frame := await self._outbox.next()) is not None:
            try:
                if isinstance(frame, bytes):
                    await self._websocket.send_bytes(frame)
                else:
                    await self._websocket.send_text(frame)
            except Exception:  # the client went away mid-send: the reader sees the disconnect too
                return
        if self._outbox.overflowed:
            self._close(CLOSE_POLICY, "the client is not reading its audio; closing")

    async def _watch_overflow(self) -> None:
        """The writer may hang in a send to a client that stopped reading: end the session from here."""
        await self._outbox.overflow.wait()
        self._close(CLOSE_POLICY, "the client is not reading its audio; closing")
