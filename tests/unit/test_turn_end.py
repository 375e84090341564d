"""The words decide the end of a turn: tables of finished, unfinished, stop and backchannel phrases."""

from __future__ import annotations

import pytest

from localvoice.text.turn_end import TurnEnd, is_backchannel, is_stop_command, join_fragments, turn_end


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我想问一下，", TurnEnd.INCOMPLETE),
        ("我想问一下", TurnEnd.INCOMPLETE),
        ("请问", TurnEnd.INCOMPLETE),
        ("然后", TurnEnd.INCOMPLETE),
        ("北京的", TurnEnd.INCOMPLETE),
        ("因为", TurnEnd.INCOMPLETE),
        ("明天北京的天气怎么样？", TurnEnd.COMPLETE),
        ("明天北京的天气怎么样", TurnEnd.COMPLETE),
        ("你是谁呢", TurnEnd.COMPLETE),
        ("给我讲个故事。", TurnEnd.COMPLETE),
        ("现在几点了", TurnEnd.NEUTRAL),
        ("I want to ask you", TurnEnd.INCOMPLETE),
        ("and then", TurnEnd.INCOMPLETE),
        ("What is the capital of", TurnEnd.INCOMPLETE),
        ("Wait,", TurnEnd.INCOMPLETE),
        ("What is the capital of France?", TurnEnd.COMPLETE),
        ("Tell me a joke.", TurnEnd.COMPLETE),
        ("tell me a joke", TurnEnd.NEUTRAL),
        ("", TurnEnd.NEUTRAL),
        ("……", TurnEnd.NEUTRAL),
    ],
)
def test_turn_end(text: str, expected: TurnEnd) -> None:
    assert turn_end(text) is expected


@pytest.mark.parametrize(
    "text", ["停", "停一下。", "等一下", "别说了！", "Stop.", "stop", "Wait!", "Hold on."]
)
def test_stop_commands(text: str) -> None:
    assert is_stop_command(text)


@pytest.mark.parametrize(
    "text", ["停一下，今天天气怎么样？", "不要停", "Stop the music and tell me a joke", "停车场在哪"]
)
def test_not_only_a_stop(text: str) -> None:
    assert not is_stop_command(text)


@pytest.mark.parametrize(
    "text",
    [
        "嗯",
        "嗯嗯。",
        "对对对",
        "好的",
        "OK.",
        "Okay",
        "uh-huh",
        "Yeah.",
        "",
        "。",
        "Oh, thank you.",
        "谢谢！",
        "And.",  # Whisper's word for a lone 嗯 over a story (bench, 15:43)
        "Um,",
    ],
)
def test_backchannels(text: str) -> None:
    assert is_backchannel(text)


@pytest.mark.parametrize(
    "text", ["嗯，我想问一下", "好的，那明天呢？", "OK, what about tomorrow?", "停", "And then?"]
)
def test_words_that_are_more_than_a_backchannel(text: str) -> None:
    assert not is_backchannel(text)


@pytest.mark.parametrize(
    ("first", "second", "joined"),
    [
        ("我想问一下，", "明天北京的天气怎么样？", "我想问一下，明天北京的天气怎么样？"),
        ("我想问一下", "明天北京的天气怎么样？", "我想问一下，明天北京的天气怎么样？"),
        ("停一下。", "今天天气怎么样？", "停一下。今天天气怎么样？"),
        ("Wait,", "what is two plus two?", "Wait, what is two plus two?"),
        ("Stop.", "What is the capital of France?", "Stop. What is the capital of France?"),
        ("", "你好", "你好"),
        ("我想问", "iPhone 多少钱", "我想问 iPhone 多少钱"),
    ],
)
def test_join_fragments(first: str, second: str, joined: str) -> None:
    assert join_fragments(first, second) == joined
