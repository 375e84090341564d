"""Chat through a running Ollama server (``POST /api/chat``, NDJSON streaming) with httpx.

Protocol as of Ollama 0.12 (server commit fb30760) and ollama-python 0.6.1: one JSON object a line,
each with ``message.content``; the last has ``done: true``; an error after the stream started comes
as a ``{"error": …}`` line under HTTP 200.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any, Self

from localvoice.backends.llm import http_chat
from localvoice.backends.llm.endpoints import ollama_base_url
from localvoice.backends.llm.sampling import DEFAULT_SAMPLING, Sampling
from localvoice.config import LLMConfig
from localvoice.errors import BackendError, LocalVoiceError
from localvoice.events import Message

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_MODEL = "qwen2.5:3b"


class OllamaLLM:
    """The LLM protocol over an Ollama server. One HTTP connection pool per instance."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        model: str = DEFAULT_MODEL,
        *,
        sampling: Sampling = DEFAULT_SAMPLING,
        keep_alive: str = "30m",
        timeouts: http_chat.HttpTimeouts = http_chat.DEFAULT_TIMEOUTS,
        notify: http_chat.Notify | None = None,
    ) -> None:
        """``notify`` hears notices for the user (a slow first word: the model may be loading)."""
        # "localhost:11434" or ":11434" (OLLAMA_HOST forms) need a scheme and port for httpx.
        self.host = ollama_base_url(host)
        self.model = model or DEFAULT_MODEL
        self.sampling = sampling
        self.keep_alive = _keep_alive_value(keep_alive)
        self._http = http_chat.ChatHttp(self.host, ollama_words(self.host), timeouts, notify=notify)

    @classmethod
    def from_config(cls, llm: LLMConfig, notify: http_chat.Notify | None = None) -> Self:
        from localvoice.persona.apply import persona_config  # the persona's model and PARAMETERs

        llm = persona_config(llm, embedded=False)
        sampling, timeouts = Sampling.from_config(llm), http_chat.HttpTimeouts.from_config(llm)
        return cls(
            llm.host,
            llm.model,
            sampling=sampling,
            keep_alive=llm.keep_alive,
            timeouts=timeouts,
            notify=notify,
        )

    @property
    def description(self) -> str:
        return f"ollama {self.model} at {self.host}"

    @property
    def options(self) -> dict[str, Any]:
        """The same for chats and the warm-up, or Ollama reloads the model."""
        return self.sampling.ollama_options()

    def stream_chat(self, messages: Sequence[Message]) -> AsyncGenerator[str, None]:
        """Stream the reply's text deltas (see ``http_chat.ChatHttp.watch``); the system message is sent as given."""
        # Ollama turns thinking on for models that can think unless told otherwise, and a spoken
        # reply cannot wait for it; models without the capability accept false too.
        options, keep_alive = self.options, self.keep_alive
        payload = http_chat.chat_request(
            self.model, messages, self.sampling, options=options, keep_alive=keep_alive, think=False
        )
        return self._http.watch(self._stream(payload), self.model)

    async def warm_up(self) -> None:
        """Load the model (an empty ``messages`` list) with the chat options, so nothing reloads later."""
        payload = {
            "model": self.model,
            "messages": [],
            "stream": False,
            "options": self.options,
            "keep_alive": self.keep_alive,
        }
        response = await self._http.load("/api/chat", payload, self.model)
        self._raise_for_status(response.status_code, response.text)
        body = self._http.parse_object(response.content)
        if "error" in body:
            raise BackendError(f"Ollama at {self.host} could not load {self.model}: {body['error']}")

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- internals ----

    async def _stream(self, payload: dict[str, Any]) -> AsyncGenerator[str, None]:
        http = self._http
        async with http.stream("/api/chat", payload, self._raise_for_status) as response:
            # x-ndjson for a stream; a single application/json object for a load or an early error.
            kind = http.content_type(response)
            if kind not in ("application/x-ndjson", "application/json"):
                raise http.not_protocol(f"content type {kind or 'none'!r}")
            async for line in http_chat.ndjson_lines(response):
                chunk = http.parse_object(line)
                if "error" in chunk:
                    raise BackendError(f"Ollama failed in the middle of the reply: {chunk['error']}")
                message = chunk.get("message")
                if not isinstance(message, dict) or not isinstance(message.get("content", ""), str):
                    raise http.not_protocol("a line without message.content")
                if message.get("content"):
                    yield message["content"]
                if chunk.get("done"):
                    return
            raise BackendError(
                f"Ollama at {self.host} ended the reply stream before it was done; see the Ollama log"
            )

    def _raise_for_status(self, status: int, text: str) -> None:
        hint = f"download the model with `ollama pull {self.model}`"
        self._http.raise_for_status(status, _error_text(text), hint)


def ollama_words(host: str) -> http_chat.ServerWords:
    not_running = (
        f"Ollama is not running at {host}; start it with `ollama serve` "
        "(or point llm.host / OLLAMA_HOST at where it runs)"
    )
    check = "check that llm.host points at an Ollama server"
    return http_chat.ServerWords(f"Ollama at {host}", not_running, "Ollama's protocol", check)


async def ollama_available(host: str, timeout_s: float = 0.5) -> bool:
    """True when an Ollama server answers ``GET /api/version`` at ``host`` within ``timeout_s``."""
    http = _probe(host, timeout_s)
    try:
        response = await http.get("/api/version")
        body = response.json()
    except (LocalVoiceError, ValueError):
        return False
    finally:
        await http.aclose()
    return response.status_code == 200 and isinstance(body, dict) and "version" in body


async def list_models(host: str, timeout_s: float = 5.0) -> list[str]:
    """Names of the models the server at ``host`` has pulled (``GET /api/tags``), for ``doctor``."""
    http = _probe(host, timeout_s)
    try:
        response = await http.get("/api/tags", f"{timeout_s:g} s")
    finally:
        await http.aclose()
    if response.status_code != 200:
        raise BackendError(f"Ollama at {http.base_url} refused /api/tags (HTTP {response.status_code})")
    models = http.parse_object(response.content).get("models")
    if not isinstance(models, list):
        raise http.not_protocol("no models list")
    return [str(m["name"]) for m in models if isinstance(m, dict) and "name" in m]


def _probe(host: str, timeout_s: float) -> http_chat.ChatHttp:
    host = host.strip().rstrip("/")
    return http_chat.ChatHttp(
        host, ollama_words(host), http_chat.HttpTimeouts(connect_s=timeout_s, read_s=timeout_s)
    )


def _error_text(text: str) -> str | None:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return None


def _keep_alive_value(value: str) -> str | int | float:
    """Ollama reads a JSON number as seconds but parses a string as a Go duration ("300" fails)."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number
