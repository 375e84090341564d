"""Embedded LLM: a GGUF model run in-process by llama.cpp (llama-cpp-python).

The llama.cpp context is not thread-safe, so every call into it runs on one single-worker executor;
tokens travel from that thread to the event loop through an ``asyncio.Queue``. Leaving the stream
early (``aclose()``, cancellation, barge-in) sets a flag the worker checks after every token, so
generation stops within one token and the model is ready for the next turn.

llama-cpp-python keeps the evaluated tokens and, on the next call, only evaluates what follows the
longest common prefix. ``warm_up()`` therefore runs the system prompt once: later turns, which all
start with it, skip re-reading it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import llama_cpp

from localvoice.backends.llm.end_of_turn import end_of_turn_probability, prefill_before_user
from localvoice.backends.llm.history import trim_history
from localvoice.backends.llm.sampling import DEFAULT_SAMPLING, Sampling
from localvoice.config import LLMConfig
from localvoice.errors import BackendError, ConfigError, ModelIntegrityError
from localvoice.events import Message
from localvoice.models.packaged import ensure_model

log = logging.getLogger(__name__)

# Chosen by bench/compare_llms.py; see docs/llm_choice.md.
DEFAULT_PACKAGED_MODEL = "qwen2.5-coder-1.5b"
PACKAGED_MODELS = ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b")


@dataclass(frozen=True, slots=True)
class _Finished:
    error: Exception | None = None


_Item = str | _Finished


class LlamaCppLLM:
    """Streams chat replies from a local GGUF model with the model's own chat template."""

    def __init__(
        self,
        model: str = "",
        *,
        system_prompt: str = "",
        sampling: Sampling = DEFAULT_SAMPLING,
        n_threads: int | None = None,
        n_gpu_layers: int | None = None,
        lora_path: str = "",
    ) -> None:
        """``model``: empty for the default packaged model, a packaged name, or a ``.gguf`` path;
        ``lora_path``: a LoRA adapter GGUF applied over it (a persona's ADAPTER)."""
        self._model_spec = model.strip() or DEFAULT_PACKAGED_MODEL
        self._model_path: Path | None = None
        if self._model_spec not in PACKAGED_MODELS:
            path = Path(self._model_spec).expanduser()
            if path.suffix.lower() != ".gguf":
                raise ConfigError(
                    f"llm.model {model!r} is neither a packaged model ({', '.join(PACKAGED_MODELS)}) "
                    "nor a path to a .gguf file; set llm.model to one of those or leave it empty"
                )
            if not path.is_file():
                raise ConfigError(f"llm.model {str(path)!r} does not exist; give the path of a .gguf file")
            self._model_path = path
        self.system_prompt = system_prompt
        self.sampling = sampling  # read per reply; the context size only when the model loads
        self._n_threads = n_threads or physical_core_count()
        self._n_gpu_layers = n_gpu_layers
        self._lora_path = lora_path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama-cpp")
        self._llama: Any = None  # llama_cpp.Llama, touched only on the executor thread
        self._closed = False
        self._generating = 0  # replies submitted to the worker and not finished there
        self._generating_lock = threading.Lock()  # counted up on the loop, down on the worker
        self.load_time_s: float | None = None

    @classmethod
    def from_config(cls, llm: LLMConfig, notify: Callable[[str], None] | None = None) -> Self:
        """The same factory as the HTTP backends'; in-process generation has no stalls to report."""
        from localvoice.persona.apply import persona_adapter, persona_config  # model, SYSTEM, PARAMETERs

        adapter = persona_adapter(llm)
        llm = persona_config(llm, embedded=True)
        return cls(llm.model, system_prompt=llm.system, sampling=Sampling.from_config(llm), lora_path=adapter)

    @property
    def description(self) -> str:
        # A packaged file is always called model.gguf in the cache: its packaged name says more.
        name = self._model_spec if self._model_spec in PACKAGED_MODELS else Path(self._model_spec).name
        return f"llama.cpp {name}" + (f" + {Path(self._lora_path).name}" if self._lora_path else "")

    @property
    def context_tokens(self) -> int:
        """Tokens held in the model's KV cache now (0 before loading): the cached prompt prefix."""
        return int(self._llama.n_tokens) if self._llama is not None else 0

    @property
    def generating(self) -> bool:
        """A reply is being generated, or waits for the worker (a cut one finishes within a token)."""
        return self._generating > 0

    async def load(self) -> None:
        """Load the model (assembling the packaged file first if needed) without running a prompt."""
        await self._run(self._load_sync)

    async def forget_cache(self) -> None:
        """Drop the cached prompt prefix, so the next turn re-reads everything (for benchmarks)."""
        await self._run(self._forget_cache_sync)

    async def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's vocabulary."""
        await self._run(self._load_sync)
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._count_tokens, text)

    async def end_of_turn_probability(self, messages: Sequence[Message]) -> float | None:
        """How likely the user is done after the last message (end_of_turn.py); it also prefills."""
        if self._closed:
            return None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._end_of_turn_sync, list(messages))

    async def prefill(self, history: Sequence[Message]) -> None:
        """Read the next turn's prompt up to the user's words now, while the user is still talking.

        Skipped while a reply is being generated or waits to be (another session's, on a server):
        the cache would be someone else's by the time this turn's words arrive.
        """
        if not self._closed and not self.generating:
            await asyncio.get_running_loop().run_in_executor(
                self._executor, self._prefill_sync, list(history)
            )

    async def warm_up(self) -> None:
        """Load the model and evaluate the system prompt so the first turn starts from the cache."""
        await self._run(self._warm_up_sync)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True  # running generations see this after their next token
        await asyncio.get_running_loop().run_in_executor(self._executor, self._unload_sync)
        self._executor.shutdown(wait=False)

    async def stream_chat(self, messages: Sequence[Message]) -> AsyncGenerator[str, None]:
        if self._closed:
            raise BackendError("the llama.cpp model was already closed; start a new session")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: _Item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone: nobody is listening any more
                stop.set()

        with self._generating_lock:  # back down on the worker thread, when the generation is over
            self._generating += 1
        loop.run_in_executor(self._executor, self._generate_sync, list(messages), emit, stop)
        try:
            while True:
                item = await queue.get()
                if isinstance(item, _Finished):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            stop.set()  # no wait: the next job queues behind this one on the single worker

    async def _run(self, fn: Callable[[], object]) -> None:
        if self._closed:
            raise BackendError("the llama.cpp model was already closed; start a new session")
        await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    # ---- everything below runs on the executor thread ----

    def _load_sync(self) -> Any:
        if self._llama is not None:
            return self._llama
        if self._model_path is None:
            self._model_path = ensure_model(self._model_spec)
        gpu_layers = self._n_gpu_layers
        if gpu_layers is None:
            gpu_layers = -1 if llama_cpp.llama_supports_gpu_offload() else 0
        started = time.perf_counter()
        try:
            self._llama = llama_cpp.Llama(
                model_path=str(self._model_path),
                n_ctx=self.sampling.num_ctx,
                n_threads=self._n_threads,
                n_threads_batch=self._n_threads,
                n_gpu_layers=gpu_layers,
                # Read, not mapped: llama.cpp repacks most weights into a faster layout (597 of the
                # packaged model's 1,060 MiB) and, mapped, the file's pages of those stay resident
                # beside the copy: 1.9 GB instead of 1.3 GB for the same model (BENCHMARKS.md).
                use_mmap=False,
                verbose=False,
                lora_path=self._lora_path or None,
            )
        except (ValueError, RuntimeError, OSError) as error:
            if self._lora_path and "LoRA" in str(error):
                raise ModelIntegrityError(
                    f"llama.cpp could not apply the adapter {self._lora_path} to {self._model_path}: it is "
                    "not a LoRA GGUF made for this model (the persona's ADAPTER must match its FROM)"
                ) from None
            raise ModelIntegrityError(
                f"llama.cpp could not load {self._model_path} ({error}); the file is not a valid GGUF "
                "model or is damaged: check it, or leave llm.model empty for the packaged model"
            ) from None
        self.load_time_s = time.perf_counter() - started
        log.info("loaded %s in %.2f s (%d threads)", self._model_path, self.load_time_s, self._n_threads)
        return self._llama

    def _warm_up_sync(self) -> None:
        llama = self._load_sync()
        if not self.system_prompt:
            return
        # One sampled token after a system-only prompt leaves the system prompt in the KV cache.
        messages = [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": "hi"}]
        for _ in llama.create_chat_completion(messages=messages, max_tokens=1, stream=True):
            pass

    def _forget_cache_sync(self) -> None:
        if self._llama is not None:
            self._llama.reset()

    def _unload_sync(self) -> None:
        if self._llama is not None:
            self._llama.close()
            self._llama = None

    def _count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _end_of_turn_sync(self, messages: list[Message]) -> float | None:
        llama = self._load_sync()
        sampling = self.sampling
        kept = trim_history(  # exactly as the reply will, so its prompt shares this prefix
            messages,
            sampling.num_ctx,
            count_tokens=self._count_tokens,
            reserve_tokens=sampling.reserve_tokens,
        )
        return end_of_turn_probability(llama, kept)

    def _prefill_sync(self, history: list[Message]) -> None:
        prefill_before_user(self._load_sync(), history)

    def _generate_sync(
        self, messages: list[Message], emit: Callable[[_Item], None], stop: threading.Event
    ) -> None:
        try:
            if stop.is_set() or self._closed:
                return
            llama = self._load_sync()
            sampling = self.sampling
            kept = trim_history(
                messages,
                sampling.num_ctx,
                count_tokens=self._count_tokens,
                reserve_tokens=sampling.reserve_tokens,
            )
            for delta in self._deltas(llama, kept, sampling):
                if stop.is_set() or self._closed:
                    break
                emit(delta)
        except Exception as error:  # handed to the consumer, who sees it on the loop
            emit(_Finished(_as_backend_error(error)))
        else:
            emit(_Finished())
        finally:
            with self._generating_lock:
                self._generating -= 1

    def _deltas(self, llama: Any, messages: list[Message], sampling: Sampling) -> Iterator[str]:
        chunks = llama.create_chat_completion(
            messages=[m.to_api() for m in messages],
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            max_tokens=sampling.num_predict if sampling.num_predict > 0 else None,
            stop=list(sampling.stop) or None,
            # llama-cpp-python derives "no seed" from a fixed default, so draw a fresh one ourselves.
            seed=sampling.seed if sampling.seed >= 0 else random.getrandbits(32),
            stream=True,
        )
        # The stop flag is checked per yielded delta; llama-cpp-python yields every token except the
        # few it holds back while they might begin a stop string or a multi-byte character.
        try:
            for chunk in chunks:
                text = chunk["choices"][0]["delta"].get("content")
                if text:
                    yield text
        finally:
            chunks.close()  # stops llama.cpp's own generator at once when we leave early


def _as_backend_error(error: Exception) -> Exception:
    if isinstance(error, BackendError | ModelIntegrityError | ConfigError):
        return error
    if isinstance(error, ValueError) and "exceed context window" in str(error):
        return BackendError(
            f"the conversation does not fit the model's context ({error}); raise llm.num_ctx or start anew"
        )
    return BackendError(f"llama.cpp failed while generating: {error}")


def physical_core_count() -> int:
    """Physical cores this process may run on (hyper-threads add little to llama.cpp speed)."""
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
    cores: set[tuple[str, str]] = set()
    for cpu in allowed:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return max(1, len(allowed))
        cores.add((package, core))
    return max(1, len(cores) or os.cpu_count() or 1)
