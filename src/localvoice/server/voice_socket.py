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
import logging
from typing import TYPE_CHECKING

from fastapi import FastAPI, WebSocket
from starlette.websockets import WebSocketState

from localvoice.audio.echo_guard import SelfEchoGuard
from localvoice.clock import MonotonicClock
from localvoice.conversation import Conversation
from localvoice.events import ConversationEvent
from localvoice.live import LiveLoop
from localvoice.server import protocol
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
    from localvoice.server.state import ServerState
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

    async def run(self) -> None:
        session = self._state.session
        assert session is not None
        from localvoice.backends.vad.silero import SileroVAD

        transcript_log = self._state.new_transcript_log()
        vad = await asyncio.to_thread(SileroVAD.from_config, self._state.config.vad)  # loads an ONNX file
        conversation = session.conversation(
            self._sink, self._clock, observers=[self._send_event], log=transcript_log
        )
        assert session.asr is not None
        config = self._state.config
        partials = self._partials = PartialTranscripts(
            session.asr,
            self._source,
            self._outbox.put_json,
            config.asr.language or None,
            alone=lambda: self._state.voice_slots.in_use <= 1,
        )

        conversation.subscribe(partials.on_event)  # its final transcripts

        def emit(event: ConversationEvent) -> None:  # the live loop's: speech start and end
            self._send_event(event)
            partials.on_event(event)

        live = session.live_loop(
            conversation,
            self._source,
            self._clock,
            emit,
            vad=vad,
            guard=SelfEchoGuard(),
            mode=MODE,
        )
        self._outbox.put_json(protocol.hello(transcript_log.session))
        tasks = [
            asyncio.create_task(live.run(), name="live"),
            asyncio.create_task(self._read(conversation, live), name="reader"),
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
            await self._shut_down(tasks, conversation, transcript_log)

    async def _shut_down(
        self, tasks: list[asyncio.Task[None]], conversation: Conversation, transcript_log: TranscriptLog
    ) -> None:
        if self._typed is not None:
            tasks.append(self._typed)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._partials is not None:
            await self._partials.aclose()
        with contextlib.suppress(Exception):
            await conversation.interrupt()  # the reply in flight stops; its turn is logged as heard
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

    async def _read(self, conversation: Conversation, live: LiveLoop) -> None:
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
                    self._on_message(protocol.parse_client_text(text), conversation, live)
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

    def _on_message(
        self, message: protocol.ClientMessage, conversation: Conversation, live: LiveLoop
    ) -> None:
        match message:
            case protocol.Listen(on=on):
                live.muted = not on
            case protocol.TextInput(text=text):
                if self._typed is not None and not self._typed.done():
                    self._typed.cancel()
                self._typed = asyncio.create_task(self._answer_typed(conversation, text))
            case protocol.Interrupt():
                conversation.interrupt_now()
            case protocol.Ping(id=ident):
                self._outbox.put_json({"type": "pong", "id": ident})
            case protocol.Played(samples=samples):
                self._sink.on_played(samples)
            case protocol.Cleared(id=clear_id, played=played):
                self._sink.on_cleared(clear_id, played)
            case protocol.Configure(playback_reports=reports, partials=partials):
                self._sink.reports = reports
                if self._partials is not None:
                    self._partials.enabled = partials

    async def _answer_typed(self, conversation: Conversation, text: str) -> None:
        """A typed message cuts the reply in flight, as speaking over it would, then gets its own."""
        while conversation.replying:
            await conversation.interrupt()
        conversation.start_reply(text, "", self._clock.now())

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
