"""Ollama's Modelfile: parse it (errors name the line) and write it back so it parses to the same value.

Syntax as Ollama documents it (REFERENCE.md §1, Ollama at fb30760): one instruction per line,
case-insensitive — ``FROM``, ``PARAMETER name value`` (``stop`` may repeat), ``TEMPLATE``, ``SYSTEM``,
``ADAPTER``, ``LICENSE``, ``MESSAGE role text``, ``REQUIRES``; ``#`` starts a comment line; a value may
be bare, in ``"double quotes"`` or in ``\"\"\"triple quotes\"\"\"`` that span lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from localvoice.errors import BadInputError

ParamValue = int | float | bool | list[str]

# Every option Ollama reads from PARAMETER, with its type (api/types.go Options and Runner).
PARAMETER_TYPES: dict[str, type] = {
    "num_keep": int,
    "seed": int,
    "num_predict": int,
    "top_k": int,
    "top_p": float,
    "min_p": float,
    "typical_p": float,
    "repeat_last_n": int,
    "temperature": float,
    "repeat_penalty": float,
    "presence_penalty": float,
    "frequency_penalty": float,
    "mirostat": int,
    "mirostat_tau": float,
    "mirostat_eta": float,
    "penalize_newline": bool,
    "stop": list,
    "numa": bool,
    "num_ctx": int,
    "num_batch": int,
    "num_gpu": int,
    "main_gpu": int,
    "low_vram": bool,
    "vocab_only": bool,
    "use_mmap": bool,
    "use_mlock": bool,
    "num_thread": int,
}
MESSAGE_ROLES = ("system", "user", "assistant")
_TEXT_INSTRUCTIONS = ("template", "system", "license", "requires")
_INSTRUCTIONS = ("from", "parameter", "adapter", "message", *_TEXT_INSTRUCTIONS)
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


_WORD = re.compile(r"(\S*)\s*(.*)", re.DOTALL)


class ModelfileError(BadInputError):
    """A Modelfile that cannot be read; the message names the file and line."""


_Fail = Callable[..., ModelfileError]


@dataclass(frozen=True, slots=True)
class ModelfileMessage:
    role: str
    content: str


@dataclass
class Modelfile:
    from_: str
    parameters: dict[str, ParamValue] = field(default_factory=dict)
    template: str | None = None
    system: str | None = None
    license: str | None = None
    requires: str | None = None
    adapters: list[str] = field(default_factory=list)
    messages: list[ModelfileMessage] = field(default_factory=list)

    @property
    def stop(self) -> list[str]:
        value = self.parameters.get("stop", [])
        return list(value) if isinstance(value, list) else []


def parse_file(path: Path) -> Modelfile:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ModelfileError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    return parse(text, source=str(path))


def parse(text: str, source: str = "Modelfile") -> Modelfile:
    """A Modelfile's text → its value. ``source`` names the file in error messages."""
    lines = text.splitlines()
    from_: str | None = None
    result = Modelfile(from_="")
    index = 0
    while index < len(lines):
        number = index + 1
        stripped = lines[index].strip()
        index += 1
        if not stripped or stripped.startswith("#"):
            continue
        word, rest = _split(stripped)
        instruction = word.lower()

        def fail(message: str, line: int = number) -> ModelfileError:
            return ModelfileError(f"{source} line {line}: {message}")

        if instruction not in _INSTRUCTIONS:
            known = ", ".join(i.upper() for i in _INSTRUCTIONS)
            raise fail(f"unknown instruction {word!r}; expected one of {known}")
        name = ""
        if instruction in ("parameter", "message"):
            name, rest = _split(rest)
            if not name:
                raise fail(f"{word.upper()} needs a name and a value")
        value, index = _value(rest, lines, index, fail)
        if instruction == "from":
            if not value:
                raise fail("FROM needs a model name or a path")
            if from_ is not None:
                raise fail("a second FROM; a Modelfile has exactly one")
            from_ = value
        elif instruction == "adapter":
            if not value:
                raise fail("ADAPTER needs a path or a blob")
            result.adapters.append(value)
        elif instruction == "parameter":
            _set_parameter(result.parameters, name.lower(), value, fail)
        elif instruction == "message":
            role = name.lower()
            if role not in MESSAGE_ROLES:
                raise fail(f"MESSAGE role {name!r} is not one of {', '.join(MESSAGE_ROLES)}")
            result.messages.append(ModelfileMessage(role, value))
        else:
            setattr(result, instruction, value)
    if from_ is None:
        raise ModelfileError(f"{source}: no FROM line; a Modelfile starts with FROM <model or .gguf path>")
    result.from_ = from_
    return result


