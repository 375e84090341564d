"""A protocol-faithful fake GPT-SoVITS server (``api_v2.py``, and ``api.py`` v1 on ``POST /``): real
HTTP/1.1 on 127.0.0.1 in a background thread.

It validates like the real one (REFERENCE.md §2): missing ``text``/``text_lang``/``ref_audio_path``/
``prompt_lang`` → 400 ``{"message"}``; an unsupported language, split method, media type or
``streaming_mode`` → 400; a reference clip that is not 3–10 s → 400 ``{"message": "tts failed",
"Exception": …}``. Audio is a tone whose length follows the text (``seconds_per_char``), at
``sample_rate_hz`` (32 kHz like v2, 24 kHz like v3). Streaming replies are chunked: a WAV header whose
data length is 0 together with the first PCM piece after ``first_chunk_delay_s``, then PCM in
odd-sized pieces (``piece_bytes``) every ``chunk_delay_s`` — samples cut across pieces. With
``streaming_mode`` 0 the whole WAV (true lengths) comes after the same total time.

``die_after_pieces``: after that many PCM pieces of a clause the server dies (the connection drops
mid-stream and the port stops listening), like a killed process.

It lives in the package (not only under tests/) because ``localvoice bench gpt_sovits`` measures the
client against it; tests import it through ``tests/fake_gpt_sovits.py``.
"""

from __future__ import annotations

import contextlib
import json
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import numpy as np
import soundfile as sf

from localvoice.bench.fake_server import ThreadedFakeServer

V2_LANGUAGES = {"auto", "auto_yue", "en", "zh", "ja", "yue", "ko", "all_zh", "all_ja", "all_yue", "all_ko"}
V1_LANGUAGES = {"zh", "en", "ja", "中文", "英文", "日文", "ZH", "EN", "JA"}
SPLIT_METHODS = {"cut0", "cut1", "cut2", "cut3", "cut4", "cut5"}
MEDIA_TYPES = {"wav", "raw", "ogg", "aac"}


@dataclass(frozen=True)
class Spoken:
    """One clause the server synthesized: when it started and finished sending (monotonic seconds)."""

    text: str
    started_s: float
    finished_s: float | None
    body: dict[str, Any]


def tone(text: str, seconds: float, rate_hz: int) -> np.ndarray:
    """The clip the fake speaks for ``text``: its pitch encodes the text, so order can be checked."""
    n = max(1, round(seconds * rate_hz))
    pitch_hz = 200 + (sum(map(ord, text)) % 50) * 20
    t = np.arange(n) / rate_hz
    return (0.3 * 32767 * np.sin(2 * np.pi * pitch_hz * t)).astype(np.int16)


