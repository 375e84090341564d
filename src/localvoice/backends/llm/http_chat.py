"""The HTTP plumbing every chat-server backend shares (Ollama's API, OpenAI-compatible servers).

One connection pool per backend, transport errors and non-protocol answers said in one line, NDJSON
and SSE splitting, and a watch on the reply stream: a notice when the first word is slow (the model
may be loading), and one clear error when the stream sends no new text for ``stall_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from localvoice.backends.llm.endpoints import is_loopback
from localvoice.backends.llm.history import trim_history
from localvoice.backends.llm.sampling import Sampling
from localvoice.config import LLMConfig
from localvoice.errors import BackendError, BackendUnavailableError, ModelNotFoundError
from localvoice.events import Message

Notify = Callable[[str], None]
# Loading a model from a slow disk can take minutes: the warm-up waits this long, a reply only ``stall_s``.
WARM_UP_TIMEOUT_S = 300.0
_SSE_FIELDS = frozenset({b"data", b"event", b"id", b"retry"})


@dataclass(frozen=True, slots=True)
class HttpTimeouts:
    connect_s: float = 3.0
    read_s: float = 60.0  # between two reads of bytes
    first_token_notice_s: float = 4.0  # no text yet: tell the user the model may be loading
    stall_s: float = 30.0  # no new text for this long ends the reply; 0 turns the watch off

    @classmethod
    def from_config(cls, llm: LLMConfig) -> HttpTimeouts:
        timeouts = (llm.connect_timeout_s, llm.read_timeout_s, llm.first_token_notice_s, llm.stall_timeout_s)
        return cls(*timeouts)


DEFAULT_TIMEOUTS = HttpTimeouts()


@dataclass(frozen=True, slots=True)
class ServerWords:
    """How messages name one protocol family's server."""

    server: str  # "Ollama at http://…", "the server at http://…/v1"
    not_running: str  # the whole line when nothing answers at the address
    protocol: str  # "Ollama's protocol"
    check: str  # what to check when something else answers


class ChatHttp:
    """A lazily opened ``httpx.AsyncClient`` for one server, with errors in the user's words."""

    def __init__(
        self,
        base_url: str,
        words: ServerWords,
        timeouts: HttpTimeouts,
        headers: dict[str, str] | None = None,
        notify: Notify | None = None,
    ) -> None:
        self.base_url = base_url
        self.words = words
        self.timeouts = timeouts
        self._headers = dict(headers or {})
        self._notify = notify
        self._client: httpx.AsyncClient | None = None

    @property
    def headers(self) -> dict[str, str]:
        return dict(self._headers)

    def client(self) -> httpx.AsyncClient:
        # Created on first use so the pool belongs to the event loop that uses it.
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers=self._headers,
                timeout=httpx.Timeout(self.timeouts.read_s, connect=self.timeouts.connect_s),
                trust_env=not is_loopback(self.base_url),  # an env proxy never serves localhost
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def get(self, path: str, waited: str = "") -> httpx.Response:
        """GET ``path``; ``waited`` names the read timeout in a timeout's message."""
        try:
            return await self.client().get(path)
        except httpx.HTTPError as error:
            raise self.transport_error(error, waited or self._read_wait) from None

    async def load(self, path: str, payload: dict[str, Any], model: str) -> httpx.Response:
        """POST a request that may have to load the model first: waits ``WARM_UP_TIMEOUT_S``."""
        timeout = httpx.Timeout(WARM_UP_TIMEOUT_S, connect=self.timeouts.connect_s)
        try:
            return await self.client().post(path, json=payload, timeout=timeout)
        except httpx.HTTPError as error:
            raise self.transport_error(error, f"{WARM_UP_TIMEOUT_S:g} s while loading {model}") from None

    @contextlib.asynccontextmanager
    async def stream(
        self, path: str, payload: dict[str, Any], check_status: Callable[[int, str], None]
    ) -> AsyncIterator[httpx.Response]:
        """POST and open the streamed answer; an error status is read and handed to ``check_status``.

        Transport errors anywhere inside the block (connect, a read timeout, a dropped connection)
        come out as one-line ``LocalVoiceError``s.
        """
        try:
            async with self.client().stream("POST", path, json=payload) as response:
                if response.status_code >= 400:
                    await response.aread()
                    check_status(response.status_code, response.text)
                yield response
        except httpx.HTTPError as error:
            raise self.transport_error(error, self._read_wait) from None

    def watch(self, deltas: AsyncGenerator[str, None], model: str) -> AsyncGenerator[str, None]:
        """A backend's ``stream_chat`` result: ``deltas`` with the first-word notice and the stall limit.

        On a failure mid-reply the deltas already yielded stay yielded and the error follows them.
        Close the iterator (``aclose()``, cancellation, ``contextlib.aclosing``) to stop the reply
        and drop its HTTP connection at once.
        """
        return watch_stalls(deltas, self.timeouts, self.words.server, model, self._notify)

    def transport_error(self, error: httpx.HTTPError, waited: str) -> Exception:
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return BackendUnavailableError(self.words.not_running)
        if isinstance(error, httpx.TimeoutException):
            return BackendError(
                f"{self.words.server} sent nothing for {waited}; "
                "the model may be stuck or the machine overloaded"
            )
        return BackendError(f"the connection to {self.words.server} broke: {error or type(error).__name__}")

    def raise_for_status(self, status: int, message: str | None, missing_model: str) -> None:
        """Say an error status in one line: ``message`` is the server's error text (None: no error body)."""
        if status < 400:
            return
        if message is None:
            raise self.not_protocol(f"HTTP {status} without an error body")
        if status == 404:
            raise ModelNotFoundError(f"{self.words.server} says: {message}; {missing_model}")
        raise BackendError(f"{self.words.server} refused the request (HTTP {status}): {message}")

    def not_protocol(self, detail: str) -> BackendError:
        return BackendError(
            f"{self.base_url} answered with something that is not {self.words.protocol} ({detail}); "
            f"{self.words.check}"
        )

    def parse_object(self, data: bytes) -> dict[str, Any]:
        try:
            value = json.loads(data)
        except ValueError:  # JSONDecodeError and UnicodeDecodeError
            raise self.not_protocol("bytes that are not JSON") from None
        if not isinstance(value, dict):
            raise self.not_protocol("JSON that is not an object")
        return value

    def content_type(self, response: httpx.Response) -> str:
        kind: str = response.headers.get("content-type", "")
        return kind.split(";")[0].strip().lower()

    @property
    def _read_wait(self) -> str:
        return f"{self.timeouts.read_s:g} s (llm.read_timeout_s)"


