"""Fine-tuning data: read, validate every row, drop duplicates, hold out an eval split. No torch needed.

Accepted rows, in JSONL (one object a line) or one JSON list:
- the course's Q&A: ``{"role": "user", "content": Q, "response": A}`` (an optional ``"system"``);
- chat rows: ``{"messages": [{"role": "system"|"user"|"assistant", "content": …}, …]}``, multi-turn,
  ending with the assistant;
- instruction rows: ``{"instruction": …, "input": … (optional), "output": …}``.
Every bad row is found (not just the first) and named by its line number.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from localvoice.errors import BadInputError

Turn = dict[str, str]  # {"role": …, "content": …}
_ROLES = ("system", "user", "assistant")
_SHOWN_ERRORS = 5


class DatasetError(BadInputError):
    """Fine-tuning data that cannot be used; the message names the bad lines."""


@dataclass(frozen=True, slots=True)
class Example:
    line: int
    messages: tuple[tuple[str, str], ...]  # (role, content), hashable so duplicates can be found

    def turns(self) -> list[Turn]:
        return [{"role": role, "content": content} for role, content in self.messages]


@dataclass(frozen=True, slots=True)
class Dataset:
    train: list[Example]
    eval: list[Example]
    duplicates: int  # rows dropped because an earlier row was the same conversation

    def summary(self) -> str:
        return f"{len(self.train)} training and {len(self.eval)} held-out conversations" + (
            f" ({self.duplicates} duplicate rows dropped)" if self.duplicates else ""
        )


def load_dataset(path: Path, eval_fraction: float = 0.1, seed: int = 0) -> Dataset:
    """Read and validate ``path``; raise ``DatasetError`` naming every bad line."""
    if not 0 <= eval_fraction < 1:
        raise DatasetError(f"--eval-split must be at least 0 and below 1, not {eval_fraction}")
    examples = read_examples(path)
    unique: list[Example] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    for example in examples:
        if example.messages not in seen:
            seen.add(example.messages)
            unique.append(example)
    shuffled = unique[:]
    random.Random(seed).shuffle(shuffled)
    held = round(len(shuffled) * eval_fraction)
    if eval_fraction > 0 and len(shuffled) >= 2:
        held = max(held, 1)
    return Dataset(train=shuffled[held:], eval=shuffled[:held], duplicates=len(examples) - len(unique))


def read_examples(path: Path) -> list[Example]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise DatasetError(
            f"{path} line {line}: not UTF-8 text (byte {error.start}); save it as UTF-8"
        ) from None
    if not text.strip():
        raise DatasetError(f"{path} is empty; give JSONL rows such as {_COURSE_EXAMPLE}")
    rows = _json_list(text, path) if text.lstrip().startswith("[") else _json_lines(text)
    examples: list[Example] = []
    errors: list[str] = []
    for line, row in rows:
        if isinstance(row, str):  # a parse error
            errors.append(f"line {line}: {row}")
            continue
        try:
            examples.append(Example(line, to_messages(row)))
        except ValueError as error:
            errors.append(f"line {line}: {error}")
    if errors:
        more = f"; and {len(errors) - _SHOWN_ERRORS} more" if len(errors) > _SHOWN_ERRORS else ""
        raise DatasetError(f"{path}: {len(errors)} bad rows: " + "; ".join(errors[:_SHOWN_ERRORS]) + more)
    if not examples:
        raise DatasetError(f"{path} has no rows")
    return examples


_COURSE_EXAMPLE = '{"role": "user", "content": "问题", "response": "回答"}'


def _json_lines(text: str) -> list[tuple[int, object]]:
    rows: list[tuple[int, object]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((number, json.loads(line)))
        except ValueError as error:
            rows.append((number, f"not valid JSON ({_reason(error)})"))
    return rows


def _json_list(text: str, path: Path) -> list[tuple[int, object]]:
    """A JSON list, each item paired with the line it starts on."""
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    rows: list[tuple[int, object]] = []
    try:
        while True:
            position = _skip(text, position)
            if text.startswith("]", position):
                break
            start = position
            item, position = decoder.raw_decode(text, position)
            rows.append((text.count("\n", 0, start) + 1, item))
            position = _skip(text, position)
            if text.startswith(",", position):
                position += 1
            elif not text.startswith("]", position):
                raise json.JSONDecodeError("expected ',' or ']'", text, position)
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path} line {error.lineno}: not valid JSON ({error.msg})") from None
    return rows


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _reason(error: ValueError) -> str:
    return error.msg if isinstance(error, json.JSONDecodeError) else str(error)


def to_messages(row: object) -> tuple[tuple[str, str], ...]:
    """One row in any accepted shape → its conversation; ``ValueError`` says what is wrong."""
    if not isinstance(row, dict):
        raise ValueError(f"a row must be a JSON object, not {type(row).__name__}")
    if "messages" in row:
        return _chat(row["messages"])
    if "instruction" in row or "output" in row:
        instruction = _text(row, "instruction")
        extra = row.get("input", "")
        if not isinstance(extra, str):
            raise ValueError("'input' must be a string")
        prompt = f"{instruction}\n\n{extra.strip()}" if extra.strip() else instruction
        return (("user", prompt), ("assistant", _text(row, "output")))
    if "response" in row or "content" in row:
        if row.get("role", "user") != "user":
            raise ValueError(f"a Q&A row's role must be 'user', not {row.get('role')!r}")
        system = row.get("system")
        lead = (("system", _text(row, "system")),) if system is not None else ()
        return (*lead, ("user", _text(row, "content")), ("assistant", _text(row, "response")))
    keys = ", ".join(sorted(map(str, row))) or "none"
    raise ValueError(
        f"unknown row shape (keys: {keys}); use {{role, content, response}}, {{messages}} or "
        "{instruction, input, output}"
    )


def _text(row: dict[str, object], key: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"missing {key!r} (a non-empty string)")
    return value.strip()


def _chat(messages: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    turns: list[tuple[str, str]] = []
    for index, message in enumerate(messages, start=1):
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise ValueError(f"message {index} needs a role of {', '.join(_ROLES)}")
        if message["role"] == "system" and index != 1:
            raise ValueError(f"message {index}: only the first message may be the system prompt")
        turns.append((str(message["role"]), _text(message, "content")))
    if not any(role == "user" for role, _ in turns):
        raise ValueError("'messages' has no user message")
    if turns[-1][0] != "assistant":
        raise ValueError("'messages' must end with the assistant's answer (the part that is learnt)")
    return tuple(turns)
