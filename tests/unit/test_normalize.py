from __future__ import annotations

import pytest

from localvoice.text.chunker import SentenceChunker
from localvoice.text.normalize import SpeechFilter, clean_for_speech


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # markdown
        ("## 今天的天气", "今天的天气"),
        ("**注意**：明天*可能*下雨！", "注意：明天可能下雨！"),
        ("This is **bold** and _italic_ text.", "This is bold and italic text."),
        ("运行 `pip install localvoice` 即可", "运行 pip install localvoice 即可"),
        ("详见[官方文档](https://docs.python.org/3/)。", "详见官方文档。"),
        ("![猫的照片](https://x.org/cat.png)很可爱", "猫的照片很可爱"),
        ("- 第一点", "第一点"),
        ("* second point", "second point"),
        ("1. 打开设置", "打开设置"),
        ("2、点击关于", "点击关于"),
        ("> 引用的一句话", "引用的一句话"),
        ("| 名称 | 价格 |", "名称，价格"),
        ("| Name | Price |", "Name, Price"),
        ("|---|:---:|", ""),
        ("---", ""),
        # half constructs, as a clause may cut them
        ("这一点很重要**", "这一点很重要"),
        ("**注意", "注意"),
        ("[未完成的链接](https://exa", "未完成的链接"),
        ("```python", ""),
        ("```python\nprint(1)\n```\n正如上面所示。", "正如上面所示。"),
        # emoji, URLs, HTML
        ("太好了😀👍🏻！🎉", "太好了！"),
        ("✅ 完成了 ⭐", "完成了"),
        ("访问https://example.com/a?b=1了解更多。", "访问了解更多。"),
        ("See (https://example.org).", "See."),
        ("Go to www.example.com now.", "Go to now."),
        ("<b>粗体</b>换行<br/>了", "粗体换行了"),
        # must stay
        ("你好，世界！今天（周一）天气不错；对吧？", "你好，世界！今天（周一）天气不错；对吧？"),
        ("气温25℃，价格¥29.95，涨了50%。", "气温25℃，价格¥29.95，涨了50%。"),
        ("snake_case and 3 * 4 = 12", "snake_case and 3 * 4 = 12"),
        ("Is a < b > c?", "Is a < b > c?"),
        ("  多余的   空白\n\n换行  ", "多余的空白换行"),
        ("Hello,   world.", "Hello, world."),
        # spaces between CJK characters (text.script's definition, kana included) go
        ("图片 **很** 可爱", "图片很可爱"),
        ("动画 カタカナ 很 好看", "动画カタカナ很好看"),
        ("| 名称 | 㐀 |", "名称，㐀"),  # an extension-A character makes a Chinese row too
        ("한국어 단어", "한국어 단어"),  # Korean keeps the spaces between its words
    ],
)
def test_clean_for_speech(text: str, spoken: str) -> None:
    assert clean_for_speech(text) == spoken


def test_speech_filter_drops_a_code_block_that_spans_clauses() -> None:
    reply = "下面是代码：\n```python\nx = 1.5\nprint(x)\n```\n正如上面所示，很简单。"
    chunker = SentenceChunker()
    speech = SpeechFilter()
    spoken = [speech.feed(clause) for clause in [*chunker.push(reply), *chunker.flush()]]
    assert [text for text in spoken if text] == ["下面是代码：", "正如上面所示，很简单。"]
    assert not speech.in_code


def test_speech_filter_keeps_state_between_clauses() -> None:
    speech = SpeechFilter()
    assert speech.feed("看这段：```js") == "看这段："
    assert speech.in_code
    assert speech.feed("console.log('hi');") == ""
    assert speech.feed("alert(1)。") == ""
    assert speech.feed("```之后继续说。") == "之后继续说。"
    assert not speech.in_code


def test_tilde_fence_is_not_closed_by_backticks() -> None:
    speech = SpeechFilter()
    assert speech.feed("~~~\n```") == ""
    assert speech.feed("still code") == ""
    assert speech.feed("~~~\n回来了。") == "回来了。"


def test_reset_leaves_the_code_block() -> None:
    speech = SpeechFilter()
    speech.feed("```")
    speech.reset()
    assert speech.feed("新的回答。") == "新的回答。"


def test_playful_tildes_are_not_a_code_fence() -> None:
    speech = SpeechFilter()
    assert speech.feed("好的呀~~~") == "好的呀"
    assert speech.feed("我们继续吧。") == "我们继续吧。"


def test_a_think_block_is_never_spoken() -> None:
    speech = SpeechFilter()
    assert speech.feed("<think>\n用户问天气。") == ""
    assert speech.feed("我应该查一下。") == ""
    assert speech.feed("</think>\n明天是晴天。") == "明天是晴天。"
