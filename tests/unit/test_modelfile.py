"""The Modelfile parser and writer: the whole syntax, errors that name the line, round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from localvoice.errors import BadInputError
from localvoice.persona.modelfile import (
    PARAMETER_TYPES,
    Modelfile,
    ModelfileError,
    ModelfileMessage,
    parse,
    parse_file,
    write,
)

# The course's Modelfile, verbatim.
COURSE = '''FROM qwen2.5:7b
PARAMETER temperature 0.7
PARAMETER num_ctx 4096
SYSTEM """
你是一个在线学习平台的智能客服助手，请用简洁、友好的中文回答学员的问题。
"""
'''


def test_the_course_modelfile() -> None:
    parsed = parse(COURSE)
    assert parsed.from_ == "qwen2.5:7b"
    assert parsed.parameters == {"temperature": 0.7, "num_ctx": 4096}
    assert isinstance(parsed.parameters["num_ctx"], int)
    assert parsed.system == "\n你是一个在线学习平台的智能客服助手，请用简洁、友好的中文回答学员的问题。\n"
    assert parse(write(parsed)) == parsed


FULL = '''# a comment, then blank lines

from ./model.gguf
Adapter ./lora.gguf
template """{{ if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}<|im_start|>user
{{ .Prompt }}<|im_end|>
<|im_start|>assistant
"""
system "You are \\"Mario\\"."
license """Apache-2.0"""
PARAMETER stop <|im_start|>
PARAMETER stop "<|im_end|>"
PARAMETER\tTOP_K 40
PARAMETER use_mmap false
PARAMETER mirostat_eta 0.1
MESSAGE user 课程可以退款吗？
MESSAGE assistant """购买 7 天内
未学习超过 20% 可以全额退款。"""
REQUIRES 0.6.0
'''


def test_every_instruction_case_insensitive_with_quotes_and_tabs() -> None:
    parsed = parse(FULL)
    assert parsed.from_ == "./model.gguf"
    assert parsed.adapters == ["./lora.gguf"]
    assert parsed.template is not None and parsed.template.startswith("{{ if .System }}")
    assert parsed.template.endswith("<|im_start|>assistant\n")
    assert parsed.system == 'You are "Mario".'
    assert parsed.license == "Apache-2.0"
    assert parsed.parameters == {
        "stop": ["<|im_start|>", "<|im_end|>"],
        "top_k": 40,
        "use_mmap": False,
        "mirostat_eta": 0.1,
    }
    assert parsed.messages == [
        ModelfileMessage("user", "课程可以退款吗？"),
        ModelfileMessage("assistant", "购买 7 天内\n未学习超过 20% 可以全额退款。"),
    ]
    assert parsed.requires == "0.6.0"
    assert parse(write(parsed)) == parsed


@pytest.mark.parametrize(
    ("name", "raw", "value"),
    [
        ("temperature", "1", 1.0),
        ("top_p", "0.95", 0.95),
        ("seed", "-1", -1),
        ("num_predict", "128", 128),
        ("penalize_newline", "TRUE", True),
        ("numa", "0", False),
    ],
)
def test_parameter_types(name: str, raw: str, value: object) -> None:
    parsed = parse(f"FROM x\nPARAMETER {name} {raw}\n")
    assert parsed.parameters[name] == value
    assert type(parsed.parameters[name]) is type(value)


def test_every_documented_parameter_is_typed() -> None:
    documented = {"mirostat", "mirostat_eta", "mirostat_tau", "num_ctx", "repeat_last_n", "repeat_penalty"}
    documented |= {"temperature", "seed", "stop", "num_predict", "top_k", "top_p", "min_p"}
    assert documented <= set(PARAMETER_TYPES)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "FROM x\nPARAMETER temperature hot\n",
            "Modelfile line 2: PARAMETER temperature needs a number, not 'hot'",
        ),
        ("FROM x\n\nPARAMETER num_ctx 4.5\n", "Modelfile line 3: PARAMETER num_ctx needs a whole number"),
        ("FROM x\nPARAMETER use_mmap maybe\n", "line 2: PARAMETER use_mmap needs true or false"),
        ("FROM x\nPARAMETER warmth 3\n", "line 2: unknown PARAMETER 'warmth'"),
        ("FROM x\nPARAMETER top_k 1\nPARAMETER top_k 2\n", "line 3: PARAMETER top_k is given twice"),
        ("FROM x\nPARAMETER\n", "line 2: PARAMETER needs a name and a value"),
        ("FROM x\nPARAMETER seed\n", "line 2: PARAMETER seed needs a value"),
        ("# hi\nFORM x\n", "line 2: unknown instruction 'FORM'"),
        ("FROM x\nMESSAGE bot hi\n", "line 2: MESSAGE role 'bot' is not one of system, user, assistant"),
        ('FROM x\nSYSTEM """\nno end\n', 'line 2: the """ opened here is never closed'),
        ('FROM x\nSYSTEM """a\nb""" c\n', 'line 3: text after the closing """'),
        ('FROM x\nSYSTEM "open\n', "line 2: a double-quoted value is not closed"),
        ("FROM x\nFROM y\n", "line 2: a second FROM"),
        ("FROM\n", "line 1: FROM needs a model name or a path"),
        ("SYSTEM hi\n", "no FROM line"),
        ("", "no FROM line"),
    ],
)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ModelfileError) as caught:
        parse(text)
    assert message in str(caught.value)
    assert isinstance(caught.value, BadInputError) and caught.value.exit_code == 2
    assert "\n" not in str(caught.value)


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "Modelfile"
    path.write_text("FROM x\nPARAMETER top_p high\n", encoding="utf-8")
    with pytest.raises(ModelfileError, match=f"{path} line 2"):
        parse_file(path)
    path.write_bytes(b"FROM \xff\n")
    with pytest.raises(ModelfileError, match="not UTF-8"):
        parse_file(path)


@pytest.mark.parametrize(
    "value",
    ["plain", "two\nlines", 'ends with "quote"', 'has """ triple', " padded ", "", '"', 'a\n"b"'],
)
def test_writer_round_trips_awkward_text(value: str) -> None:
    modelfile = Modelfile(
        from_="qwen2.5:7b",
        system=value,
        template=value,
        parameters={"stop": [value or "x"], "temperature": 0.2, "num_ctx": 2048, "use_mlock": True},
        messages=[ModelfileMessage("user", value), ModelfileMessage("assistant", "ok")],
    )
    assert parse(write(modelfile)) == modelfile
