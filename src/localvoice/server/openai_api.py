"""OpenAI-compatible routes: ``/v1/audio/transcriptions``, ``/v1/audio/speech``,
``/v1/chat/completions`` (SSE or one object) and ``/v1/models`` (REFERENCE.md §4; checked with the
official ``openai`` client).

One model of each kind is loaded, so any ``model`` name reaches it (``/v1/models`` lists their names).
Errors are ``{"error": {"message", "type", "param", "code"}}``; an error in the middle of a chat stream
arrives as an SSE event with an ``error`` object, which the ``openai`` client raises.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from localvoice.audio.resample import resample
from localvoice.errors import LocalVoiceError
from localvoice.events import OUTPUT_RATE_HZ, AudioClip, Message, Transcript
from localvoice.persona.apply import persona_system
from localvoice.protocols import TTS
from localvoice.server import audio_formats
from localvoice.server.chat import ChatStats, llm_model_name, stream_reply, to_messages, tuned
from localvoice.server.errors import ApiError, bad_request, error_body, require_json, unsupported_media
from localvoice.server.security import check_token_http
from localvoice.server.state import ServerState
from localvoice.server.streams import SlotStreamingResponse, sse_event
from localvoice.server.stretch import time_stretch
from localvoice.text.chunker import SentenceChunker
from localvoice.text.normalize import SpeechFilter

log = logging.getLogger("localvoice.server")

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], dependencies=[Depends(check_token_http)])

TRANSCRIPTION_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
MAX_SPEECH_CHARS = 4096

_TRANSCRIPTION_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "model"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "WAV, FLAC, Ogg, MP3"},
                        "model": {"type": "string", "description": "any name: the loaded model answers"},
                        "language": {"type": "string", "description": "ISO-639-1, e.g. zh or en"},
                        "prompt": {"type": "string", "description": "accepted; not used"},
                        "response_format": {"type": "string", "enum": list(TRANSCRIPTION_FORMATS)},
                        "temperature": {"type": "number", "description": "accepted; not used"},
                    },
                }
            }
        },
    }
}


class ChatMessage(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatCompletionRequest(BaseModel):
    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)
    stream_options: dict[str, Any] | None = None
    tools: list[Any] | None = None


class SpeechRequest(BaseModel):
    model: str
    input: str = Field(min_length=1, max_length=MAX_SPEECH_CHARS)
    voice: str = "default"  # accepted; the configured voices speak (Chinese or English by the text)
    response_format: str = "mp3"  # OpenAI's default
    speed: float = Field(default=1.0, ge=0.25, le=4.0)


@router.get("/models", summary="The models this server answers with")
async def list_models(request: Request) -> dict[str, Any]:
    state = _state(request)
    created = int(state.started_at)
    names = [llm_model_name(state.llm)] if state.session and state.session.llm else []
    names += [_asr_name(state)] if state.session and state.session.asr else []
    names += [_tts_name(state)] if state.session and state.session.tts else []
    models = [{"id": name, "object": "model", "created": created, "owned_by": "localvoice"} for name in names]
    return {"object": "list", "data": models}


@router.post(
    "/audio/transcriptions",
    summary="Speech to text (multipart upload, up to server.max_upload_mb)",
    openapi_extra=_TRANSCRIPTION_FORM,
    response_model=None,
)
async def transcribe(request: Request) -> Response:
    state = _state(request)
    asr = state.asr
    kind = request.headers.get("content-type", "")
    if not kind.startswith("multipart/form-data"):
        raise unsupported_media(
            f"send the audio as multipart/form-data with a 'file' field, not {kind or 'no type'}"
        )
    form = await request.form(max_files=1, max_fields=16)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise bad_request("the form needs the audio as a file field named 'file'", "file")
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    if not fields.get("model"):
        raise bad_request("model is required", "model")
    response_format = fields.get("response_format") or "json"
    if response_format not in TRANSCRIPTION_FORMATS:
        raise bad_request(
            f"response_format {response_format!r} is not one of {', '.join(TRANSCRIPTION_FORMATS)}",
            "response_format",
        )
    language = (fields.get("language") or state.config.asr.language or "").strip().lower() or None
    name = upload.filename or "audio"
    data = await upload.read()
    clip = await asyncio.to_thread(audio_formats.decode_upload, data, name)
    with state.request_slot():
        transcript = await asr.transcribe(clip, language)
    return _transcription_response(transcript, response_format)


@router.post(
    "/audio/speech",
    summary="Text to speech; the reply body is the audio",
    response_model=None,
    dependencies=[Depends(require_json)],
)
async def speech(body: SpeechRequest, request: Request) -> Response:
    state = _state(request)
    tts = state.tts
    audio_formats.check_speech_format(body.response_format)
    clauses = _spoken_clauses(body.input)
    if not clauses:
        raise bad_request("the input has nothing to speak (only markup, code or symbols)", "input")
    headers = {"X-Sample-Rate": str(OUTPUT_RATE_HZ)}
    if body.response_format == "pcm":  # raw samples need no header: each clause goes out when spoken
        state.take_request_slot()
        chunks = _pcm_stream(tts, clauses, body.speed)
        return SlotStreamingResponse(state, chunks, audio_formats.MEDIA_TYPES["pcm"], headers)
    with state.request_slot():
        parts = [await _clause_audio(tts, clause, body.speed) for clause in clauses]
    clip = AudioClip(np.concatenate([part.samples for part in parts]), OUTPUT_RATE_HZ)
    data = await asyncio.to_thread(audio_formats.encode, clip, body.response_format)
    return Response(data, media_type=audio_formats.MEDIA_TYPES[body.response_format], headers=headers)


@router.post(
    "/chat/completions",
    summary="Chat with the loaded model (SSE when stream is true)",
    response_model=None,
    dependencies=[Depends(require_json)],
)
async def chat_completions(body: ChatCompletionRequest, request: Request) -> Response:
    state = _state(request)
    llm = state.llm
    if body.tools:
        raise bad_request("tools are not supported by this server's model", "tools")
    raw = [(m.role, _text(m, index)) for index, m in enumerate(body.messages)]
    messages = to_messages(raw, persona_system(state.config.llm))
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    view, limit = tuned(
        llm,
        temperature=body.temperature,
        top_p=body.top_p,
        max_tokens=body.max_completion_tokens or body.max_tokens,
        stop=stop,
        seed=body.seed,
    )
    stats = ChatStats(max_tokens=limit)
    reply_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    state.take_request_slot()
    if body.stream:
        usage = bool((body.stream_options or {}).get("include_usage"))
        events = _sse_chunks(view, messages, stats, reply_id, body.model, usage, request.url.path)
        return SlotStreamingResponse(state, events, "text/event-stream")
    try:
        text = "".join([piece async for piece in stream_reply(view, messages, stats)])
    finally:
        state.request_slots.release()
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": text},
        "finish_reason": stats.done_reason,
        "logprobs": None,
    }
    return JSONResponse(
        {
            "id": reply_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.model,
            "choices": [choice],
            "usage": _usage(stats),
        }
    )


# ---- internals ----


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.localvoice
    return state


def _asr_name(state: ServerState) -> str:
    model = state.config.asr.model
    return Path(model).name if model else "whisper-base"


def _tts_name(state: ServerState) -> str:
    return f"localvoice-tts-{state.config.tts.backend}"


def _text(message: ChatMessage, index: int) -> str:
    """A message's text: a string, or the text parts of a content list (images are refused)."""
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    texts: list[str] = []
    for part in message.content:
        if part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise bad_request(f"messages[{index}]: only text content is supported", "messages")
        texts.append(part["text"])
    return "".join(texts)


