"""Chat through any OpenAI-compatible server (``POST {base}/chat/completions``, SSE streaming) with httpx.

Servers: vLLM, llama.cpp's llama-server, LM Studio, and Ollama's own ``/v1``. Protocol as the official
``openai`` Python client (3.57.0) reads it: ``data: {chunk}`` events, text in
``choices[0].delta.content`` (null or absent on role-only and final chunks), the stream ends with
``data: [DONE]``; an error after the stream started comes as ``data: {"error": {"message": …}}``
under HTTP 200; errors before it are ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from typing import Any, Self

import httpx

from localvoice.backends.llm.endpoints import is_loopback, ollama_base_url
from localvoice.backends.llm.history import trim_history
from localvoice.backends.llm.sampling import sampling_options
from localvoice.config import Config
from localvoice.errors import BackendError, BackendUnavailableError, ModelNotFoundError
from localvoice.events import Message

DEFAULT_BASE_URL = "http://127.0.0.1:11434/v1"  # Ollama's OpenAI-compatible endpoint
DEFAULT_MODEL = "qwen2.5:3b"
# Loading a model from a slow disk can take minutes; a chat waits only ``read_timeout_s`` per chunk.
WARM_UP_TIMEOUT_S = 300.0
DEFAULT_REPLY_RESERVE_TOKENS = 512  # room kept for the reply when num_predict is unlimited
_SSE_FIELDS = frozenset({b"data", b"event", b"id", b"retry"})


class OpenAICompatLLM:
    """The LLM protocol over an OpenAI-compatible chat server. One HTTP connection pool per instance."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        model: str = DEFAULT_MODEL,
        *,
        api_key: str = "",
        temperature: float = 0.7,
        num_ctx: int = 4096,
        top_p: float = 0.9,
        num_predict: int = 256,
        seed: int = -1,
        stop: Sequence[str] = (),
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 60.0,
    ) -> None:
        self.base_url = base_url.strip().rstrip("/")
        self.model = model or DEFAULT_MODEL
        self.num_ctx = num_ctx
        # Only what the user set: -1 means "the server's default", which OpenAI expresses by omission.
        self.options: dict[str, Any] = {"temperature": temperature, "top_p": top_p}
        if num_predict >= 0:
            self.options["max_tokens"] = num_predict
        if seed != -1:
            self.options["seed"] = seed
        if stop:
            self.options["stop"] = list(stop)
        self.reserve_tokens = num_predict if num_predict > 0 else DEFAULT_REPLY_RESERVE_TOKENS
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_config(cls, config: Config) -> Self:
        llm = config.llm
        base_url = llm.openai_url or _default_base_url(llm.host)
        return cls(
            base_url=base_url,
            model=llm.model or DEFAULT_MODEL,
            api_key=llm.api_key or os.environ.get("OPENAI_API_KEY", ""),
            **sampling_options(llm),
            connect_timeout_s=llm.connect_timeout_s,
            read_timeout_s=llm.read_timeout_s,
        )

    @property
    def description(self) -> str:
        return f"openai-compatible {self.model} at {self.base_url}"

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
            **self.options,
        }
        return self._stream(payload)

    async def warm_up(self) -> None:
        """Check the server lists the model, then ask for one token so the model is loaded now."""
        timeout = httpx.Timeout(WARM_UP_TIMEOUT_S, connect=self.connect_timeout_s)
        listed = await self._listed_models()
        if listed is not None and not _is_listed(self.model, listed):
            choices = ", ".join(listed) or "none"
            raise ModelNotFoundError(
                f"the server at {self.base_url} does not list the model {self.model!r} "
                f"(it has: {choices}); set llm.model to one of them"
            )
        payload = {
            "model": self.model,
            "messages": [{"role": "user", "content": "hi"}],
            "stream": False,
            **self.options,
            "max_tokens": 1,
        }
        try:
            response = await self._http().post("/chat/completions", json=payload, timeout=timeout)
        except httpx.HTTPError as error:
            raise self._transport_error(
                error, f"{WARM_UP_TIMEOUT_S:g} s while loading {self.model}"
            ) from None
        self._raise_for_status(response.status_code, response.text, "/chat/completions")
        body = self._parse_object(response.content)
        if "error" in body:
            raise BackendError(
                f"the server at {self.base_url} could not load {self.model}: {_error_message(body)}"
            )

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # ---- internals ----

    def _http(self) -> httpx.AsyncClient:
        # Created on first use so the pool belongs to the event loop that uses it.
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=self._headers,
                timeout=httpx.Timeout(self.read_timeout_s, connect=self.connect_timeout_s),
                trust_env=not is_loopback(self.base_url),  # an env proxy never serves localhost
            )
        return self._client

    async def _listed_models(self) -> list[str] | None:
        """The ids ``GET /models`` lists, or None when the server has no usable model list."""
        try:
            response = await self._http().get("/models")
        except httpx.HTTPError as error:
            raise self._transport_error(error, f"{self.read_timeout_s:g} s (llm.read_timeout_s)") from None
        if response.status_code in (401, 403):
            self._raise_for_status(response.status_code, response.text, "/models")
        try:
            body = response.json()
        except ValueError:
            return None
        data = body.get("data") if response.status_code == 200 and isinstance(body, dict) else None
        if not isinstance(data, list):
            return None
        return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]

    async def _stream(self, payload: dict[str, Any]) -> AsyncGenerator[str, None]:
        try:
            async with self._http().stream("POST", "/chat/completions", json=payload) as response:
                if response.status_code >= 400:
                    await response.aread()
                    self._raise_for_status(response.status_code, response.text, "/chat/completions")
                kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if kind == "application/json":
                    # A server that ignores "stream": one chat.completion object, or an error.
                    await response.aread()
                    text = self._whole_reply(self._parse_object(response.content))
                    if text:
                        yield text
                    return
                if kind != "text/event-stream":
                    raise self._not_openai(f"content type {kind or 'none'!r}")
                async for data in _sse_data(response, self._not_openai):
                    if data.strip() == b"[DONE]":
                        return
                    chunk = self._parse_object(data)
                    if "error" in chunk:
                        raise BackendError(
                            f"the server at {self.base_url} failed in the middle of the reply: "
                            f"{_error_message(chunk)}"
                        )
                    delta = _delta_text(chunk)
                    if delta is None:
                        raise self._not_openai("a chunk without choices[0].delta")
                    if delta:
                        yield delta
                raise BackendError(
                    f"the server at {self.base_url} ended the reply stream without [DONE]; "
                    "see the server's log"
                )
        except httpx.HTTPError as error:
            raise self._transport_error(error, f"{self.read_timeout_s:g} s (llm.read_timeout_s)") from None

    def _whole_reply(self, body: dict[str, Any]) -> str:
        if "error" in body:
            raise BackendError(f"the server at {self.base_url} failed: {_error_message(body)}")
        choices = body.get("choices")
        message = choices[0].get("message") if isinstance(choices, list) and choices else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(message, dict) or not isinstance(content, str | None):
            raise self._not_openai("a JSON reply without choices[0].message")
        return content or ""

    def _transport_error(self, error: httpx.HTTPError, waited: str) -> Exception:
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return BackendUnavailableError(
                f"no OpenAI-compatible server answers at {self.base_url}; start it (vLLM, llama-server, "
                "LM Studio, `ollama serve`) or point llm.openai_url at where it runs"
            )
        if isinstance(error, httpx.TimeoutException):
            return BackendError(
                f"the server at {self.base_url} sent nothing for {waited}; "
                "the model may be stuck or the machine overloaded"
            )
        return BackendError(
            f"the connection to the server at {self.base_url} broke: {error or type(error).__name__}"
        )

    def _raise_for_status(self, status: int, text: str, path: str) -> None:
        if status < 400:
            return
        message = _error_text(text)
        if status in (401, 403):
            said = f": {message}" if message else ""
            raise BackendError(
                f"the server at {self.base_url} refused the API key (HTTP {status}){said}; "
                "set llm.api_key or OPENAI_API_KEY"
            )
        if message is None:
            if status == 404:
                raise BackendError(
                    f"the server at {self.base_url} has no {path} (HTTP 404); check llm.openai_url "
                    "(it usually ends in /v1)"
                )
            raise self._not_openai(f"HTTP {status} without an OpenAI error body")
        if status == 404:
            raise ModelNotFoundError(
                f"the server at {self.base_url} says: {message}; set llm.model to a model it serves "
                f"(see {self.base_url}/models)"
            )
        raise BackendError(f"the server at {self.base_url} refused the request (HTTP {status}): {message}")

    def _parse_object(self, data: bytes) -> dict[str, Any]:
        try:
            value = json.loads(data)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            raise self._not_openai("bytes that are not JSON") from None
        if not isinstance(value, dict):
            raise self._not_openai("JSON that is not an object")
        return value

    def _not_openai(self, detail: str) -> BackendError:
        return BackendError(
            f"{self.base_url} answered with something that is not an OpenAI-compatible server's "
            f"protocol ({detail}); check that llm.openai_url points at one"
        )


