"""A protocol-faithful fake of OpenAI's audio routes (REFERENCE.md §4): real HTTP/1.1 on 127.0.0.1.

- ``POST /v1/audio/transcriptions``, multipart: ``file`` (decoded with soundfile: a non-audio file is
  400 "Invalid file format."), ``model`` (required), ``language`` (ISO-639-1), ``prompt``,
  ``response_format`` json (``{"text"}``) | text | srt | vtt | verbose_json (``{task, language,
  duration, text, segments:[{id, seek, start, end, text, tokens, temperature, avg_logprob,
  compression_ratio, no_speech_prob}]}``, the language named in English as OpenAI does),
  ``temperature``. What it "hears" is ``hear(clip, form) -> (text, language code)``: scripted text by
  default; a test may plug a real recogniser in.
- ``POST /v1/audio/speech``, JSON: ``model``, ``input`` (1–4096 chars), ``voice`` required; ``speed``
  0.25–4.0; ``response_format`` pcm (raw int16 mono at ``sample_rate_hz``, ``audio/pcm``) or wav (a
  streaming header with unknown sizes, ``audio/wav``); mp3/opus/aac/flac are real formats this fake
  cannot encode (400). The audio is the tone of ``localvoice.bench.fake_gpt_sovits`` for the text, so
  order and content can be checked, sent chunked in odd-sized pieces (samples straddle pieces) after
  ``first_chunk_delay_s`` then every ``chunk_delay_s``.
- ``GET /v1/models``; an unknown route is 404 ``Invalid URL (METHOD /path)``.
- Errors are ``{"error": {"message", "type", "param", "code"}}``; with ``api_key`` set, a missing or
  wrong Bearer token is 401 ``invalid_api_key`` on every route.

Scripting: ``die_after_pieces`` (the server dies mid-body and stops listening, like a killed
process; only in a clause containing ``die_on`` when that is set), ``speech_garbage`` (HTTP 200 with that HTML body), ``transcription_garbage`` (HTTP 200 with
bytes that are not JSON). Checked against the official ``openai`` client in
tests/integration/test_openai_asr.py and test_openai_tts.py, so it cannot drift from the protocol.
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import numpy as np
import pytest
import soundfile as sf

from localvoice.bench.fake_gpt_sovits import tone
from localvoice.bench.fake_server import ThreadedFakeServer
from localvoice.events import AudioClip

Hear = Callable[[AudioClip, dict[str, str]], tuple[str, str]]
SPEECH_FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
TRANSCRIPT_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
LANGUAGE_NAMES = {"zh": "chinese", "en": "english", "ja": "japanese", "ko": "korean", "yue": "cantonese"}


@dataclass(frozen=True)
class Upload:
    """One transcription request: its form fields and the audio file as sent."""

    form: dict[str, str]
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Spoken:
    text: str
    started_s: float
    finished_s: float | None  # None: the server died mid-clause
    body: dict[str, Any]


def openai_error(
    message: str, kind: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class FakeOpenAiAudio(ThreadedFakeServer):
    def __init__(self, hear: Hear | None = None, sample_rate_hz: int = 24_000) -> None:
        self.transcript = "明天天气怎么样？"
        self.transcript_language = "zh"
        self.hear: Hear = hear or (
            lambda clip, form: (self.transcript, form.get("language") or self.transcript_language)
        )
        self.sample_rate_hz = sample_rate_hz
        self.seconds_per_char = 0.1
        self.first_chunk_delay_s = 0.0
        self.chunk_delay_s = 0.0
        self.piece_bytes: Sequence[int] = (1001, 777, 1333, 555)
        self.die_after_pieces: int | None = None
        self.die_on: str | None = None  # die only in a clause that contains this
        self.speech_garbage: bytes | None = None
        self.transcription_garbage: bytes | None = None
        self.api_key: str | None = None
        self.uploads: list[Upload] = []
        self.spoken: list[Spoken] = []
        self.requests: list[tuple[str, str]] = []
        super().__init__(_Handler)

    def audio_for(self, text: str) -> np.ndarray:
        """Exactly what the server speaks for ``text`` (int16 at ``sample_rate_hz``)."""
        return tone(text, len(text) * self.seconds_per_char, self.sample_rate_hz)


@pytest.fixture(name="openai_audio")
def openai_audio_fixture() -> Iterator[FakeOpenAiAudio]:
    """Import ``openai_audio_fixture`` into a test module, then ask for ``openai_audio``."""
    with FakeOpenAiAudio() as server:
        yield server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-openai-audio"
    timeout = 30
    fake: ClassVar[FakeOpenAiAudio]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def handle(self) -> None:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError, OSError):
            super().handle()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        fake = self.fake
        if fake.dead.is_set():  # a killed process answers nothing, on kept-alive connections either
            self.close_connection = True
            self.connection.shutdown(2)
            return
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        fake.requests.append((self.command, path))
        if fake.api_key is not None and self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            message = "Incorrect API key provided. You can find your API key in your account settings."
            self._json(401, openai_error(message, code="invalid_api_key"))
        elif (self.command, path) == ("GET", "/v1/models"):
            models = [
                {"id": m, "object": "model", "created": 1_735_689_600, "owned_by": "fake"}
                for m in ("whisper-1", "tts-1")
            ]
            self._json(200, {"object": "list", "data": models})
        elif (self.command, path) == ("POST", "/v1/audio/transcriptions"):
            self._transcribe(raw)
        elif (self.command, path) == ("POST", "/v1/audio/speech"):
            self._speech(raw)
        else:
            self._json(404, openai_error(f"Invalid URL ({self.command} {path})"))

    # ---- transcriptions ----

    def _transcribe(self, raw: bytes) -> None:
        fake = self.fake
        kind = self.headers.get("Content-Type", "")
        if not kind.startswith("multipart/form-data"):
            self._json(400, openai_error("Invalid Content-Type header, expected multipart/form-data."))
            return
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + kind.encode() + b"\r\n\r\n" + raw
        )
        form: dict[str, str] = {}
        upload: tuple[str, str, bytes] | None = None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if name == "file":
                upload = (part.get_filename() or "", part.get_content_type(), data)
            elif isinstance(name, str):
                form[name] = data.decode()
        if upload is None:
            self._json(400, openai_error("you must provide a file", param="file"))
            return
        if not form.get("model"):
            self._json(400, openai_error("you must provide a model parameter", param="model"))
            return
        fake.uploads.append(Upload(form, *upload))
        response_format = form.get("response_format", "json")
        if response_format not in TRANSCRIPT_FORMATS:
            self._json(
                400, openai_error(f"Invalid response_format '{response_format}'", param="response_format")
            )
            return
        language = form.get("language")
        if language is not None and (len(language) != 2 or not language.isalpha()):
            message_text = (
                f"Invalid language '{language}'. Language parameter must be specified in ISO-639-1 format."
            )
            self._json(400, openai_error(message_text, param="language"))
            return
        try:
            samples, rate = sf.read(io.BytesIO(upload[2]), dtype="int16")
        except (sf.LibsndfileError, RuntimeError):
            formats = "['flac', 'm4a', 'mp3', 'mp4', 'mpeg', 'mpga', 'oga', 'ogg', 'wav', 'webm']"
            self._json(400, openai_error(f"Invalid file format. Supported formats: {formats}", param="file"))
            return
        if samples.ndim > 1:
            samples = samples.mean(axis=1).astype(np.int16)
        if fake.transcription_garbage is not None:
            self._bytes(200, "application/json", fake.transcription_garbage)
            return
        clip = AudioClip(samples, rate)
        text, code = fake.hear(clip, form)
        duration = round(clip.duration_s, 2)
        if response_format == "text":
            self._bytes(200, "text/plain; charset=utf-8", text.encode() + b"\n")
        elif response_format in ("srt", "vtt"):
            self._bytes(
                200, "text/plain; charset=utf-8", _subtitles(text, duration, response_format).encode()
            )
        elif response_format == "json":
            self._json(200, {"text": text})
        else:
            segment = {
                "id": 0, "seek": 0, "start": 0.0, "end": duration, "text": f" {text}",
                "tokens": [50364, *range(100, 100 + len(text)), 50257], "temperature": 0.0,
                "avg_logprob": -0.25, "compression_ratio": 0.9, "no_speech_prob": 0.01,
            }  # fmt: skip
            language = LANGUAGE_NAMES.get(code, code)
            self._json(
                200,
                {
                    "task": "transcribe",
                    "language": language,
                    "duration": duration,
                    "text": text,
                    "segments": [segment] if text else [],
                },
            )

    # ---- speech ----

    def _speech(self, raw: bytes) -> None:
        fake = self.fake
        try:
            body = json.loads(raw)
        except ValueError:
            self._json(400, openai_error("We could not parse the JSON body of your request."))
            return
        problem: tuple[str, str] | None = None
        if not isinstance(body, dict):
            problem = ("We could not parse the JSON body of your request.", "")
        else:
            text, speed = body.get("input"), body.get("speed", 1.0)
            for field in ("model", "input", "voice"):
                if not body.get(field):
                    problem = problem or (f"Missing required parameter: '{field}'.", field)
            if problem is None and (not isinstance(text, str) or len(text) > 4096):
                problem = (
                    "Invalid 'input': string too long. Expected a string with maximum length 4096.",
                    "input",
                )
            elif problem is None and not (isinstance(speed, int | float) and 0.25 <= speed <= 4.0):
                problem = (f"{speed} is greater than the maximum of 4 - 'speed'", "speed")
            elif problem is None and body.get("response_format", "mp3") not in SPEECH_FORMATS:
                problem = (f"Invalid value: '{body['response_format']}'.", "response_format")
            elif problem is None and body.get("response_format", "mp3") not in ("wav", "pcm"):
                problem = ("this fake speaks wav and pcm only", "response_format")
        if problem is not None:
            self._json(400, openai_error(problem[0], param=problem[1] or None))
            return
        if fake.speech_garbage is not None:
            self._bytes(200, "text/html; charset=utf-8", fake.speech_garbage)
            return
        self._stream_speech(str(body["input"]), body)

    def _stream_speech(self, text: str, body: dict[str, Any]) -> None:
        fake = self.fake
        wav = body["response_format"] == "wav"
        pcm = fake.audio_for(text).astype("<i2").tobytes()
        sizes = list(fake.piece_bytes)
        pieces: list[bytes] = []
        position = 0
        while position < len(pcm):
            size = sizes[len(pieces) % len(sizes)]
            pieces.append(pcm[position : position + size])
            position += size
        started = time.monotonic()
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav" if wav else "audio/pcm")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        dies = fake.die_on is None or fake.die_on in text
        for number, piece in enumerate(pieces):
            if dies and number == fake.die_after_pieces:
                fake.spoken.append(Spoken(text, started, None, body))
                fake.kill()
                self.close_connection = True
                self.connection.shutdown(2)  # the peer sees the stream stop mid-body
                return
            time.sleep(fake.first_chunk_delay_s if number == 0 else fake.chunk_delay_s)
            self._chunk(_streaming_wav_header(fake.sample_rate_hz) + piece if wav and number == 0 else piece)
        self._chunk(b"")
        fake.spoken.append(Spoken(text, started, time.monotonic(), body))

    # ---- writing ----

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _json(self, status: int, obj: Any) -> None:
        self._bytes(status, "application/json", json.dumps(obj, ensure_ascii=False).encode())

    def _bytes(self, status: int, kind: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _streaming_wav_header(rate_hz: int) -> bytes:
    """A WAV header written before the length is known: both sizes 0xFFFFFFFF."""
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, rate_hz, rate_hz * 2, 2, 16)
    return (
        b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVEfmt " + fmt + b"data" + struct.pack("<I", 0xFFFFFFFF)
    )


def _subtitles(text: str, duration_s: float, kind: str) -> str:
    def stamp(seconds: float, mark: str) -> str:
        whole = int(seconds)
        return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}{mark}{round((seconds - whole) * 1000):03d}"

    if kind == "vtt":
        return f"WEBVTT\n\n{stamp(0, '.')} --> {stamp(duration_s, '.')}\n{text}\n\n"
    return f"1\n{stamp(0, ',')} --> {stamp(duration_s, ',')}\n{text}\n\n"
