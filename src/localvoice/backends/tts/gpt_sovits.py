"""A cloned voice through a running GPT-SoVITS server (``api_v2.py``, or the older ``api.py``).

localvoice cuts clauses itself, so each clause goes out whole (``text_split_method=cut0``) with
streaming on (``streaming_mode``, default 3: fixed-length chunks, the fastest first audio), and its
audio is played chunk by chunk as the WAV stream arrives. The reference clip, its transcript and its
language come from the active voice (``localvoice voice use``); the reference path is sent as it is
stored here, so the server must run on this machine (or see the same path).
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
from collections.abc import AsyncIterator
from typing import Any, Self

import httpx
import numpy as np

from localvoice.backends.tts.wav_stream import WavStreamParser
from localvoice.config import GptSovitsConfig, TTSConfig
from localvoice.errors import BackendError, BackendUnavailableError, ConfigError
from localvoice.events import AudioClip
from localvoice.text.script import has_cjk
from localvoice.voiceclone.voices import Voice, active_voice

STREAMING_MODES = (0, 1, 2, 3)
START_HINT = "start it with `python api_v2.py -a 127.0.0.1 -p 9880` in GPT-SoVITS, or set tts.gpt_sovits.url"
NO_VOICE = (
    "GPT-SoVITS needs a voice: add one with `localvoice voice add NAME --ref clip.wav` and choose it "
    "with `localvoice voice use NAME` (or set tts.gpt_sovits.voice)"
)


def _script_of(ch: str) -> str:
    """HIRAGANA, KATAKANA, HANGUL, … from the character's Unicode name ("" when it has none)."""
    return unicodedata.name(ch, "").split(" ", 1)[0]


def _writes(text: str, scripts: tuple[str, ...]) -> bool:
    return any(_script_of(ch) in scripts for ch in text if not ch.isascii())


def clause_language(text: str, chinese: str = "zh") -> str:
    """GPT-SoVITS's ``text_lang`` for a clause, judged by its script.

    Any Chinese character makes it Chinese (``zh``, or ``yue`` for a Cantonese voice): GPT-SoVITS's
    Chinese front end reads the English words of a mixed clause too, while ``en`` would drop the
    Chinese ones. Kana means Japanese, Hangul Korean, anything else English.
    """
    if _writes(text, ("HIRAGANA", "KATAKANA")):  # only Japanese writes kana
        return "ja"
    if _writes(text, ("HANGUL",)):
        return "ko"
    return chinese if has_cjk(text) else "en"