def _default_base_url(host: str) -> str:
    """``llm.host`` (an Ollama address in any OLLAMA_HOST form) plus Ollama's ``/v1``."""
    return f"{ollama_base_url(host)}/v1"


async def _sse_data(
    response: httpx.Response, not_openai: Callable[[str], BackendError]
) -> AsyncIterator[bytes]:
    """The data of each server-sent event, as soon as its closing blank line arrives.

    Splits on b"\\n" only (httpx's aiter_lines also splits on U+0085 and U+2028, which JSON text may
    hold raw). Comments (``:``) and ``event``/``id``/``retry`` fields are skipped; a line that is no
    SSE field at all means the server is not speaking SSE.
    """
    buffer = b""
    data: list[bytes] = []
    async for block in response.aiter_bytes():
        buffer += block
        *lines, buffer = buffer.split(b"\n")
        for raw in lines:
            line = raw.removesuffix(b"\r")
            if not line:
                event, data = b"\n".join(data), []
                if event:  # SSE dispatches no event whose data is empty
                    yield event
                continue
            if line.startswith(b":"):
                continue
            name, colon, value = line.partition(b":")
            if not colon or name not in _SSE_FIELDS:
                raise not_openai("a line that is not a server-sent event")
            if name == b"data":
                data.append(value.removeprefix(b" "))
    if buffer.strip():
        raise not_openai("a stream cut in the middle of a line")
    if any(data):  # a last event without its blank line
        yield b"\n".join(data)


def _delta_text(chunk: dict[str, Any]) -> str | None:
    """The text of a chunk ("" for role-only, final and usage chunks), None if it is no chunk."""
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        return None
    if not choices:  # the usage chunk of stream_options.include_usage
        return ""
    delta = choices[0].get("delta") if isinstance(choices[0], dict) else None
    if not isinstance(delta, dict):
        return None
    content = delta.get("content")
    return content if isinstance(content, str) else ""


def _error_message(body: dict[str, Any]) -> str:
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return str(error)


def _error_text(text: str) -> str | None:
    """The message of an error body: OpenAI's ``{"error": {"message"}}``, or the shapes others use."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    for key in ("error", "message", "detail"):  # {"error": "…"}, vLLM's older form, FastAPI's
        if isinstance(body.get(key), str):
            return str(body[key])
    return None


def _is_listed(model: str, listed: Sequence[str]) -> bool:
    # Ollama lists "name:latest" for a model asked for by its bare name.
    return model in listed or (":" not in model.rsplit("/", 1)[-1] and f"{model}:latest" in listed)
