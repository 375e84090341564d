from __future__ import annotations

from localvoice.backends.llm.history import (
    MESSAGE_OVERHEAD_TOKENS,
    estimate_tokens,
    merge_system_messages,
    trim_history,
)
from localvoice.events import Message

SYSTEM = Message("system", "你是小声。")


def conversation(turns: int, words: int = 10) -> list[Message]:
    messages = [SYSTEM]
    for i in range(turns):
        messages.append(Message("user", f"question {i} " + "word " * words))
        messages.append(Message("assistant", f"answer {i} " + "word " * words))
    return messages


def test_estimate_counts_chinese_per_character_and_english_per_four_letters() -> None:
    assert estimate_tokens("你好，世界") == 5
    assert estimate_tokens("abcdefgh") == 2
    assert estimate_tokens("abcdefghi") == 3  # rounds up
    assert estimate_tokens("2025") == 4  # digits one by one, as Qwen tokenizes them
    assert estimate_tokens("") == 0


def test_history_that_fits_is_unchanged() -> None:
    messages = [*conversation(3), Message("user", "最后一个问题")]
    assert trim_history(messages, num_ctx=4096) == messages


def test_oldest_turns_go_first_and_whole() -> None:
    messages = [*conversation(20), Message("user", "newest")]
    trimmed = trim_history(messages, num_ctx=400, reserve_tokens=100)

    assert trimmed[0] == SYSTEM
    assert trimmed[-1] == Message("user", "newest")
    assert len(trimmed) < len(messages)
    assert trimmed[1].role == "user"  # never an assistant reply without its question
    kept = trimmed[1:-1]
    assert kept == messages[len(messages) - 1 - len(kept) : -1]  # the newest turns, contiguous
    used = sum(estimate_tokens(m.content) + MESSAGE_OVERHEAD_TOKENS for m in trimmed)
    assert used <= 400 - 100
    # one more turn would not have fitted
    previous_turn = messages[len(messages) - 3 - len(kept) : len(messages) - 1 - len(kept)]
    extra = sum(estimate_tokens(m.content) + MESSAGE_OVERHEAD_TOKENS for m in previous_turn)
    assert used + extra > 400 - 100


def test_system_and_newest_user_message_stay_even_when_they_overflow() -> None:
    huge = Message("user", "字" * 10_000)
    trimmed = trim_history([*conversation(2), huge], num_ctx=2048)
    assert trimmed == [SYSTEM, huge]


def test_reply_already_under_way_stays_with_its_question() -> None:
    messages = [*conversation(5), Message("user", "go on"), Message("assistant", "sure,")]
    trimmed = trim_history(messages, num_ctx=60, reserve_tokens=0)
    assert trimmed == [SYSTEM, Message("user", "go on"), Message("assistant", "sure,")]


def test_a_turn_too_big_stops_trimming_there_instead_of_leaving_a_gap() -> None:
    old = [Message("user", "small"), Message("assistant", "ok")]
    big = [Message("user", "big " * 400), Message("assistant", "ok")]
    newest = Message("user", "now")
    trimmed = trim_history([SYSTEM, *old, *big, newest], num_ctx=200, reserve_tokens=0)
    assert trimmed == [SYSTEM, newest]


def test_without_system_prompt_and_with_custom_tokenizer() -> None:
    messages = [Message("user", "a"), Message("assistant", "b"), Message("user", "c")]
    calls: list[str] = []

    def count(text: str) -> int:
        calls.append(text)
        return 100

    trimmed = trim_history(messages, num_ctx=150, count_tokens=count, reserve_tokens=0)
    assert trimmed == [Message("user", "c")]
    assert "c" in calls
    assert trim_history([], num_ctx=100) == []
    assert trim_history([SYSTEM], num_ctx=100) == [SYSTEM]


def test_the_time_line_before_the_newest_question_is_never_trimmed() -> None:
    history = [Message("user", "早" * 400), Message("assistant", "好" * 400)] * 3
    messages = [
        Message("system", "人设"),
        *history,
        Message("system", "现在是上午8点"),
        Message("user", "几点了"),
    ]
    kept = trim_history(messages, num_ctx=600, reserve_tokens=100)
    assert kept[0].content == "人设"
    assert kept[-2:] == [Message("system", "现在是上午8点"), Message("user", "几点了")]


def test_system_messages_merge_into_one_first_for_strict_servers() -> None:
    messages = [
        Message("system", "人设"),
        Message("user", "a"),
        Message("system", "现在"),
        Message("user", "b"),
    ]
    assert merge_system_messages(messages) == [
        Message("system", "人设\n现在"),
        Message("user", "a"),
        Message("user", "b"),
    ]
    assert merge_system_messages([Message("user", "a")]) == [Message("user", "a")]
