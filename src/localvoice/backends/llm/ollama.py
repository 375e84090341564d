"""Chat through a running Ollama server (``POST /api/chat``, NDJSON streaming) with httpx.

Protocol as of Ollama 0.12 (server commit fb30760) and ollama-python 0.6.1: one JSON object a line,
each with ``message.content``; the last has ``done: true``; an error after the stream started comes
as a ``{"error": …}`` line under HTTP 200.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import Any, Self

import httpx

from localvoice.backends.llm.endpoints import is_loopback, ollama_base_url
from localvoice.backends.llm.history import trim_history
from localvoice.backends.llm.sampling import sampling_options
from localvoice.config import Config
from localvoice.errors import BackendError, BackendUnavailableError, ModelNotFoundError
from localvoice.events import Message

DEFAULT_HOST = "http://127.0.0.1:11434"
DEFAULT_MODEL = "qwen2.5:3b"
# Loading a model from a slow disk can take minutes; a chat waits only ``read_timeout_s`` per chunk.
WARM_UP_TIMEOUT_S = 300.0
DEFAULT_REPLY_RESERVE_TOKENS = 512  # room kept for the reply when num_predict is unlimited


class OllamaLLM:
    """The LLM protocol over an Ollama server. One HTTP connection pool per instance."""

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        model: str = DEFAULT_MODEL,
        *,
        temperature: float = 0.7,
        num_ctx: int = 4096,
        top_p: float = 0.9,
        num_predict: int = 256,
        seed: int = -1,
        stop: Sequence[str] = (),
        keep_alive: str = "30m",
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 60.0,
    ) -> None:
        # "localhost:11434" or ":11434" (OLLAMA_HOST forms) need a scheme and port for httpx.
        self.host = ollama_base_url(host)
        self.model = model or DEFAULT_MODEL
        self.num_ctx = num_ctx
        self.options: dict[str, Any] = {
            "temperature": temperature,
            "top_p": top_p,
            "num_ctx": num_ctx,
            "num_predict": num_predict,
            "seed": seed,
        }
        if stop:
            self.options["stop"] = list(stop)
        self.keep_alive = _keep_alive_value(keep_alive)
        self.reserve_tokens = num_predict if num_predict > 0 else DEFAULT_REPLY_RESERVE_TOKENS
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_config(cls, config: Config) -> Self:
        llm = config.llm
        return cls(
            host=llm.host,
            model=llm.model or DEFAULT_MODEL,
            **sampling_options(llm),
            keep_alive=llm.keep_alive,
            connect_timeout_s=llm.connect_timeout_s,
            read_timeout_s=llm.read_timeout_s,
        )

    @property
    def description(self) -> str:
        return f"ollama {self.model} at {self.host}"

    def stream_chat(self, messages: Sequence[Message]) -> AsyncGenerator[str, None]:
        """Stream the reply's text deltas; the caller's system message is sent as given.

        On a failure mid-reply the deltas already yielded stay yielded and the error follows them.
        Close the iterator (``aclose()``, cancellation, ``contextlib.aclosing``) to stop the reply
        and drop its HTTP connection at once.
        """
        history = trim_history(messages, self.num_ctx, reserve_tokens=self.reserve_tokens)
        payload = {
            "model": self.model,
            "messages": [m.to_api() for m in history],
            "stream": True,
            "options": self.options,
            "keep_alive": self.keep_alive,
            # Ollama turns thinking on for models that can think unless told otherwise, and a
            # spoken reply cannot wait for it; models without the capability accept false too.
            "think": False,
        }
        return self._stream(payload)

    async def warm_up(self) -> None:
        """Load the model (an empty ``messages`` list) with the chat options, so nothing reloads later."""
        payload = {
            "model": self.model,
            "messages": [],
            "stream": False,
            "options": self.options,
            "keep_alive": self.keep_alive,
        }
        timeout = httpx.Timeout(WARM_UP_TIMEOUT_S, connect=self.connect_timeout_s)
        try:
            response = await self._http().post("/api/chat", json=payload, timeout=timeout)
        except httpx.HTTPError as error:
            raise self._transport_error(
                error, f"{WARM_UP_TIMEOUT_S:g} s while loading {self.model}"
            ) from None
        self._raise_for_status(response.status_code, response.text)
        body = _parse_object(response.content, self.host)
        if "error" in body:
            raise BackendError(f"Ollama at {self.host} could not load {self.model}: {body['error']}")

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # ---- internals ----

    def _http(self) -> httpx.AsyncClient:
        # Created on first use so the pool belongs to the event loop that uses it.
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.host,
                timeout=httpx.Timeout(self.read_timeout_s, connect=self.connect_timeout_s),
                trust_env=not is_loopback(self.host),  # a proxy from the environment never serves localhost
            )
        return self._client

    async def _stream(self, payload: dict[str, Any]) -> AsyncGenerator[str, None]:
        try:
            async with self._http().stream("POST", "/api/chat", json=payload) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self._raise_for_status(response.status_code, response.text)
                _check_content_type(response, self.host)
                async for line in _ndjson_lines(response):
                    chunk = _parse_object(line, self.host)
                    if "error" in chunk:
                        raise BackendError(f"Ollama failed in the middle of the reply: {chunk['error']}")
                    message = chunk.get("message")
                    if not isinstance(message, dict) or not isinstance(message.get("content", ""), str):
                        raise _not_ollama(self.host, "a line without message.content")
                    if message.get("content"):
                        yield message["content"]
                    if chunk.get("done"):
                        return
                raise BackendError(
                    f"Ollama at {self.host} ended the reply stream before it was done; see the Ollama log"
                )
        except httpx.HTTPError as error:
            raise self._transport_error(error, f"{self.read_timeout_s:g} s (llm.read_timeout_s)") from None

    def _transport_error(self, error: httpx.HTTPError, waited: str) -> Exception:
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return BackendUnavailableError(
                f"Ollama is not running at {self.host}; start it with `ollama serve` "
                "(or point llm.host / OLLAMA_HOST at where it runs)"
            )
        if isinstance(error, httpx.TimeoutException):
            return BackendError(
                f"Ollama at {self.host} sent nothing for {waited}; "
                "the model may be stuck or the machine overloaded"
            )
        return BackendError(f"the connection to Ollama at {self.host} broke: {error or type(error).__name__}")

    def _raise_for_status(self, status: int, text: str) -> None:
        if status < 400:
            return
        message = _error_text(text)
        if message is None:
            raise _not_ollama(self.host, f"HTTP {status} without an Ollama error body")
        if status == 404:
            raise ModelNotFoundError(
                f"Ollama at {self.host} says: {message}; download the model with `ollama pull {self.model}`"
            )
        raise BackendError(f"Ollama at {self.host} refused the request (HTTP {status}): {message}")


async def ollama_available(host: str, timeout_s: float = 0.5) -> bool:
    """True when an Ollama server answers ``GET /api/version`` at ``host`` within ``timeout_s``."""
    try:
        async with httpx.AsyncClient(timeout=timeout_s, trust_env=not is_loopback(host)) as client:
            response = await client.get(f"{host.rstrip('/')}/api/version")
        body = response.json()
    except (httpx.HTTPError, ValueError):
        return False
    return response.status_code == 200 and isinstance(body, dict) and "version" in body


async def list_models(host: str, timeout_s: float = 5.0) -> list[str]:
    """Names of the models the server at ``host`` has pulled (``GET /api/tags``), for ``doctor``."""
    host = host.rstrip("/")
    try:
        async with httpx.AsyncClient(timeout=timeout_s, trust_env=not is_loopback(host)) as client:
            response = await client.get(f"{host}/api/tags")
    except (httpx.ConnectError, httpx.ConnectTimeout):
        raise BackendUnavailableError(
            f"Ollama is not running at {host}; start it with `ollama serve` "
            "(or point llm.host / OLLAMA_HOST at where it runs)"
        ) from None
    except httpx.HTTPError as error:
        raise BackendError(
            f"Ollama at {host} did not answer /api/tags: {error or type(error).__name__}"
        ) from None
    if response.status_code != 200:
        raise BackendError(f"Ollama at {host} refused /api/tags (HTTP {response.status_code})")
    body = _parse_object(response.content, host)
    models = body.get("models")
    if not isinstance(models, list):
        raise _not_ollama(host, "no models list")
    return [str(m["name"]) for m in models if isinstance(m, dict) and "name" in m]


async def _ndjson_lines(response: httpx.Response) -> AsyncIterator[bytes]:
    """Split on b"\\n" only: httpx's aiter_lines also splits on U+0085 and U+2028, which JSON may hold raw."""
    buffer = b""
    async for data in response.aiter_bytes():
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if line.strip():
                yield line
    if buffer.strip():
        yield buffer


def _parse_object(data: bytes, host: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        raise _not_ollama(host, "bytes that are not JSON") from None
    if not isinstance(value, dict):
        raise _not_ollama(host, "JSON that is not an object")
    return value


def _check_content_type(response: httpx.Response, host: str) -> None:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    # x-ndjson for a stream; a single application/json object for a load or an early error.
    if kind not in ("application/x-ndjson", "application/json"):
        raise _not_ollama(host, f"content type {kind or 'none'!r}")


def _not_ollama(host: str, detail: str) -> BackendError:
    return BackendError(
        f"{host} answered with something that is not Ollama's protocol ({detail}); "
        "check that llm.host points at an Ollama server"
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
