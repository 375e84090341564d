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
    """The TTS from its own config section; its start-up notices (a fallback voice) go to ``notify``.

    ``auto`` picks GPT-SoVITS when a cloned voice is chosen and its server answers, else the packaged
    voices. GPT-SoVITS is wrapped so that the packaged voice speaks whenever its server fails.
    """
    backend = config.tts.backend
    auto = backend == "auto"
    if auto:
        backend = _auto_tts_backend(config, notify)
    if backend == "gpt_sovits":
        return _gpt_sovits_with_fallback(config, notify, checked=auto)
    if backend == "openai":
        return _openai_with_fallback(config, notify)
    tts = load_backend_class("tts", backend).from_config(config.tts)
    if auto:
        notify(f"TTS: packaged voices ({getattr(tts, 'description', backend)})")
    for notice in getattr(tts, "notices", ()):
        notify(notice)
    return cast(TTS, tts)


def _auto_tts_backend(config: Config, notify: Notify) -> str:
    from localvoice.backends.tts.gpt_sovits import probe_server
    from localvoice.voiceclone.voices import active_voice

    voice = active_voice(config.tts.gpt_sovits)
    if voice is None:
        return "packaged"
    problem = probe_server(config.tts.gpt_sovits, timeout_s=0.5)
    if problem is not None:
        notify(f"TTS: your voice {voice.name!r} needs GPT-SoVITS, which is {problem}; packaged voices speak")
        return "packaged"
    return "gpt_sovits"


def _gpt_sovits_with_fallback(config: Config, notify: Notify, checked: bool) -> TTS:
    from localvoice.backends.tts.fallback import FallbackTTS
    from localvoice.backends.tts.gpt_sovits import probe_server

    section = config.tts.gpt_sovits
    primary = cast(TTS, load_backend_class("tts", "gpt_sovits").from_config(config.tts))
    notify(f"TTS: {getattr(primary, 'description', 'GPT-SoVITS')}")
    if not section.fallback:
        return primary
    problem = None if checked else probe_server(section)
    if problem is not None:
        notify(f"GPT-SoVITS is {problem}; the packaged voice speaks until it answers.")

    def packaged() -> TTS:
        tts = load_backend_class("tts", "packaged").from_config(config.tts)
        for notice in getattr(tts, "notices", ()):
            notify(notice)
        return cast(TTS, tts)

    return FallbackTTS(primary, packaged, notify, retry_s=section.retry_s, down_reason=problem)


def _openai_with_fallback(config: Config, notify: Notify) -> TTS:
    """A speech server, with the packaged voice while it is down (found at start: one notice)."""
    from localvoice.backends.tts.fallback import FallbackTTS

    primary = load_backend_class("tts", "openai").from_config(config.tts)
    notify(f"TTS: {primary.description}")
    if not config.tts.openai.fallback:
        return cast(TTS, primary)
    return FallbackTTS(
        primary,
        lambda: _packaged(config, notify),
        notify,
        retry_s=config.tts.openai.retry_s,
        name="The speech server",
    )


def _packaged(config: Config, notify: Notify) -> TTS:
    tts = load_backend_class("tts", "packaged").from_config(config.tts)
    for notice in getattr(tts, "notices", ()):
        notify(notice)
    return cast(TTS, tts)


def build_asr(config: Config) -> ASR:
    return cast(ASR, load_backend_class("asr", config.asr.backend).from_config(config.asr))
