"""Ollama-compatible routes served by the active LLM: ``/api/chat``, ``/api/generate``, ``/api/tags``,
``/api/version`` (REFERENCE.md §1, Ollama at fb30760; checked with the ``ollama`` 0.6 client).

Streams are NDJSON (``application/x-ndjson``), one object a line, the last with ``done: true`` and
the counts and durations in nanoseconds; ``stream: false`` gives one object. There is one model: any
``model`` name reaches it, and replies carry the name the client sent. An error before the reply
starts is ``{"error": "..."}`` with its status; one during a stream is an ``{"error"}`` line.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from localvoice import __version__
from localvoice.errors import LocalVoiceError
from localvoice.persona.apply import persona_system
from localvoice.protocols import LLM
from localvoice.server.chat import ChatStats, llm_model_name, stream_reply, to_messages, tuned
from localvoice.server.errors import bad_request
from localvoice.server.security import check_token_http
from localvoice.server.state import ServerState
from localvoice.server.streams import SlotStreamingResponse, ndjson_line

log = logging.getLogger("localvoice.server")


class _JsonBodyRoute(APIRoute):
    """Ollama reads the body as JSON whatever its declared type: its own examples are ``curl -d
    '{...}'``, which says form-urlencoded. (Foreign pages are kept out by the Origin check.)"""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def read_as_json(request: Request) -> Response:
            others = [(name, value) for name, value in request.scope["headers"] if name != b"content-type"]
            request.scope["headers"] = [*others, (b"content-type", b"application/json")]
            return await handler(request)

        return read_as_json


router = APIRouter(
    prefix="/api",
    tags=["Ollama-compatible"],
    dependencies=[Depends(check_token_http)],
    route_class=_JsonBodyRoute,
)


class OllamaMessage(BaseModel):
    role: str
    content: str = ""
    images: list[str] | None = None


class OllamaOptions(BaseModel):
    """The sampling options the embedded model honours; others (num_ctx, num_gpu, ...) are ignored."""

    temperature: float | None = None
    top_p: float | None = None
    num_predict: int | None = None
    stop: list[str] | None = None
    seed: int | None = None


class _Request(BaseModel):
    model: str = ""
    stream: bool = True  # Ollama's server default
    options: OllamaOptions | None = None
    format: Any = None
    keep_alive: Any = None  # accepted; the shared model stays loaded while the server runs
    think: Any = None


class ChatRequest(_Request):
    messages: list[OllamaMessage] = Field(default_factory=list)
    tools: list[Any] = Field(default_factory=list)


class GenerateRequest(_Request):
    prompt: str = ""
    system: str | None = None
    images: list[str] | None = None


@router.post("/chat", summary="Chat with the embedded model (NDJSON stream unless stream is false)")
async def chat(body: ChatRequest, request: Request) -> Response:
    state = _state(request)
    _check_common(state, body)
    if body.tools:
        raise bad_request("tools are not supported by this server's model")
    if any(m.images for m in body.messages):
        raise bad_request("images are not supported by this server's model")
    if not body.messages:  # Ollama's "load the model" request: ours is always loaded
        return JSONResponse(_load_reply(body.model, {"message": {"role": "assistant", "content": ""}}))
    raw = [(m.role, m.content) for m in body.messages]
    return await _answer(state, body, raw, lambda text: {"message": {"role": "assistant", "content": text}})


@router.post(
    "/generate", summary="Complete a prompt with the embedded model (NDJSON stream unless stream is false)"
)
async def generate(body: GenerateRequest, request: Request) -> Response:
    state = _state(request)
    _check_common(state, body)
    if body.images:
        raise bad_request("images are not supported by this server's model")
    if not body.prompt:
        return JSONResponse(_load_reply(body.model, {"response": ""}))
    raw = ([("system", body.system)] if body.system else []) + [("user", body.prompt)]
    return await _answer(state, body, raw, lambda text: {"response": text})


@router.get("/tags", summary="The model this server answers with")
async def tags(request: Request) -> dict[str, Any]:
    state = _state(request)
    llm = state.llm
    name = llm_model_name(llm)
    details = {"format": "gguf"} if llm.description.startswith("llama.cpp") else {}
    model = {"name": name, "model": name, "modified_at": _timestamp(state.started_at), "details": details}
    return {"models": [model]}


@router.get("/version", summary="The server's version")
async def version() -> dict[str, str]:
    return {"version": __version__}


# ---- internals ----


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.localvoice
    return state


def _check_common(state: ServerState, body: _Request) -> None:
    state.llm  # noqa: B018  # 503 when this server has no language model, even for a "load" request
    if not body.model:
        raise bad_request("model is required")
    if body.format not in (None, ""):
        raise bad_request("format (structured output) is not supported by this server's model")


def _load_reply(model: str, empty: dict[str, Any]) -> dict[str, Any]:
    return {"model": model, "created_at": _timestamp(), **empty, "done": True, "done_reason": "load"}


async def _answer(state: ServerState, body: _Request, raw: list[tuple[str, str]], shape: Any) -> Response:
    llm = state.llm
    messages = to_messages(raw, persona_system(state.config.llm))
    options = body.options or OllamaOptions()
    view, limit = tuned(
        llm,
        temperature=options.temperature,
        top_p=options.top_p,
        max_tokens=options.num_predict,
        stop=options.stop,
        seed=options.seed,
    )
    stats = ChatStats(max_tokens=limit)
    state.take_request_slot()
    if body.stream:
        lines = _stream_lines(view, messages, stats, body.model, shape)
        return SlotStreamingResponse(state, lines, "application/x-ndjson")
    try:
        text = "".join([piece async for piece in stream_reply(view, messages, stats)])
    finally:
        state.request_slots.release()
    return JSONResponse({"model": body.model, "created_at": _timestamp(), **shape(text), **_final(stats)})


async def _stream_lines(
    llm: LLM, messages: list[Any], stats: ChatStats, model: str, shape: Any
) -> AsyncIterator[str]:
    try:
        async for piece in stream_reply(llm, messages, stats):
            yield ndjson_line({"model": model, "created_at": _timestamp(), **shape(piece), "done": False})
    except LocalVoiceError as error:  # the status line is gone: Ollama sends the error as a line
        yield ndjson_line({"error": str(error)})
        return
    except Exception:
        log.exception("an Ollama-style stream failed")
        yield ndjson_line({"error": "the server failed while answering; its log has the details"})
        return
    yield ndjson_line({"model": model, "created_at": _timestamp(), **shape(""), **_final(stats)})


def _final(stats: ChatStats) -> dict[str, Any]:
    return {
        "done": True,
        "done_reason": stats.done_reason,
        "total_duration": stats.total_ns,
        "load_duration": 0,  # loaded once at start-up
        "prompt_eval_count": stats.prompt_tokens,
        "prompt_eval_duration": stats.prompt_ns,
        "eval_count": stats.pieces,
        "eval_duration": stats.eval_ns,
    }


def _timestamp(seconds: float | None = None) -> str:
    moment = datetime.now(UTC) if seconds is None else datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat().replace("+00:00", "Z")
