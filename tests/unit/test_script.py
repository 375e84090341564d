from __future__ import annotations

import pytest

from localvoice.text.script import Lang, dominant_language, split_by_script


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