def chat_request(
    model: str, messages: Sequence[Message], sampling: Sampling, **fields: Any
) -> dict[str, Any]:
    """The streaming chat body both protocols share: the history trimmed to the context, then ``fields``."""
    kept = trim_history(messages, sampling.num_ctx, reserve_tokens=sampling.reserve_tokens)
    return {"model": model, "messages": [m.to_api() for m in kept], "stream": True, **fields}


async def watch_stalls(
    deltas: AsyncGenerator[str, None],
    timeouts: HttpTimeouts,
    server: str,
    model: str,
    notify: Notify | None,
) -> AsyncGenerator[str, None]:
    """Pass ``deltas`` through; a reply that goes quiet ends with one ``BackendError``.

    Only the time spent waiting for the server counts: the consumer may take as long as it likes
    between deltas (the speaker is still playing). Ending on a stall closes ``deltas``, which drops
    the HTTP connection, so the server stops generating for nobody.
    """
    loop = asyncio.get_running_loop()
    notice: asyncio.TimerHandle | None = None
    if notify is not None and timeouts.first_token_notice_s > 0:
        waited = timeouts.first_token_notice_s
        notice = loop.call_later(
            waited, notify, f"{model} has not said a word after {waited:g} s; it may still be loading"
        )
    limit = timeouts.stall_s if timeouts.stall_s > 0 else None
    started = False
    try:
        while True:
            scope = asyncio.timeout(limit)
            try:
                async with scope:
                    delta = await anext(deltas)
            except StopAsyncIteration:
                return
            except TimeoutError:
                if scope.expired():
                    raise _stalled(server, model, timeouts.stall_s, started) from None
                raise
            if delta:
                started = True
                if notice is not None:
                    notice.cancel()
                    notice = None
            yield delta
    finally:
        if notice is not None:
            notice.cancel()
        await deltas.aclose()


def _stalled(server: str, model: str, stall_s: float, started: bool) -> BackendError:
    if started:
        return BackendError(
            f"{server} stopped in the middle of the reply: no new text for {stall_s:g} s "
            "(llm.stall_timeout_s); the model may be stuck or the machine overloaded"
        )
    return BackendError(
        f"{server} sent no word for {stall_s:g} s (llm.stall_timeout_s); {model} may still be loading "
        "or be stuck: ask again, or raise llm.stall_timeout_s"
    )


async def ndjson_lines(response: httpx.Response) -> AsyncIterator[bytes]:
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


async def sse_data(
    response: httpx.Response, not_protocol: Callable[[str], BackendError]
) -> AsyncIterator[bytes]:
    """The data of each server-sent event, as soon as its closing blank line arrives.

    Splits on b"\\n" only (as ``ndjson_lines``). Comments (``:``) and ``event``/``id``/``retry``
    fields are skipped; a line that is no SSE field at all means the server is not speaking SSE.
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
                raise not_protocol("a line that is not a server-sent event")
            if name == b"data":
                data.append(value.removeprefix(b" "))
    if buffer.strip():
        raise not_protocol("a stream cut in the middle of a line")
    if any(data):  # a last event without its blank line
        yield b"\n".join(data)
