"""The user's personas: each one a Modelfile kept under the user data dir (``personas/NAME/``).

A persona is always stored locally, so ``persona list`` and ``persona use`` work without a server and
the embedded backend can apply it. ``persona.json`` also records whether Ollama has it (registered
under the persona's name) and, for the embedded backend, the resolved model: a packaged model name or
the absolute path of the user's own GGUF (the path, not a copy: such files are gigabytes), and the
absolute path of its ADAPTER when that is a LoRA GGUF, which llama.cpp applies over the model. The persona
in use is named in ``personas/active``; ``llm.persona`` overrides it.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from localvoice.config import LLMConfig, data_dir
from localvoice.errors import BadInputError, ConfigError
from localvoice.persona.modelfile import Modelfile, parse

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_RECORD = "persona.json"
_MODELFILE = "Modelfile"
_ACTIVE = "active"


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    embedded_model: str  # a packaged model name or an absolute .gguf path; "" when FROM is an Ollama name
    on_ollama: bool  # registered on the Ollama server under ``name``
    modelfile: Modelfile
    embedded_adapter: str = ""  # an absolute LoRA .gguf path (Modelfile ADAPTER); "" for none

    def describe(self) -> str:
        where = ["ollama"] if self.on_ollama else []
        where += ["embedded" + (" + adapter" if self.embedded_adapter else "")] if self.embedded_model else []
        system = (self.modelfile.system or "").strip().replace("\n", " ")
        return f"{self.name} (FROM {self.modelfile.from_}; {', '.join(where) or 'nowhere'}): {system[:60]}"


def personas_dir() -> Path:
    return data_dir() / "personas"


def check_name(name: str) -> str:
    """Ollama model names are lower case; a persona name is one, so keep to what both accept."""
    if not _NAME.match(name):
        raise BadInputError(
            f"persona name {name!r} must be 1-64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def save(
    name: str, modelfile_text: str, embedded_model: str, on_ollama: bool, embedded_adapter: str = ""
) -> Persona:
    folder = personas_dir() / check_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _MODELFILE).write_text(modelfile_text, encoding="utf-8")
    record = {
        "name": name,
        "embedded_model": embedded_model,
        "on_ollama": on_ollama,
        "embedded_adapter": embedded_adapter,
    }
    (folder / _RECORD).write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    return load(name)


def load(name: str) -> Persona:
    folder = personas_dir() / check_name(name)
    try:
        record = json.loads((folder / _RECORD).read_text(encoding="utf-8"))
        text = (folder / _MODELFILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"no persona {name!r}; see `localvoice persona list`") from None
    modelfile = parse(text, source=str(folder / _MODELFILE))
    return Persona(
        name,
        str(record.get("embedded_model", "")),
        bool(record.get("on_ollama")),
        modelfile,
        str(record.get("embedded_adapter", "")),
    )


def list_personas() -> list[Persona]:
    root = personas_dir()
    if not root.is_dir():
        return []
    return [load(path.parent.name) for path in sorted(root.glob(f"*/{_RECORD}"))]


def remove(name: str) -> None:
    folder = personas_dir() / check_name(name)
    if not folder.is_dir():
        raise BadInputError(f"no persona {name!r}; see `localvoice persona list`")
    shutil.rmtree(folder)
    if active_name() == name:
        set_active(None)


def active_name() -> str:
    path = personas_dir() / _ACTIVE
    return path.read_text(encoding="utf-8").strip() if path.is_file() else ""


def set_active(name: str | None) -> None:
    """Make ``name`` the persona in use; ``None`` goes back to the plain ``[llm]`` settings."""
    path = personas_dir() / _ACTIVE
    if name is None:
        path.unlink(missing_ok=True)
        return
    load(name)  # it must exist
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(name + "\n", encoding="utf-8")


def active_persona(llm: LLMConfig) -> Persona | None:
    """``llm.persona`` if set, else the one ``persona use`` chose; ``llm.persona = "none"`` turns it off."""
    name = llm.persona.strip() or active_name()
    if not name or name == "none":
        return None
    return load(name)


def asdict_record(persona: Persona) -> dict[str, object]:
    """For ``persona show --json``."""
    return {
        "name": persona.name,
        "embedded_model": persona.embedded_model,
        "on_ollama": persona.on_ollama,
        "embedded_adapter": persona.embedded_adapter,
        "modelfile": asdict(persona.modelfile),
    }
