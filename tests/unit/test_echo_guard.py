from __future__ import annotations

import pytest

from localvoice.audio.echo_guard import SelfEchoGuard, units

ZH_REPLY = ["明天北京多云转晴，", "最高气温二十三度，", "早晚有点凉，出门记得带件外套。"]
EN_REPLY = ["Tomorrow looks mild, with light rain in the morning,", "so take an umbrella when you leave."]


def guard_after(reply: list[str]) -> SelfEchoGuard:
    guard = SelfEchoGuard()
    for i, clause in enumerate(reply):
        guard.remember(clause, at_s=10.0 + i)
    return guard


def test_units_split_chinese_by_character_and_english_by_word() -> None:
    assert units("你好，World！ It's 2 PM.") == ["你", "好", "world", "it", "s", "2", "pm"]
    assert units("ＡＢＣ　１２") == ["abc", "12"]  # full-width forms fold to ASCII


def test_a_word_stops_at_a_cjk_character_and_korean_counts_by_word() -> None:
    assert units("我用Python编程3个月") == ["我", "用", "python", "编", "程", "3", "个", "月"]
    assert units("カタカナ") == ["カ", "タ", "カ", "ナ"]
    assert units("안녕하세요 여러분") == ["안녕하세요", "여러분"]  # Korean spaces its words


@pytest.mark.parametrize(
    "heard",
    [
        "最高气温二十三度，早晚有点凉",  # a stretch across two clauses
        "明天北京多云转晴",  # one clause, no punctuation, as Whisper might write it
        "最高气温23度，早晚有点凉",  # an ASR that writes digits still mostly matches
    ],
)
def test_own_chinese_words_are_echo(heard: str) -> None:
    assert guard_after(ZH_REPLY).is_echo(heard, now_s=14.0)


@pytest.mark.parametrize(
    "heard",
    [
        "so take an umbrella when you leave",
        "Tomorrow looks mild with light rain in the morning.",
        "light rain in the morning so take an umbrella",  # across clauses, case and commas differ
    ],
)
def test_own_english_words_are_echo(heard: str) -> None:
    assert guard_after(EN_REPLY).is_echo(heard, now_s=13.0)


@pytest.mark.parametrize(
    ("reply", "heard"),
    [
        (ZH_REPLY, "那后天上海会下雨吗"),
        (ZH_REPLY, "帮我定一个明早七点的闹钟"),
        (EN_REPLY, "What about the weekend in Paris?"),
        (EN_REPLY, "Can you set a timer for ten minutes"),
    ],
)
def test_unrelated_user_questions_are_not_echo(reply: list[str], heard: str) -> None:
    assert not guard_after(reply).is_echo(heard, now_s=13.0)


@pytest.mark.parametrize(
    ("reply", "heard"),
    [
        (ZH_REPLY, "外套？"),  # too short to judge
        (ZH_REPLY, "为什么要带外套呢"),  # repeats a word inside a real question
        (ZH_REPLY, "北京明天会下雨吗"),  # reuses two words of the reply, in another order
        (EN_REPLY, "Umbrella?"),
        (EN_REPLY, "why would I need an umbrella"),
    ],
)
def test_user_repeating_a_word_of_the_reply_is_not_echo(reply: list[str], heard: str) -> None:
    assert not guard_after(reply).is_echo(heard, now_s=13.0)


def test_a_user_question_that_starts_with_leaked_echo_is_not_dropped() -> None:
    heard = "take an umbrella, wait, what about the weekend in Paris and Rome?"
    assert not guard_after(EN_REPLY).is_echo(heard, now_s=13.0)


def test_old_replies_are_forgotten() -> None:
    guard = guard_after(EN_REPLY)
    assert guard.is_echo("so take an umbrella when you leave", now_s=25.0)
    assert not guard.is_echo("so take an umbrella when you leave", now_s=60.0)


def test_nothing_said_means_no_echo() -> None:
    assert not SelfEchoGuard().is_echo("so take an umbrella when you leave", now_s=1.0)
    guard = guard_after(EN_REPLY)
    guard.clear()
    assert not guard.is_echo("so take an umbrella when you leave", now_s=13.0)
