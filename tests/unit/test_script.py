from __future__ import annotations

import re
from pathlib import Path

import pytest

from localvoice.text import script
from localvoice.text.script import Lang, count_cjk, dominant_language, has_cjk, is_cjk, split_by_script


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("你好，今天天气怎么样？", "zh"),
        ("Hello, how are you today?", "en"),
        ("我喜欢用Python和JavaScript写代码。", "zh"),
        ("好的OK", "zh"),  # 2 characters vs 1 word
        ("OK", "en"),
        ("Let me check 一下 the weather forecast", "en"),
        ("Harry Potter 很好看", "zh"),  # a tie goes to Chinese
        ("12345。", "zh"),  # no letters at all
        ("", "zh"),
        ("Café au lait", "en"),
    ],
)
def test_dominant_language(text: str, lang: Lang) -> None:
    assert dominant_language(text) == lang


@pytest.mark.parametrize(
    ("text", "runs"),
    [
        ("你好世界", [("你好世界", "zh")]),
        ("Hello world.", [("Hello world.", "en")]),
        (
            "我喜欢用Python和JavaScript。",
            [("我喜欢用", "zh"), ("Python", "en"), ("和", "zh"), ("JavaScript。", "en")],
        ),
        ("iPhone 15售价5999元。", [("iPhone 15", "en"), ("售价5999元。", "zh")]),
        ("用了3个Python库。", [("用了3个", "zh"), ("Python", "en"), ("库。", "zh")]),
        ("“Hello”他说。", [("“Hello”", "en"), ("他说。", "zh")]),
        ("2024年", [("2024年", "zh")]),
        ("123!", [("123!", "zh")]),
        ("", []),
    ],
)
def test_split_by_script(text: str, runs: list[tuple[str, Lang]]) -> None:
    assert split_by_script(text) == runs
    assert "".join(part for part, _ in split_by_script(text)) == text


@pytest.mark.parametrize(
    ("ch", "cjk"),
    [
        ("中", True),  # basic Han
        ("㐀", True),  # extension A
        ("豈", True),  # compatibility ideograph
        ("の", True),  # hiragana
        ("カ", True),  # katakana
        ("한", False),  # Hangul: Korean spaces its words, so it is handled like Latin text
        ("。", False),  # CJK punctuation is not a character
        ("Ａ", False),  # nor is a full-width Latin letter
        ("a", False),
        ("1", False),
    ],
)
def test_one_definition_of_a_cjk_character(ch: str, cjk: bool) -> None:
    assert is_cjk(ch) is cjk
    assert has_cjk(f"x{ch}y") is cjk
    assert count_cjk(ch * 3) == (3 if cjk else 0)


def test_no_other_module_spells_out_the_cjk_ranges() -> None:
    """``text.script`` is the one place that says what a CJK character is (grep for the Han block)."""
    source = Path(script.__file__).parents[1]
    spelled = [
        str(path.relative_to(source))
        for path in source.rglob("*.py")
        if path.name != "script.py"
        and re.search(r"\\u4e00|\\u9fff|\\u3400|\\u3040|[一-龥]-[一-龥]", path.read_text(encoding="utf-8"))
    ]
    assert spelled == []
