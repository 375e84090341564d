"""Build the configured backends, resolving ``auto`` choices and saying which one was picked."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from localvoice.config import Config
from localvoice.protocols import ASR, LLM, TTS
from localvoice.registry import load_backend_class

Notify = Callable[[str], None]


async def choose_llm_backend(config: Config, notify: Notify) -> str:
    """``auto``: Ollama when it answers at its host, else the embedded llama.cpp model."""
    backend = config.llm.backend
    if backend != "auto":
        return backend
    from localvoice.backends.llm.ollama import ollama_available

    if await ollama_available(config.llm.host):
        notify(f"LLM: Ollama answers at {config.llm.host}, using it")
        return "ollama"
    notify(f"LLM: no Ollama at {config.llm.host}; using the embedded llama.cpp model")
    return "llama_cpp"


async def build_llm(config: Config, notify: Notify) -> LLM:
    """The LLM from its own config section; ``notify`` hears its notices (a slow first word)."""
    backend = await choose_llm_backend(config, notify)
    return cast(LLM, load_backend_class("llm", backend).from_config(config.llm, notify))


def build_tts(config: Config, notify: Notify) -> TTS:
    """The TTS from its own config section; its start-up notices (a fallback voice) go to ``notify``."""
    backend = config.tts.backend
    auto = backend == "auto"
    if auto:
        backend = "packaged"  # GPT-SoVITS joins the auto choice when its backend exists
    tts = load_backend_class("tts", backend).from_config(config.tts)
    if auto:
        notify(f"TTS: packaged voices ({getattr(tts, 'description', backend)})")
    for notice in getattr(tts, "notices", ()):
        notify(notice)
    return cast(TTS, tts)


def build_asr(config: Config) -> ASR:
    return cast(ASR, load_backend_class("asr", config.asr.backend).from_config(config))