def _split(text: str) -> tuple[str, str]:
    """The first word and the rest, split at any run of spaces or tabs."""
    match = _WORD.match(text)
    assert match is not None  # the pattern matches any string
    return match.group(1), match.group(2)


def _value(rest: str, lines: list[str], index: int, fail: _Fail) -> tuple[str, int]:
    """The value starting at ``rest``; triple quotes may continue over the following lines."""
    start = index
    if rest.startswith('"""'):
        body = rest[3:]
        if '"""' in body:
            value, _, after = body.partition('"""')
        else:
            parts = [body]
            while True:
                if index >= len(lines):
                    raise fail('the """ opened here is never closed', start)
                line = lines[index]
                index += 1
                if '"""' in line:
                    last, _, after = line.partition('"""')
                    parts.append(last)
                    break
                parts.append(line)
            value = "\n".join(parts)
        if after.strip():
            raise fail(f'text after the closing """: {after.strip()!r}', index)
        return value, index
    if rest.startswith('"'):
        try:
            decoded, end = json.JSONDecoder().raw_decode(rest)
        except json.JSONDecodeError:
            raise fail("a double-quoted value is not closed on its line") from None
        if rest[end:].strip():
            raise fail(f"text after the closing quote: {rest[end:].strip()!r}")
        return str(decoded), index
    return rest, index


def _set_parameter(parameters: dict[str, ParamValue], name: str, raw: str, fail: _Fail) -> None:
    kind = PARAMETER_TYPES.get(name)
    if kind is None:
        raise fail(f"unknown PARAMETER {name!r}; known: {', '.join(sorted(PARAMETER_TYPES))}")
    if raw == "":
        raise fail(f"PARAMETER {name} needs a value")
    if kind is list:
        stops = parameters.setdefault(name, [])
        assert isinstance(stops, list)
        stops.append(raw)
        return
    if name in parameters:
        raise fail(f"PARAMETER {name} is given twice (only stop may repeat)")
    try:
        if kind is bool:
            lowered = raw.lower()
            if lowered not in _TRUE + _FALSE:
                raise ValueError
            parameters[name] = lowered in _TRUE
        elif kind is int:
            parameters[name] = int(raw)
        else:
            parameters[name] = float(raw)
    except ValueError:
        wanted = {int: "a whole number", float: "a number", bool: "true or false"}[kind]
        raise fail(f"PARAMETER {name} needs {wanted}, not {raw!r}") from None


def write(modelfile: Modelfile) -> str:
    """The Modelfile's text; ``parse(write(m)) == m``."""
    lines = [f"FROM {_quote(modelfile.from_)}"]
    lines += [f"ADAPTER {_quote(adapter)}" for adapter in modelfile.adapters]
    for name in ("template", "system", "license", "requires"):
        value = getattr(modelfile, name)
        if value is not None:
            lines.append(f"{name.upper()} {_quote(value)}")
    for name, value in modelfile.parameters.items():
        if isinstance(value, list):
            lines += [f"PARAMETER {name} {_quote(stop)}" for stop in value]
        elif isinstance(value, bool):
            lines.append(f"PARAMETER {name} {'true' if value else 'false'}")
        else:
            lines.append(f"PARAMETER {name} {value!r}")
    lines += [f"MESSAGE {message.role} {_quote(message.content)}" for message in modelfile.messages]
    return "\n".join(lines) + "\n"


def _quote(value: str) -> str:
    """Bare when that reads back unchanged; else one-line JSON quotes; else triple quotes."""
    if value and value == value.strip() and not value.startswith('"') and "\n" not in value:
        return value
    if '"""' not in value and not value.endswith('"'):
        return f'"""{value}"""'
    return json.dumps(value, ensure_ascii=False)
