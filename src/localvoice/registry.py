"""Backend names → lazily imported classes, so a missing extra only matters when it is used.

Every backend class offers ``from_config(section, ...) -> instance``, built from its own config
section only (``config.llm``, ``config.tts``, ``config.asr``) and reading no
environment itself, so what a backend uses is what ``localvoice config show`` prints. The VAD has one
implementation (Silero, ``SileroVAD.from_config(config.vad)``), imported where it is used.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from localvoice.errors import ConfigError, MissingExtraError


@dataclass(frozen=True, slots=True)
class BackendSpec:
    target: str  # "package.module:ClassName"
    extra: str | None  # the pip extra that brings its dependencies


BACKENDS: dict[str, dict[str, BackendSpec]] = {
    "llm": {
        "ollama": BackendSpec("localvoice.backends.llm.ollama:OllamaLLM", None),
        "llama_cpp": BackendSpec("localvoice.backends.llm.llama_cpp:LlamaCppLLM", "llm"),
        "openai": BackendSpec("localvoice.backends.llm.openai_compat:OpenAICompatLLM", None),
    },
    "asr": {
        "faster_whisper": BackendSpec("localvoice.backends.asr.faster_whisper:FasterWhisperASR", "asr"),
        "openai": BackendSpec("localvoice.backends.asr.openai_asr:OpenAiASR", None),
    },
    "tts": {
        "packaged": BackendSpec("localvoice.backends.tts.packaged:PackagedTTS", "tts"),
        "gpt_sovits": BackendSpec("localvoice.backends.tts.gpt_sovits:GptSovitsTTS", None),
        "openai": BackendSpec("localvoice.backends.tts.openai_tts:OpenAiTTS", None),
    },
}


def backend_names(role: str) -> list[str]:
    return sorted(BACKENDS.get(role, {}))


def load_backend_class(role: str, name: str) -> Any:
    """Import and return the class for ``role``/``name`` with a one-line error on failure."""
    specs = BACKENDS.get(role)
    if specs is None:
        raise ConfigError(f"unknown backend role {role!r}")
    spec = specs.get(name)
    if spec is None:
        choices = ", ".join(backend_names(role))
        raise ConfigError(f"unknown {role} backend {name!r}; choose one of: {choices}")
    module_name, _, attr = spec.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        if spec.extra is None:
            raise
        raise MissingExtraError(
            f"the {role} backend {name!r} needs extra packages ({error.name or error}); "
            f"install them with: pip install 'localvoice[{spec.extra}]'"
        ) from None
    return getattr(module, attr)
