"""Fine-tuning data validation: every shape, every bad row by line number, duplicates, the eval split."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import localvoice.persona
from localvoice.cli.main import main
from localvoice.persona.dataset import DatasetError, load_dataset, read_examples, to_messages

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "learning_platform_qa.jsonl"


def _write(tmp_path: Path, lines: list[str], name: str = "data.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _row(q: str, a: str) -> str:
    return json.dumps({"role": "user", "content": q, "response": a}, ensure_ascii=False)


@pytest.mark.parametrize(
    ("row", "messages"),
    [
        (
            {"role": "user", "content": " 能退款吗？", "response": "能。"},
            (("user", "能退款吗？"), ("assistant", "能。")),
        ),
        (
            {"content": "hi", "response": "hello", "system": "be brief"},
            (("system", "be brief"), ("user", "hi"), ("assistant", "hello")),
        ),
        (
            {"instruction": "翻译", "input": "cat", "output": "猫"},
            (("user", "翻译\n\ncat"), ("assistant", "猫")),
        ),
        ({"instruction": "问好", "output": "你好"}, (("user", "问好"), ("assistant", "你好"))),
        (
            {
                "messages": [
                    {"role": "system", "content": "s"},
                    {"role": "user", "content": "a"},
                    {"role": "assistant", "content": "b"},
                    {"role": "user", "content": "c"},
                    {"role": "assistant", "content": "d"},
                ]
            },
            (("system", "s"), ("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")),
        ),
    ],
)
def test_row_shapes(row: object, messages: tuple[tuple[str, str], ...]) -> None:
    assert to_messages(row) == messages


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"role": "user", "content": "q"}, "missing 'response'"),
        ({"role": "user", "content": "q", "response": "  "}, "missing 'response'"),
        ({"role": "assistant", "content": "q", "response": "a"}, "role must be 'user'"),
        ({"instruction": "x"}, "missing 'output'"),
        ({"messages": []}, "non-empty list"),
        ({"messages": [{"role": "user", "content": "a"}]}, "must end with the assistant"),
        ({"messages": [{"role": "bot", "content": "a"}]}, "message 1 needs a role"),
        ({"messages": [{"role": "assistant", "content": "a"}]}, "no user message"),
        ({"question": "q"}, "unknown row shape (keys: question)"),
        (["q", "a"], "must be a JSON object, not list"),
    ],
)
def test_bad_rows(row: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        to_messages(row)


def test_every_bad_line_is_named(tmp_path: Path) -> None:
    lines = [_row(f"问题{i}", f"回答{i}") for i in range(1, 11)]
    lines[6] = '{"role": "user", "content": "少了引号}'
    lines[8] = json.dumps({"role": "user", "content": "q"})
    with pytest.raises(DatasetError) as caught:
        read_examples(_write(tmp_path, lines))
    message = str(caught.value)
    assert "2 bad rows: line 7: not valid JSON" in message
    assert "line 9: missing 'response'" in message
    assert caught.value.exit_code == 2 and "\n" not in message


def test_empty_and_non_utf8(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DatasetError, match="is empty"):
        read_examples(empty)
    gbk = tmp_path / "gbk.jsonl"
    gbk.write_bytes((_row("a", "b") + "\n" + _row("退款", "可以")).encode("gbk"))
    with pytest.raises(DatasetError, match="line 2: not UTF-8"):
        read_examples(gbk)


def test_a_json_list_reports_item_lines(tmp_path: Path) -> None:
    items = [{"role": "user", "content": "a", "response": "b"}, {"role": "user", "content": "c"}]
    path = tmp_path / "data.json"
    path.write_text(json.dumps(items, ensure_ascii=False, indent=2), encoding="utf-8")
    with pytest.raises(DatasetError, match="line 7: missing 'response'"):
        read_examples(path)
    path.write_text('[\n{"content": "a", "response": "b"},\n{"content": "a" "response"}\n]', encoding="utf-8")
    with pytest.raises(DatasetError, match="line 3: not valid JSON"):
        read_examples(path)


def test_duplicates_dropped_and_a_seeded_eval_split(tmp_path: Path) -> None:
    lines = [_row(f"问题{i}", f"回答{i}") for i in range(20)] + [_row("问题3", "回答3")] * 2
    dataset = load_dataset(_write(tmp_path, lines), eval_fraction=0.1, seed=1)
    assert dataset.duplicates == 2
    assert (len(dataset.train), len(dataset.eval)) == (18, 2)
    assert not {e.messages for e in dataset.train} & {e.messages for e in dataset.eval}
    again = load_dataset(_write(tmp_path, lines), eval_fraction=0.1, seed=1)
    assert again.eval == dataset.eval
    assert len(load_dataset(_write(tmp_path, lines[:3]), eval_fraction=0.1).eval) == 1
    assert load_dataset(_write(tmp_path, lines), eval_fraction=0).eval == []


def test_the_example_data_is_valid_and_chinese() -> None:
    examples = read_examples(EXAMPLE)
    assert len(examples) >= 40
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in e.messages[-1][1]) for e in examples)


def test_finetune_check_validates_without_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["finetune", str(EXAMPLE), "--check"]) == 0
    assert "training and" in capsys.readouterr().out
    bad = _write(tmp_path, [_row("a", "b"), "{nope"])
    assert main(["finetune", str(bad), "--check"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("localvoice: ") and "line 2: not valid JSON" in err and err.count("\n") == 1


def test_training_without_the_finetune_extra_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    monkeypatch.delitem(sys.modules, "localvoice.persona.finetune", raising=False)
    # An earlier test may have imported it: the package keeps it as an attribute, which
    # `from localvoice.persona import finetune` would return without importing anything.
    monkeypatch.delattr(localvoice.persona, "finetune", raising=False)
    assert main(["finetune", str(EXAMPLE), "--base", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err == "localvoice: fine-tuning needs torch: pip install 'localvoice[finetune]'\n"
