"""One chat request against the shared LLM, for both API families (OpenAI and Ollama routes).

The LLM is shared by every connection. Per-request sampling (temperature, top_p, max_tokens, stop,
seed) goes on a shallow copy of the backend with its own ``sampling``: the copy shares the loaded
model, its single-worker executor (llama.cpp runs one generation at a time, in order, so concurrent
requests queue rather than interleave) or its HTTP pool, and nobody else's settings change.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, cast

from localvoice.backends.llm.history import MESSAGE_OVERHEAD_TOKENS, estimate_tokens
from localvoice.backends.llm.sampling import Sampling
from localvoice.events import Message
from localvoice.protocols import LLM
from localvoice.server.errors import bad_request

_ROLES = ("system", "user", "assistant")


@dataclass
class ChatStats:
    """Counts and times of one reply, in the units each API reports them in."""

    started_ns: int = field(default_factory=time.perf_counter_ns)
    first_piece_ns: int | None = None
    finished_ns: int | None = None
    prompt_tokens: int = 0
    pieces: int = 0  # streamed pieces: one token each from llama.cpp (it holds back possible stop strings)
    max_tokens: int | None = None

    @property
    def done_reason(self) -> str:
        return "length" if self.max_tokens is not None and self.pieces >= self.max_tokens else "stop"

    @property
    def total_ns(self) -> int:
        return (self.finished_ns or time.perf_counter_ns()) - self.started_ns

    @property
    def prompt_ns(self) -> int:
        return (self.first_piece_ns or self.finished_ns or time.perf_counter_ns()) - self.started_ns

    @property
    def eval_ns(self) -> int:
        return self.total_ns - self.prompt_ns


def to_messages(raw: Sequence[tuple[str, str]], system: str) -> list[Message]:
    """The request's messages, led by the server's system prompt when the client sent none (as Ollama
    applies a model's SYSTEM)."""
    messages: list[Message] = []
    for index, (role, content) in enumerate(raw):
        if role not in _ROLES:
            raise bad_request(
                f"messages[{index}].role {role!r} is not supported: use system, user or assistant"
            )
        messages.append(Message(cast(Any, role), content))
    if not any(m.role == "user" for m in messages):
        raise bad_request("messages needs at least one user message")
    if system and not any(m.role == "system" for m in messages):
        messages.insert(0, Message("system", system))
    return messages


def tuned(
    llm: LLM,
    *,
    temperature: float | None = None,
    top_p: float | None = None,
    max_tokens: int | None = None,
    stop: Sequence[str] | None = None,
    seed: int | None = None,
) -> tuple[LLM, int | None]:
    """The LLM with this request's sampling, and the reply's token limit (None: unlimited)."""
    base = getattr(llm, "sampling", None)
    if not isinstance(base, Sampling):  # a backend without settings: it answers as configured
        return llm, None
    changes: dict[str, Any] = {}
    if temperature is not None:
        changes["temperature"] = temperature
    if top_p is not None:
        changes["top_p"] = top_p
    if max_tokens is not None:
        changes["num_predict"] = max_tokens
    if stop is not None:
        changes["stop"] = tuple(stop)
    if seed is not None:
        changes["seed"] = seed
    sampling = dataclasses.replace(base, **changes)
    limit = sampling.num_predict if sampling.num_predict > 0 else None
    if not changes:
        return llm, limit
    view = copy.copy(llm)
    view.sampling = sampling  # type: ignore[attr-defined]  # checked above: the backend has one
    return view, limit


async def stream_reply(llm: LLM, messages: list[Message], stats: ChatStats) -> AsyncIterator[str]:
    """The reply's text pieces, counted and timed into ``stats``; closing it stops the generation."""
    stats.prompt_tokens = sum(estimate_tokens(m.content) + MESSAGE_OVERHEAD_TOKENS for m in messages)
    try:
        async with aclosing(cast(Any, llm.stream_chat(messages))) as pieces:
            async for piece in pieces:
                if stats.first_piece_ns is None:
                    stats.first_piece_ns = time.perf_counter_ns()
                stats.pieces += 1
                yield piece
    finally:
        stats.finished_ns = time.perf_counter_ns()


def llm_model_name(llm: LLM) -> str:
    """A short model name for lists and replies: the backend's model, without the backend's name."""
    model = getattr(llm, "model", None)
    if isinstance(model, str) and model:
        return model
    return llm.description.split(" ", 1)[-1]