def _spoken_clauses(text: str) -> list[str]:
    """The input cut and cleaned as ``localvoice say`` speaks it (no markup, code or URLs read out)."""
    chunker = SentenceChunker()
    speech = SpeechFilter()
    spoken = [speech.feed(clause) for clause in [*chunker.push(text), *chunker.flush()]]
    return [clause for clause in spoken if clause.strip()]


async def _clause_audio(tts: TTS, clause: str, speed: float) -> AudioClip:
    """One clause at the output rate, at ``speed``."""
    clip = await tts.synthesize(clause)
    clip = AudioClip(resample(clip.samples, clip.sample_rate_hz, OUTPUT_RATE_HZ), OUTPUT_RATE_HZ)
    if speed != 1.0:
        clip = await asyncio.to_thread(time_stretch, clip, speed)
    return clip


async def _pcm_stream(tts: TTS, clauses: list[str], speed: float) -> AsyncIterator[bytes]:
    for clause in clauses:
        yield (await _clause_audio(tts, clause, speed)).samples.astype("<i2").tobytes()


def _transcription_response(transcript: Transcript, response_format: str) -> Response:
    text = transcript.text.strip()
    if response_format == "text":
        return PlainTextResponse(text + "\n")
    if response_format == "srt":
        return PlainTextResponse(audio_formats.srt(transcript.segments))
    if response_format == "vtt":
        return PlainTextResponse(audio_formats.vtt(transcript.segments), media_type="text/vtt")
    if response_format == "verbose_json":
        segments = [
            {"id": index, "seek": 0, "start": round(s.start_s, 3), "end": round(s.end_s, 3), "text": s.text}
            for index, s in enumerate(transcript.segments)
        ]
        return JSONResponse(
            {
                "task": "transcribe",
                "language": transcript.language,
                "duration": round(transcript.duration_s, 3),
                "text": text,
                "segments": segments,
            }
        )
    return JSONResponse({"text": text})


def _usage(stats: ChatStats) -> dict[str, int]:
    return {
        "prompt_tokens": stats.prompt_tokens,
        "completion_tokens": stats.pieces,
        "total_tokens": stats.prompt_tokens + stats.pieces,
    }


async def _sse_chunks(
    llm: Any,
    messages: list[Message],
    stats: ChatStats,
    reply_id: str,
    model: str,
    include_usage: bool,
    path: str,
) -> AsyncIterator[str]:
    created = int(time.time())

    def chunk(delta: dict[str, str], finish: str | None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {
            "id": reply_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
        }

    yield sse_event(chunk({"role": "assistant", "content": ""}, None))
    try:
        async for piece in stream_reply(llm, messages, stats):
            yield sse_event(chunk({"content": piece}, None))
    except LocalVoiceError as error:
        from localvoice.server.errors import from_localvoice

        yield sse_event(error_body(path, from_localvoice(error)))
        return
    except Exception:
        log.exception("a chat completion stream failed")
        yield sse_event(error_body(path, ApiError(500, "the server failed while answering", "server_error")))
        return
    yield sse_event(chunk({}, stats.done_reason))
    if include_usage:
        yield sse_event(
            {
                "id": reply_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [],
                "usage": _usage(stats),
            }
        )
    yield sse_event("[DONE]")
