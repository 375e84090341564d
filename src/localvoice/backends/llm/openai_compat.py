"""Chat through any OpenAI-compatible server (``POST {base}/chat/completions``, SSE streaming) with httpx.

Servers: vLLM, llama.cpp's llama-server, LM Studio, and Ollama's own ``/v1``. Protocol as the official
``openai`` Python client (3.57.0) reads it: ``data: {chunk}`` events, text in
``choices[0].delta.content`` (null or absent on role-only and final chunks), the stream ends with
``data: [DONE]``; an error after the stream started comes as ``data: {"error": {"message": …}}``
under HTTP 200; errors before it are ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any, Self

from localvoice.backends.llm import http_chat
from localvoice.backends.llm.endpoints import ollama_base_url
from localvoice.backends.llm.history import merge_system_messages
from localvoice.backends.llm.sampling import DEFAULT_SAMPLING, Sampling
from localvoice.config import LLMConfig
from localvoice.errors import BackendError, ModelNotFoundError
from localvoice.events import Message

DEFAULT_BASE_URL = "http://127.0.0.1:11434/v1"  # Ollama's OpenAI-compatible endpoint
DEFAULT_MODEL = "qwen2.5:3b"


class OpenAICompatLLM:
    """The LLM protocol over an OpenAI-compatible chat server. One HTTP connection pool per instance."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        model: str = DEFAULT_MODEL,
        *,
        api_key: str = "",
        sampling: Sampling = DEFAULT_SAMPLING,
        timeouts: http_chat.HttpTimeouts = http_chat.DEFAULT_TIMEOUTS,
        notify: http_chat.Notify | None = None,
    ) -> None:
        """``notify`` hears notices for the user (a slow first word: the model may be loading)."""
        self.base_url = base_url.strip().rstrip("/")
        self.model = model or DEFAULT_MODEL
        self.sampling = sampling
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = http_chat.ChatHttp(
            self.base_url, _openai_words(self.base_url), timeouts, headers, notify
        )

    @classmethod
    def from_config(cls, llm: LLMConfig, notify: http_chat.Notify | None = None) -> Self:
        """``llm.api_key`` already holds OPENAI_API_KEY when the config did not set one (config.py)."""
        base_url = llm.openai_url or _default_base_url(llm.host)
        sampling, timeouts = Sampling.from_config(llm), http_chat.HttpTimeouts.from_config(llm)
        return cls(
            base_url, llm.model, api_key=llm.api_key, sampling=sampling, timeouts=timeouts, notify=notify
        )

    @property
    def description(self) -> str:
        return f"openai-compatible {self.model} at {self.base_url}"

    def stream_chat(self, messages: Sequence[Message]) -> AsyncGenerator[str, None]:
        """Stream the reply's text deltas (see ``http_chat.ChatHttp.watch``); system messages are sent
        merged into one, first, since some servers' chat templates refuse a later one."""
        merged = merge_system_messages(messages)
        payload = http_chat.chat_request(self.model, merged, self.sampling, **self.sampling.openai_fields())
        return self._http.watch(self._stream(payload), self.model)

    async def warm_up(self) -> None:
        """Check the server lists the model, then ask for one token so the model is loaded now."""
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
            **self.sampling.openai_fields(),
            "max_tokens": 1,
        }
        response = await self._http.load("/chat/completions", payload, self.model)
        self._raise_for_status(response.status_code, response.text, "/chat/completions")
        body = self._http.parse_object(response.content)
        if "error" in body:
            raise BackendError(
                f"the server at {self.base_url} could not load {self.model}: {_error_message(body)}"
            )

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- internals ----

    async def _listed_models(self) -> list[str] | None:
        """The ids ``GET /models`` lists, or None when the server has no usable model list."""
        response = await self._http.get("/models")
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
        http = self._http

        def check(status: int, text: str) -> None:
            self._raise_for_status(status, text, "/chat/completions")

        async with http.stream("/chat/completions", payload, check) as response:
            kind = http.content_type(response)
            if kind == "application/json":
                # A server that ignores "stream": one chat.completion object, or an error.
                await response.aread()
                text = self._whole_reply(http.parse_object(response.content))
                if text:
                    yield text
                return
            if kind != "text/event-stream":
                raise http.not_protocol(f"content type {kind or 'none'!r}")
            async for data in http_chat.sse_data(response, http.not_protocol):
                if data.strip() == b"[DONE]":
                    return
                chunk = http.parse_object(data)
                if "error" in chunk:
                    raise BackendError(
                        f"the server at {self.base_url} failed in the middle of the reply: "
                        f"{_error_message(chunk)}"
                    )
                delta = _delta_text(chunk)
                if delta is None:
                    raise http.not_protocol("a chunk without choices[0].delta")
                if delta:
                    yield delta
            raise BackendError(
                f"the server at {self.base_url} ended the reply stream without [DONE]; see the server's log"
            )

    def _whole_reply(self, body: dict[str, Any]) -> str:
        if "error" in body:
            raise BackendError(f"the server at {self.base_url} failed: {_error_message(body)}")
        choices = body.get("choices")
        message = choices[0].get("message") if isinstance(choices, list) and choices else None
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(message, dict) or not isinstance(content, str | None):
            raise self._http.not_protocol("a JSON reply without choices[0].message")
        return content or ""

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
        if message is None and status == 404:
            raise BackendError(
                f"the server at {self.base_url} has no {path} (HTTP 404); check llm.openai_url "
                "(it usually ends in /v1)"
            )
        hint = f"set llm.model to a model it serves (see {self.base_url}/models)"
        self._http.raise_for_status(status, message, hint)


def _openai_words(base_url: str) -> http_chat.ServerWords:
    not_running = (
        f"no OpenAI-compatible server answers at {base_url}; start it (vLLM, llama-server, "
        "LM Studio, `ollama serve`) or point llm.openai_url at where it runs"
    )
    protocol = "an OpenAI-compatible server's protocol"
    return http_chat.ServerWords(
        f"the server at {base_url}", not_running, protocol, "check that llm.openai_url points at one"
    )


def _default_base_url(host: str) -> str:
    """``llm.host`` (an Ollama address in any OLLAMA_HOST form) plus Ollama's ``/v1``."""
    return f"{ollama_base_url(host)}/v1"


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
