"""The voice WebSocket's protocol (docs/websocket.md): JSON text frames for events, binary for audio.

As small as wyoming's: every text frame is one JSON object with a ``type``; every binary frame is raw
little-endian int16 mono PCM — 16 kHz from the client (its microphone), ``OUTPUT_RATE_HZ`` from the
server (the reply). Binary frames carry no header: the socket is ordered, and a ``clear`` event
separates the audio of a cut reply from whatever comes after it.

This module is pure: it parses client frames into typed messages and turns conversation events into
server events. The socket plumbing lives in ``voice_socket.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from localvoice.events import (
    INPUT_RATE_HZ,
    OUTPUT_RATE_HZ,
    ClauseSpoken,
    ConversationEvent,
    ErrorOccurred,
    Notice,
    ReplyAudioStarted,
    ReplyDelta,
    ReplyFinished,
    SpeechEnded,
    SpeechStarted,
    StateChanged,
    TranscriptReady,
    TurnTimings,
)

PROTOCOL_VERSION = 1
SUBPROTOCOL = "localvoice.v1"  # offered by the page; a ``token.<T>`` beside it carries the token

MAX_TEXT_FRAME_BYTES = 16 * 1024  # a JSON message; typed text is capped below
MAX_AUDIO_FRAME_BYTES = 64 * 1024  # 2 s of 16 kHz int16: far above the 20 ms frames the page sends
MAX_TEXT_INPUT_CHARS = 2_000
OUTPUT_FRAME_SAMPLES = OUTPUT_RATE_HZ // 2  # reply audio goes out in frames of at most 0.5 s (24 KB)

# Close codes (RFC 6455 §7.4.1).
CLOSE_NORMAL = 1000
CLOSE_POLICY = 1008  # a client too slow to read its audio (see OUTBOUND_LIMIT_BYTES)
CLOSE_TOO_BIG = 1009  # a frame over the limits above
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013  # every session slot is taken: reconnect later

# Backpressure. Outbound: reply audio is produced faster than it plays, so a client that stops
# reading would pile it up; past this many unsent bytes the server closes with 1008.
OUTBOUND_LIMIT_BYTES = 4 * 1024 * 1024  # ≈ 87 s of 24 kHz reply audio
# Inbound: microphone audio waiting for the live loop; past this much the oldest is dropped.
INBOUND_LIMIT_S = 5.0


class ProtocolError(ValueError):
    """A client frame that breaks the protocol; ``str()`` is the message sent back in an ``error``."""


@dataclass(frozen=True, slots=True)
class Listen:
    """``{"type": "listen", "on": bool}``: the microphone counts (hands-free, talk button down) or not."""

    on: bool


@dataclass(frozen=True, slots=True)
class TextInput:
    """``{"type": "text", "text": "..."}``: a typed message, answered like a spoken one."""

    text: str


@dataclass(frozen=True, slots=True)
class Interrupt:
    """``{"type": "interrupt"}``: stop the reply now (barge-in by button)."""


@dataclass(frozen=True, slots=True)
class Ping:
    id: str | int | None


@dataclass(frozen=True, slots=True)
class Played:
    """``{"type": "played", "samples": N}``: reply audio the client has played so far.

    ``samples`` counts the output stream since the hello, at the output rate; audio dropped on a
    ``clear`` counts too (the client jumps to the clear's ``at``), so the number only grows.
    """

    samples: int


@dataclass(frozen=True, slots=True)
class Cleared:
    """``{"type": "cleared", "id": K, "played": N}``: the client obeyed clear ``K`` with N played."""

    id: int
    played: int


@dataclass(frozen=True, slots=True)
class Configure:
    """``{"type": "config", "playback_reports": bool, "partials": bool, "persona": str, "voice": str}``.

    ``playback_reports``: the client reports playback (``played``); without reports the server
    estimates it from real time (the client plays what it gets at once, gaplessly).
    ``partials``: send ``transcript_partial`` events while the user speaks.
    ``persona`` / ``voice``: one of the ``choices`` event's ("" = the server's own); the conversation
    restarts with it. Each field left out keeps its current value.
    """

    playback_reports: bool | None = None
    partials: bool | None = None
    persona: str | None = None
    voice: str | None = None


ClientMessage = Listen | TextInput | Interrupt | Ping | Played | Cleared | Configure


def parse_client_text(frame: str) -> ClientMessage:
    """One text frame → a message, or ``ProtocolError`` saying what is wrong with it."""
    if len(frame.encode("utf-8")) > MAX_TEXT_FRAME_BYTES:
        raise ProtocolError(f"text frames are limited to {MAX_TEXT_FRAME_BYTES} bytes")
    try:
        data = json.loads(frame)
    except json.JSONDecodeError as error:
        raise ProtocolError(f"not JSON: {error.msg} at character {error.pos}") from None
    if not isinstance(data, dict):
        raise ProtocolError('a message is a JSON object with a "type"')
    kind = data.get("type")
    if kind == "listen":
        return Listen(_field(data, "on", bool))
    if kind == "text":
        text = _field(data, "text", str).strip()
        if not text:
            raise ProtocolError("text messages need some text")
        if len(text) > MAX_TEXT_INPUT_CHARS:
            raise ProtocolError(f"typed text is limited to {MAX_TEXT_INPUT_CHARS} characters")
        return TextInput(text)
    if kind == "interrupt":
        return Interrupt()
    if kind == "ping":
        ident = data.get("id")
        if ident is not None and (isinstance(ident, bool) or not isinstance(ident, str | int)):
            raise ProtocolError('"id" must be a string or an integer')
        return Ping(ident)
    if kind == "played":
        return Played(_count(data, "samples"))
    if kind == "cleared":
        return Cleared(_count(data, "id"), _count(data, "played"))
    if kind == "config":
        reports, partials = (data.get(k) for k in ("playback_reports", "partials"))
        return Configure(
            None if reports is None else bool(reports),
            None if partials is None else bool(partials),
            _optional_text(data, "persona"),
            _optional_text(data, "voice"),
        )
    known = "listen, text, interrupt, ping, played, cleared, config"
    raise ProtocolError(f"unknown message type {kind!r}; known types: {known}")


def _field(data: dict[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f'"{data.get("type")}" needs "{name}" as a {kind.__name__}')
    return value


def _optional_text(data: dict[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise ProtocolError(f'"{name}" must be a name (a string of at most 200 characters)')
    return value.strip()


def _count(data: dict[str, Any], name: str) -> int:
    value = _field(data, name, int)
    if value < 0:
        raise ProtocolError(f'"{name}" must not be negative')
    return int(value)


def check_audio_frame(frame: bytes) -> None:
    """A microphone frame must hold whole int16 samples and stay under the frame limit (else 1009)."""
    if len(frame) % 2:
        raise ProtocolError("audio frames carry whole int16 samples (an even number of bytes)")


def hello(session_id: str) -> dict[str, Any]:
    """The first frame the server sends."""
    return {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "session": session_id,
        "input": {"rate_hz": INPUT_RATE_HZ, "format": "s16le", "channels": 1},
        "output": {"rate_hz": OUTPUT_RATE_HZ, "format": "s16le", "channels": 1},
        "limits": {
            "text_frame_bytes": MAX_TEXT_FRAME_BYTES,
            "audio_frame_bytes": MAX_AUDIO_FRAME_BYTES,
            "text_chars": MAX_TEXT_INPUT_CHARS,
        },
    }


def error_event(code: str, message: str, turn: int | None = None) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "turn": turn}


def event_message(event: ConversationEvent) -> dict[str, Any] | None:
    """A conversation event as the server event the client sees (None: not sent)."""
    match event:
        case StateChanged(state=state):
            return {"type": "state", "state": state.value}
        case SpeechStarted():
            return {"type": "speech_started"}
        case SpeechEnded():
            return {"type": "speech_ended"}
        case TranscriptReady(turn=turn, text=text, language=language):
            return {"type": "transcript", "turn": turn, "text": text, "language": language}
        case ReplyDelta(turn=turn, text=text):
            return {"type": "reply_delta", "turn": turn, "text": text}
        case ReplyAudioStarted(turn=turn):
            return {"type": "reply_audio", "turn": turn}
        case ClauseSpoken(turn=turn, index=index, text=text):
            return {"type": "clause_spoken", "turn": turn, "index": index, "text": text}
        case TurnTimings():
            return {"type": "timings", "turn": event.turn, "ms": event.as_dict()}
        case ReplyFinished():
            return {
                "type": "reply_done",
                "turn": event.turn,
                "written": event.written,
                "heard": event.heard,
                "interrupted": event.interrupted,
                "withdrawn": event.withdrawn,
                "error": event.error,
            }
        case ErrorOccurred(message=message, turn=turn):
            return error_event("turn_failed", message, turn)
        case Notice(message=message):
            return {"type": "notice", "message": message}
    return None
