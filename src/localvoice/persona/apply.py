"""The active persona applied to ``[llm]``: its model, SYSTEM, sampling PARAMETERs and MESSAGE examples.

Every LLM backend builds its requests from ``LLMConfig``, so putting the persona's values into a copy
of it makes them reach every request. PARAMETERs that localvoice's sampling has no key for (top_k,
repeat_penalty, …) still apply on Ollama, where the registered model carries them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, cast

from localvoice.config import LLMConfig
from localvoice.errors import ConfigError
from localvoice.events import Message, Role
from localvoice.persona.store import Persona, active_persona

# Modelfile PARAMETER → the LLMConfig field of the same meaning.
_SAMPLING_FIELDS = {
    "temperature": float,
    "top_p": float,
    "num_ctx": int,
    "num_predict": int,
    "seed": int,
}


def persona_config(llm: LLMConfig, *, embedded: bool) -> LLMConfig:
    """``llm`` with the active persona's settings; ``llm`` itself when no persona is active."""
    persona = active_persona(llm)
    if persona is None:
        return llm
    return apply(persona, llm, embedded=embedded)


def apply(persona: Persona, llm: LLMConfig, *, embedded: bool) -> LLMConfig:
    modelfile = persona.modelfile
    changes: dict[str, Any] = {}
    if embedded:
        if not persona.embedded_model and modelfile.adapters:
            raise ConfigError(
                f"persona {persona.name!r} has ADAPTER {modelfile.adapters[0]!r}, which only Ollama applies "
                "(the embedded backend takes one LoRA .gguf over a .gguf FROM); use llm.backend=ollama"
            )
        if not persona.embedded_model:
            raise ConfigError(
                f"persona {persona.name!r} is FROM {modelfile.from_!r}, an Ollama model the embedded "
                "backend cannot load; start Ollama (llm.backend=ollama) or make the persona FROM a .gguf file"
            )
        changes["model"] = persona.embedded_model
    else:
        if not persona.on_ollama:
            raise ConfigError(
                f"persona {persona.name!r} is for the embedded model only; chat with --set "
                f"llm.backend=llama_cpp, or register it while Ollama runs: `localvoice persona create "
                f"{persona.name} -f Modelfile --backend ollama`"
            )
        changes["model"] = persona.name
    if modelfile.system is not None:
        changes["system"] = modelfile.system.strip()
    for name, kind in _SAMPLING_FIELDS.items():
        if name in modelfile.parameters:
            changes[name] = kind(modelfile.parameters[name])
    if modelfile.stop:
        changes["stop"] = list(modelfile.stop)
    return dataclasses.replace(llm, **changes)


def persona_adapter(llm: LLMConfig) -> str:
    """The active persona's LoRA GGUF (its ADAPTER) for llama.cpp to apply; "" when there is none."""
    persona = active_persona(llm)
    if persona is None or not persona.embedded_adapter:
        return ""
    if not Path(persona.embedded_adapter).is_file():
        raise ConfigError(
            f"persona {persona.name!r}'s ADAPTER {persona.embedded_adapter} no longer exists; put it back "
            f"or create the persona again (`localvoice persona create {persona.name} -f Modelfile`)"
        )
    return persona.embedded_adapter


def persona_examples(llm: LLMConfig) -> list[Message]:
    """The active persona's MESSAGE lines, which follow its system prompt as example turns."""
    persona = active_persona(llm)
    if persona is None:
        return []
    return [Message(cast(Role, m.role), m.content) for m in persona.modelfile.messages]


def persona_system(llm: LLMConfig) -> str:
    """The system prompt that leads the history: the active persona's SYSTEM, else ``llm.system``."""
    persona = active_persona(llm)
    if persona is None or persona.modelfile.system is None:
        return llm.system
    return persona.modelfile.system.strip()