class GptSovitsTTS:
    """The TTS protocol over a GPT-SoVITS server; one HTTP connection pool per instance."""

    def __init__(self, config: GptSovitsConfig, voice: Voice) -> None:
        if config.api not in ("v1", "v2"):
            raise ConfigError(f"tts.gpt_sovits.api must be v2 (api_v2.py) or v1 (api.py), got {config.api!r}")
        if config.streaming_mode not in STREAMING_MODES:
            raise ConfigError(
                f"tts.gpt_sovits.streaming_mode must be 0, 1, 2 or 3, got {config.streaming_mode}"
            )
        if config.chinese_lang not in ("zh", "yue"):
            raise ConfigError(f"tts.gpt_sovits.chinese_lang must be zh or yue, got {config.chinese_lang!r}")
        self.config = config
        self.voice = voice
        self.url = config.url.rstrip("/")
        self._client: httpx.AsyncClient | None = None
        self._weights_loaded = False
        self._weights_lock = asyncio.Lock()
        # One clause at a time: the server runs one model, and a second request in parallel would slow
        # the stream that is playing now. The next clause starts the moment this one's audio is in.
        self._request_lock = asyncio.Lock()

    @classmethod
    def from_config(cls, config: TTSConfig) -> Self:
        voice = active_voice(config.gpt_sovits)
        if voice is None:
            raise ConfigError(NO_VOICE)
        return cls(config.gpt_sovits, voice)

    @property
    def description(self) -> str:
        return f"GPT-SoVITS ({self.config.api}) at {self.url}, voice {self.voice.name}"

    def request(self, text: str) -> tuple[str, dict[str, Any]]:
        """The path and JSON body that synthesize ``text`` with the active voice."""
        config, voice = self.config, self.voice
        lang = clause_language(text, config.chinese_lang)
        if config.api == "v1":
            return "/", {
                "refer_wav_path": voice.ref_audio,
                "prompt_text": voice.prompt_text,
                "prompt_language": voice.prompt_lang,
                "text": text,
                "text_language": lang,
                "cut_punc": "",  # localvoice cuts clauses itself
                "top_k": config.top_k,
                "top_p": config.top_p,
                "temperature": config.temperature,
                "speed": config.speed_factor,
            }
        return "/tts", {
            "text": text,
            "text_lang": lang,
            "ref_audio_path": voice.ref_audio,
            "aux_ref_audio_paths": list(voice.aux_refs),
            "prompt_text": voice.prompt_text,
            "prompt_lang": voice.prompt_lang,
            "top_k": config.top_k,
            "top_p": config.top_p,
            "temperature": config.temperature,
            "speed_factor": config.speed_factor,
            "text_split_method": "cut0",  # one clause, no further cutting
            "batch_size": 1,
            "media_type": "wav",
            "streaming_mode": config.streaming_mode,
        }

    async def synthesize(self, text: str) -> AudioClip:
        chunks = [chunk async for chunk in self.stream_synthesize(text)]
        if not chunks:
            raise BackendError("GPT-SoVITS returned no audio for the clause")
        return AudioClip(np.concatenate([c.samples for c in chunks]), chunks[0].sample_rate_hz)

    async def stream_synthesize(self, text: str) -> AsyncIterator[AudioClip]:
        await self._load_weights()
        path, body = self.request(text)
        parser = WavStreamParser("GPT-SoVITS")
        try:
            async with self._request_lock, self._http().stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    raise BackendError(refusal(response.status_code, await response.aread()))
                async for data in response.aiter_raw():
                    clip = parser.feed(data)
                    if clip is not None:
                        yield clip
            parser.finish()
        except httpx.ConnectError:
            raise BackendUnavailableError(
                f"GPT-SoVITS is not answering at {self.url}; {START_HINT}."
            ) from None
        except httpx.TimeoutException:
            raise BackendUnavailableError(
                f"GPT-SoVITS at {self.url} sent nothing for {self.config.timeout_s:g} s"
            ) from None
        except httpx.HTTPError as error:  # the server died or hung up mid-clause
            raise BackendUnavailableError(f"GPT-SoVITS at {self.url} stopped mid-clause ({error})") from None

    async def warm_up(self) -> None:
        """Load the voice's trained weights now, so the first clause does not wait for them."""
        await self._load_weights()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            timeout = httpx.Timeout(self.config.timeout_s, connect=3.0)
            self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout)
        return self._client

    async def _load_weights(self) -> None:
        """``set_gpt_weights`` / ``set_sovits_weights`` once, when the voice names trained weights."""
        if self._weights_loaded:
            return
        async with self._weights_lock:
            if self._weights_loaded:
                return
            voice = self.voice
            try:
                if self.config.api == "v1" and (voice.gpt_weights or voice.sovits_weights):
                    body = {"gpt_model_path": voice.gpt_weights, "sovits_model_path": voice.sovits_weights}
                    await self._check(await self._http().post("/set_model", json=body), "the trained weights")
                else:
                    for kind, weights in (("gpt", voice.gpt_weights), ("sovits", voice.sovits_weights)):
                        if weights:
                            response = await self._http().get(
                                f"/set_{kind}_weights", params={"weights_path": weights}
                            )
                            await self._check(response, f"the {kind.upper()} weights {weights}")
            except httpx.ConnectError:
                raise BackendUnavailableError(
                    f"GPT-SoVITS is not answering at {self.url}; {START_HINT}."
                ) from None
            except httpx.HTTPError as error:
                raise BackendUnavailableError(f"GPT-SoVITS at {self.url} failed ({error})") from None
            self._weights_loaded = True

    async def _check(self, response: httpx.Response, what: str) -> None:
        if response.status_code >= 400:
            raise BackendError(server_error(f"could not load {what}", await response.aread()))


def refusal(status: int, body: bytes) -> str:
    """Why the server would not speak a clause, as one line, with the fix when there is one."""
    message = server_error("could not speak the clause", body)
    if status == 422 and b"streaming_mode" in body:  # FastAPI: an older api_v2 takes only true/false
        message += "; this GPT-SoVITS predates streaming modes 2 and 3: set tts.gpt_sovits.streaming_mode=1"
    return message


def server_error(doing: str, body: bytes) -> str:
    """GPT-SoVITS's ``{"message", "Exception"}`` (v2) or ``{"code", "message"}`` (v1) as one line."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if isinstance(data, dict) and data.get("message"):
        detail = str(data["message"])
        if data.get("Exception"):
            detail += f": {data['Exception']}"
    else:
        detail = body.decode("utf-8", "replace").strip()[:200] or "no reason given"
    return f"GPT-SoVITS {doing}: {' '.join(detail.split())}"


def probe_server(config: GptSovitsConfig, timeout_s: float = 1.0) -> str | None:
    """None when a GPT-SoVITS server answers at ``config.url``, else why not (one line).

    api_v2 answers a bare ``GET /tts`` with 400 (no text): any HTTP answer means it is up.
    """
    url = config.url.rstrip("/") + ("/tts" if config.api == "v2" else "/")
    try:
        httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as error:
        return f"not reachable at {config.url} ({type(error).__name__})"
    return None