def wav_header(rate_hz: int, data_bytes: int) -> bytes:
    """A 44-byte PCM WAV header; ``data_bytes`` 0 as a streaming server writes it."""
    return (
        b"RIFF"
        + struct.pack("<I", min(36 + data_bytes, 0xFFFFFFFF))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate_hz, rate_hz * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


class FakeGptSovits(ThreadedFakeServer):
    def __init__(self, sample_rate_hz: int = 32_000) -> None:
        self.sample_rate_hz = sample_rate_hz
        self.seconds_per_char = 0.12
        self.first_chunk_delay_s = 0.0
        self.chunk_delay_s = 0.0
        self.piece_bytes: Sequence[int] = (1001, 777, 1333, 555)  # odd: samples straddle pieces
        self.die_after_pieces: int | None = None
        self.fail_tts: str | None = None  # answer every /tts with 400 "tts failed" and this Exception
        self.voice_audio: np.ndarray | None = None  # int16 at sample_rate_hz: spoken instead of the tone
        self.spoken: list[Spoken] = []
        self.requests: list[tuple[str, str, Any]] = []  # (method, path, body or query)
        self.gpt_weights = ""
        self.sovits_weights = ""
        super().__init__(_Handler)

    def tts_bodies(self) -> list[dict[str, Any]]:
        return [body for method, path, body in self.requests if path in ("/tts", "/") and method == "POST"]


def reference_problem(path: str) -> str | None:
    """Why the real server would fail on this reference clip (it must be 3–10 s), or None."""
    try:
        info = sf.info(path)
    except (sf.LibsndfileError, RuntimeError, OSError) as error:
        return f"{type(error).__name__}: {error}"
    seconds = info.frames / info.samplerate
    if not 3.0 <= seconds <= 10.0:
        return "OSError: 参考音频在3~10秒范围外，请更换！"
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-gpt-sovits"
    timeout = 30
    fake: ClassVar[FakeGptSovits]

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
        parts = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            body: Any = json.loads(raw) if raw else query
        except ValueError:
            self._json(422, {"detail": "JSON decode error"})  # FastAPI's answer to a broken body
            return
        fake.requests.append((self.command, parts.path, body))
        route = (self.command, parts.path)
        if parts.path == "/tts" and isinstance(body, dict):
            self._tts_v2(body)
        elif route == ("POST", "/") and isinstance(body, dict):
            self._tts_v1(body)
        elif route in (("GET", "/set_gpt_weights"), ("GET", "/set_sovits_weights")):
            self._set_weights(parts.path.removeprefix("/set_").removesuffix("_weights"), query)
        elif route == ("POST", "/set_model") and isinstance(body, dict):
            fake.gpt_weights = str(body.get("gpt_model_path", ""))
            fake.sovits_weights = str(body.get("sovits_model_path", ""))
            self._json(200, {"code": 0, "message": "Success"})
        else:
            self._json(404, {"detail": "Not Found"})

    def _set_weights(self, kind: str, query: dict[str, str]) -> None:
        path = query.get("weights_path")
        if not path:
            self._json(400, {"message": "gpt weight path is required"})
            return
        if not Path(path).is_file():
            self._json(
                400,
                {"message": f"change {kind} weight failed", "Exception": f"[Errno 2] No such file: '{path}'"},
            )
            return
        setattr(self.fake, f"{kind}_weights", path)
        self._json(200, {"message": "success"})

    def _tts_v2(self, req: dict[str, Any]) -> None:
        """``check_params`` of api_v2.py, then synthesis."""
        mode = req.get("streaming_mode", False)
        problem = None
        if not req.get("text"):
            problem = "text is required"
        elif not req.get("text_lang"):
            problem = "text_lang is required"
        elif str(req["text_lang"]).lower() not in V2_LANGUAGES:
            problem = f"text_lang: {req['text_lang']} is not supported in version v2"
        elif not req.get("ref_audio_path"):
            problem = "ref_audio_path is required"
        elif not req.get("prompt_lang"):
            problem = "prompt_lang is required"
        elif str(req["prompt_lang"]).lower() not in V2_LANGUAGES:
            problem = f"prompt_lang: {req['prompt_lang']} is not supported in version v2"
        elif req.get("media_type", "wav") not in MEDIA_TYPES:
            problem = f"media_type: {req['media_type']} is not supported"
        elif req.get("text_split_method", "cut5") not in SPLIT_METHODS:
            problem = f"text_split_method:{req['text_split_method']} is not supported"
        elif mode not in (0, 1, 2, 3):  # true/false count as 1/0, as in Python
            problem = "the value of streaming_mode is invalid"
        if problem is not None:
            self._json(400, {"message": problem})
            return
        refs = [req["ref_audio_path"], *(req.get("aux_ref_audio_paths") or [])]
        failure = self.fake.fail_tts or next(filter(None, (reference_problem(p) for p in refs[:1])), None)
        if failure is not None:
            self._json(400, {"message": "tts failed", "Exception": failure})
            return
        self._speak(str(req["text"]), req, streaming=bool(mode))

    def _tts_v1(self, req: dict[str, Any]) -> None:
        ref = req.get("refer_wav_path")
        if not ref or not req.get("prompt_text") or not req.get("prompt_language"):
            self._json(400, {"code": 400, "message": "未指定参考音频且接口无预设"})
            return
        if req.get("text_language") not in V1_LANGUAGES or not req.get("text"):
            self._json(400, {"code": 400, "message": f"不支持的语言: {req.get('text_language')}"})
            return
        failure = reference_problem(str(ref))
        if failure is not None:
            self._json(400, {"code": 400, "message": failure})
            return
        self._speak(str(req["text"]), req, streaming=True)

    def _speak(self, text: str, req: dict[str, Any], streaming: bool) -> None:
        fake = self.fake
        rate = fake.sample_rate_hz
        length = max(1, round(len(text) * fake.seconds_per_char * rate))
        voice = fake.voice_audio
        audio = np.resize(voice, length) if voice is not None else tone(text, length / rate, rate)
        pcm = audio.astype("<i2").tobytes()
        started = time.monotonic()
        sizes = list(fake.piece_bytes)
        pieces: list[bytes] = []
        position = 0
        while position < len(pcm):
            size = sizes[len(pieces) % len(sizes)]
            pieces.append(pcm[position : position + size])
            position += size
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        if not streaming:
            time.sleep(fake.first_chunk_delay_s + fake.chunk_delay_s * (len(pieces) - 1))
            data = wav_header(rate, len(pcm)) + pcm
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            fake.spoken.append(Spoken(text, started, time.monotonic(), req))
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for number, piece in enumerate(pieces):
            if fake.die_after_pieces is not None and number == fake.die_after_pieces:
                fake.spoken.append(Spoken(text, started, None, req))
                fake.kill()
                self.close_connection = True
                self.connection.shutdown(2)  # the peer sees the stream stop mid-body
                return
            time.sleep(fake.first_chunk_delay_s if number == 0 else fake.chunk_delay_s)
            self._chunk(wav_header(rate, 0) + piece if number == 0 else piece)
        self._chunk(b"")
        fake.spoken.append(Spoken(text, started, time.monotonic(), req))

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
