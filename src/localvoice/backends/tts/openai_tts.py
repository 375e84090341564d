"""Speech from any OpenAI-compatible ``POST {url}/v1/audio/speech`` server (``tts.backend = "openai"``).

Each clause goes out as ``{model, voice, input, response_format, speed}`` (REFERENCE.md §4) and its
audio is played as the body arrives, so a server that streams (OpenAI, Kokoro-FastAPI, another
machine's ``localvoice serve``) starts playing before the clause is done; one that sends the whole
clip at once still works. Two formats are read:

- ``pcm``: raw 16-bit little-endian mono at ``tts.openai.sample_rate_hz`` (OpenAI's convention is
  24 kHz; an ``audio/L16; rate=…`` content type overrides it);
- ``wav``: a 16-bit WAV, parsed as it streams (``wav_stream.py``: a streaming server's header has
  no true length).

A server that stops mid-clause is "down" (``BackendUnavailableError``), so that, wrapped in
``FallbackTTS`` as assemble.py does, the packaged voice speaks that clause and the rest of the turn
with one notice. The key (``tts.openai.api_key``) defaults to ``OPENAI_API_KEY`` (config.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Self

import httpx
import numpy as np

from localvoice.backends.openai_audio import audio_http, check_server, check_status
from localvoice.backends.tts.wav_stream import WavStreamParser
from localvoice.config import OpenAiTTSConfig, TTSConfig
from localvoice.errors import BackendError, BackendUnavailableError, ConfigError
from localvoice.events import AudioClip

PATH = "/v1/audio/speech"
FORMATS = ("pcm", "wav")
MAX_INPUT_CHARS = 4096  # OpenAI's limit on one request's input
# Answers that are not audio whatever the format asked for: an error page or JSON under HTTP 200.
_NOT_AUDIO = ("text/", "application/json", "application/xml")


class OpenAiTTS:
    """The TTS protocol over ``POST /v1/audio/speech``; one HTTP connection pool per instance.

    Clauses may overlap (``tts.max_concurrency``): a serving engine batches them.
    """

    def __init__(self, config: OpenAiTTSConfig) -> None:
        if config.response_format not in FORMATS:
            raise ConfigError(
                f"tts.openai.response_format must be pcm or wav, got {config.response_format!r}"
            )
        if not 0.25 <= config.speed <= 4.0:
            raise ConfigError(f"tts.openai.speed must be between 0.25 and 4.0, got {config.speed:g}")
        if config.sample_rate_hz <= 0:
            raise ConfigError(f"tts.openai.sample_rate_hz must be above 0, got {config.sample_rate_hz}")
        if not config.model or not config.voice:
            raise ConfigError("tts.openai.model and tts.openai.voice must name what the server serves")
        self.config = config
        self._http = audio_http("tts.openai", "speech", config.url, config.api_key, config.timeout_s)
        self.url = self._http.base_url

    @classmethod
    def from_config(cls, config: TTSConfig) -> Self:
        return cls(config.openai)

    @property
    def description(self) -> str:
        return f"OpenAI-compatible speech ({self.config.model}, voice {self.config.voice}) at {self.url}"

    def request(self, text: str) -> dict[str, Any]:
        config = self.config
        return {
            "model": config.model,
            "voice": config.voice,
            "input": text,
            "response_format": config.response_format,
            "speed": config.speed,
        }

    async def synthesize(self, text: str) -> AudioClip:
        chunks = [chunk async for chunk in self.stream_synthesize(text)]
        if not chunks:
            return AudioClip(np.zeros(0, dtype=np.int16), self.config.sample_rate_hz)
        return AudioClip(np.concatenate([c.samples for c in chunks]), chunks[0].sample_rate_hz)

    async def stream_synthesize(self, text: str) -> AsyncIterator[AudioClip]:
        text = text.strip()
        if not text:
            return
        if len(text) > MAX_INPUT_CHARS:
            raise BackendError(
                f"a clause of {len(text)} characters is over the speech API's {MAX_INPUT_CHARS}"
            )
        http = self._http
        try:
            async with http.client().stream("POST", PATH, json=self.request(text)) as response:
                if response.status_code >= 400:
                    await response.aread()
                    check_status(http, "tts.openai", PATH, response.status_code, response.text)
                read = _AudioReader(http.words.server, self.config, http.content_type(response), response)
                async for data in response.aiter_raw():
                    clip = read.feed(data)
                    if clip is not None:
                        yield clip
                read.finish()
        except httpx.ConnectError:
            raise BackendUnavailableError(http.words.not_running) from None
        except httpx.TimeoutException:
            raise BackendUnavailableError(
                f"{http.words.server} sent nothing for {self.config.timeout_s:g} s (tts.openai.timeout_s)"
            ) from None
        except httpx.HTTPError as error:  # the server died or hung up mid-clause
            raise BackendUnavailableError(
                f"{http.words.server} stopped mid-clause ({error or type(error).__name__})"
            ) from None

    async def warm_up(self) -> None:
        """Say now, not at the first clause, when the server is down or refuses the key."""
        await check_server(self._http, "tts.openai")

    async def aclose(self) -> None:
        await self._http.aclose()


class _AudioReader:
    """Bytes of one reply → clips, for either format; garbage is one clear error."""

    def __init__(self, server: str, config: OpenAiTTSConfig, kind: str, response: httpx.Response) -> None:
        self._server = server
        if kind.startswith(_NOT_AUDIO):
            raise BackendError(
                f"{server} answered with {kind}, not audio; check that tts.openai.url points at an "
                "OpenAI-compatible speech server"
            )
        self._wav = WavStreamParser(server) if config.response_format == "wav" else None
        self._rate_hz = _l16_rate(response.headers.get("content-type", "")) or config.sample_rate_hz
        self._odd = b""  # half a sample, cut between two reads
        self._bytes = 0

    def feed(self, data: bytes) -> AudioClip | None:
        self._bytes += len(data)
        if self._wav is not None:
            return self._wav.feed(data)
        data = self._odd + data
        usable = len(data) - len(data) % 2
        self._odd = data[usable:]
        if usable == 0:
            return None
        return AudioClip(np.frombuffer(data[:usable], dtype="<i2").astype(np.int16), self._rate_hz)

    def finish(self) -> None:
        if self._wav is not None:
            self._wav.finish()
        elif self._bytes == 0:
            raise BackendError(f"{self._server} sent no audio at all")


def _l16_rate(content_type: str) -> int | None:
    """The rate of an ``audio/L16; rate=24000`` answer (RFC 2586), else None."""
    kind, *params = (part.strip().lower() for part in content_type.split(";"))
    if kind != "audio/l16":
        return None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "rate" and value.strip().isdigit():
            return int(value)
    return None
