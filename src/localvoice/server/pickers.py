"""Per-connection persona and voice choices for ``/ws`` (the page's two pickers).

The server loads one LLM and one TTS for everyone. A persona chosen on one connection changes only
that connection's Conversation: its SYSTEM and MESSAGE examples (through ``llm.persona`` on a copy of
the config, which ``Session.conversation`` reads) and its sampling, on a shallow copy of the shared
backend as ``chat.tuned`` does per HTTP request. The loaded model cannot change per connection, so on
the embedded llama.cpp backend only personas FROM the loaded model (and without an ADAPTER other than
the loaded one) are offered; on Ollama every persona registered there is, since Ollama serves each
persona by name (the copy's ``model``). Other LLM backends offer none.

A voice is the server's own TTS ("", the default) or a stored GPT-SoVITS voice, built per connection
by ``assemble.build_tts`` from a config copy: GPT-SoVITS with the packaged voice as its fallback.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localvoice.assemble import build_tts
from localvoice.backends.llm.sampling import Sampling
from localvoice.config import Config
from localvoice.errors import LocalVoiceError
from localvoice.persona import store
from localvoice.persona.apply import apply, persona_adapter, persona_config
from localvoice.protocols import LLM, TTS
from localvoice.session import Session
from localvoice.voiceclone.voices import VoiceStore

DEFAULT = ""  # the choice the server started with: its persona (if any) and its voice


class PickError(Exception):
    """A choice this connection cannot have; the message is one line for the client."""


def _backend_kind(llm: LLM) -> str:
    """``llama_cpp``, ``ollama`` or another module name: which backend the shared LLM is."""
    return type(llm).__module__.rsplit(".", 1)[-1]


def _same_model(a: str, b: str) -> bool:
    if a == b:
        return True
    return bool(a and b) and Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def _fits(persona: store.Persona, config: Config, kind: str) -> bool:
    if kind == "ollama":
        return persona.on_ollama
    if kind != "llama_cpp" or not persona.embedded_model:
        return False
    from localvoice.backends.llm.llama_cpp import DEFAULT_PACKAGED_MODEL

    loaded = persona_config(config.llm, embedded=True)
    loaded_adapter = persona_adapter(config.llm)
    return _same_model(persona.embedded_model, loaded.model or DEFAULT_PACKAGED_MODEL) and _same_model(
        persona.embedded_adapter, loaded_adapter
    )


def persona_choices(config: Config, llm: LLM | None) -> list[str]:
    """Stored personas this connection can switch to on the loaded model (read afresh each time)."""
    if llm is None:
        return []
    try:
        personas = store.list_personas()
    except LocalVoiceError:  # a damaged store lists nothing rather than breaking the hello
        return []
    kind = _backend_kind(llm)
    return [p.name for p in personas if _fits(p, config, kind)]


def voice_choices(config: Config) -> list[str]:
    """Stored GPT-SoVITS voices (``localvoice voice list``)."""
    return VoiceStore.from_config(config.tts.gpt_sovits).names()


def choices_message(config: Config, llm: LLM | None, persona: str, voice: str) -> dict[str, Any]:
    """The ``choices`` event: what can be picked, and what this connection uses now ("" = default)."""
    return {
        "type": "choices",
        "personas": persona_choices(config, llm),
        "voices": voice_choices(config),
        "persona": persona,
        "voice": voice,
    }


def persona_session(session: Session, name: str) -> Session:
    """A view of ``session`` whose conversations speak as persona ``name`` ("" = the server's own).

    The view shares the loaded models and is never closed: the shared session owns them.
    """
    if name == DEFAULT:
        return session
    assert session.llm is not None
    config = session.config
    kind = _backend_kind(session.llm)
    if name not in persona_choices(config, session.llm):
        try:
            persona = store.load(store.check_name(name))
        except LocalVoiceError as error:
            raise PickError(str(error)) from None
        raise PickError(
            f"persona {persona.name!r} needs another model than this server's; "
            f"start serve with --set llm.persona={persona.name}"
        )
    persona = store.load(name)
    tuned = apply(persona, config.llm, embedded=kind == "llama_cpp")
    llm = copy.copy(session.llm)
    sampling = Sampling.from_config(tuned)
    base = getattr(session.llm, "sampling", None)
    if isinstance(base, Sampling):  # the context size is fixed when the model loads
        sampling = dataclasses.replace(sampling, num_ctx=base.num_ctx)
    llm.sampling = sampling  # type: ignore[attr-defined]  # both backends read it per reply
    if kind == "ollama":
        llm.model = persona.name  # type: ignore[attr-defined]  # Ollama serves the persona by name
    persona_config_copy = dataclasses.replace(config, llm=dataclasses.replace(config.llm, persona=name))
    return dataclasses.replace(session, config=persona_config_copy, llm=llm)


def build_voice_tts(config: Config, name: str, notify: Any) -> TTS | None:
    """The TTS for voice ``name``: None for the server's own; blocking (it probes the server)."""
    if name == DEFAULT:
        return None
    try:
        VoiceStore.from_config(config.tts.gpt_sovits).get(name)
    except LocalVoiceError as error:
        raise PickError(str(error)) from None
    section = dataclasses.replace(config.tts.gpt_sovits, voice=name)
    voice_config = dataclasses.replace(
        config, tts=dataclasses.replace(config.tts, backend="gpt_sovits", gpt_sovits=section)
    )
    try:
        return build_tts(voice_config, notify)
    except LocalVoiceError as error:
        raise PickError(str(error)) from None


@dataclass
class Choice:
    """What one connection uses now; ``tts`` is its own (closed by the connection), or None."""

    persona: str = DEFAULT
    voice: str = DEFAULT
    tts: TTS | None = None
