from __future__ import annotations

import random

import pytest

from localvoice.text.chunker import SentenceChunker
from localvoice.text.script import clause_weight


def chunk_whole(text: str, **settings: int) -> list[str]:
    chunker = SentenceChunker(**settings)
    return [*chunker.push(text), *chunker.flush()]


def chunk_split(pieces: list[str], **settings: int) -> list[str]:
    chunker = SentenceChunker(**settings)
    clauses: list[str] = []
    for piece in pieces:
        clauses.extend(chunker.push(piece))
    return [*clauses, *chunker.flush()]


def random_pieces(text: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    pieces: list[str] = []
    position = 0
    while position < len(text):
        size = rng.randint(1, 6)
        pieces.append(text[position : position + size])
        position += size
    return pieces


def chunk_every_way(text: str, **settings: int) -> list[str]:
    """Clauses of ``text``, after proving they are the same however the deltas are split."""
    whole = chunk_whole(text, **settings)
    assert chunk_split(list(text), **settings) == whole, "char by char differs from whole text"
    for seed in range(20):
        assert chunk_split(random_pieces(text, seed), **settings) == whole, f"random split {seed} differs"
    return whole


CASES = [
    pytest.param(
        "好的，我来帮你查一下明天北京的天气。明天晴，最高气温25度。",
        ["好的，我来帮你查一下明天北京的天气。", "明天晴，最高气温25度。"],
        id="zh-short-opening-merges",
    ),
    pytest.param(
        "我来帮你查一下，明天北京晴，最高气温25度，适合出门。",
        ["我来帮你查一下，", "明天北京晴，最高气温25度，适合出门。"],
        id="zh-first-clause-at-comma",
    ),
    pytest.param(
        "圆周率约等于3.14159。这件衣服29.95元！全国约有1.5亿人。",
        ["圆周率约等于3.14159。", "这件衣服29.95元！", "全国约有1.5亿人。"],
        id="zh-decimals",
    ),
    pytest.param(
        "他说：“今天天气真好。”然后就走了。「真的吗？」她问。",
        ["他说：“今天天气真好。”", "然后就走了。", "「真的吗？」她问。"],
        id="zh-closing-quotes",
    ),
    pytest.param(
        "你确定吗？！我不太相信……再想想吧。好。",
        # A short tail still comes out at flush: there is nothing left to merge it into.
        ["你确定吗？！", "我不太相信……", "再想想吧。", "好。"],
        id="zh-runs-of-marks-and-short-tail",
    ),
    pytest.param(
        "Sure, let me check. The price is $3.14 per item, e.g. apples. Mr. Smith lives in the U.S. and "
        "likes it. Really!",
        [
            "Sure,",  # the first clause may end at a comma once it weighs 4
            "let me check.",
            "The price is $3.14 per item, e.g. apples.",
            "Mr. Smith lives in the U.S. and likes it.",
            "Really!",
        ],
        id="en-abbreviations-and-decimals",
    ),
    pytest.param(
        "Well, I think so. Apples, pears, etc. are fruit. I like fruit etc. Do you?",
        ["Well,", "I think so.", "Apples, pears, etc. are fruit.", "I like fruit etc.", "Do you?"],
        id="en-etc-mid-and-end",
    ),
    pytest.param(
        "Wait... what happened? About 1,000 people came at 14:30; nobody left.",
        ["Wait...", "what happened?", "About 1,000 people came at 14:30;", "nobody left."],
        id="en-ellipsis-thousands-time",
    ),
    pytest.param(
        "See https://example.com/a.b?x=1;y=2! Then visit www.python.org. Done now.",
        ["See https://example.com/a.b?x=1;y=2!", "Then visit www.python.org.", "Done now."],
        id="en-urls",
    ),
    pytest.param(
        "详情请访问https://example.com/path?a=1。然后告诉我结果吧。",
        ["详情请访问https://example.com/path?a=1。", "然后告诉我结果吧。"],
        id="zh-url",
    ),
    pytest.param(
        "我用Python写了一个脚本.它运行得很好。OK.",
        ["我用Python写了一个脚本.", "它运行得很好。", "OK."],
        id="mixed-ascii-period-before-chinese",
    ),
    pytest.param(
        "步骤如下：\n1. 打开设置\n2. 点击关于本机\n3. 查看版本号。",
        ["步骤如下：", "1. 打开设置", "2. 点击关于本机", "3. 查看版本号。"],
        id="markdown-numbered-list",
    ),
    pytest.param(
        "Here you go:\n- first item here\n- second item\n\n**Note.** Be careful!",
        ["Here you go:", "- first item here", "- second item", "**Note.**", "Be careful!"],
        id="markdown-bullets-and-bold",
    ),
    pytest.param(
        "这很**重要。**请记住。",
        ["这很**重要。**", "请记住。"],
        id="closing-bold-stays-with-clause",
    ),
    pytest.param(
        "J. K. Rowling wrote it in the 1990s. No. 5 is mine.",
        ["J. K. Rowling wrote it in the 1990s.", "No. 5 is mine."],
        id="en-initials",
    ),
    pytest.param("  \n\n  ", [], id="only-whitespace"),
    pytest.param("你好，世界。😀", ["你好，世界。"], id="unspeakable-tail-dropped"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_clauses_are_the_same_however_the_text_streams_in(text: str, expected: list[str]) -> None:
    assert chunk_every_way(text) == expected


def test_first_clause_starts_early_in_english_too() -> None:
    text = "Well, so the weather tomorrow in Beijing looks sunny, with a high of 25 degrees."
    # "Well," weighs 4: a phrase that may stand alone; later clauses do not end at commas.
    assert chunk_every_way(text) == [
        "Well,",
        "so the weather tomorrow in Beijing looks sunny, with a high of 25 degrees.",
    ]
    # "Oh," weighs 2: too short, so the first cut is at the next comma.
    assert (
        chunk_every_way("Oh, the weather looks sunny, with a high of 25.")[0]
        == "Oh, the weather looks sunny,"
    )


def test_first_clause_is_emitted_as_soon_as_its_comma_is_followed_by_anything() -> None:
    chunker = SentenceChunker()
    assert chunker.push("我来帮你查一下") == []
    assert chunker.push("，") == []  # a closing quote could still follow
    assert chunker.push("明") == ["我来帮你查一下，"]
    assert chunker.push("天北京晴，最高") == []  # later clauses do not end at commas
    assert chunker.push("气温25度。") == []
    assert chunker.flush() == ["明天北京晴，最高气温25度。"]


def test_a_reply_opening_with_a_short_acknowledgement_speaks_the_whole_sentence() -> None:
    # "好的" alone weighs 2 < first_clause_min_chars=4: too short a sound to stand alone.
    chunker = SentenceChunker()
    assert chunker.push("好的，我来帮你查一下明天北京的天气") == []
    assert chunker.push("。") == []
    assert chunker.push("明") == ["好的，我来帮你查一下明天北京的天气。"]


def test_a_lower_first_clause_threshold_lets_an_acknowledgement_out_first() -> None:
    clauses = chunk_every_way("好的，我来帮你查一下明天北京的天气。", first_clause_min_chars=2)
    assert clauses == ["好的，", "我来帮你查一下明天北京的天气。"]


def test_decimal_split_across_deltas_is_not_cut() -> None:
    chunker = SentenceChunker()
    assert chunker.push("圆周率是3.") == []
    assert chunker.push("14") == []
    assert chunker.push("。下") == ["圆周率是3.14。"]


def test_closing_quote_in_the_next_delta_stays_with_the_clause() -> None:
    chunker = SentenceChunker()
    assert chunker.push("他说：“今天天气真好。") == []
    assert chunker.push("”") == []
    assert chunker.push("然后") == ["他说：“今天天气真好。”"]


def test_period_waits_for_the_next_word_to_rule_out_abbreviations() -> None:
    chunker = SentenceChunker()
    assert chunker.push("He lives in the U.S. ") == []
    assert chunker.push("and") == []  # lower case: same sentence
    assert chunker.push(" likes it. ") == []
    assert chunker.push("Then") == ["He lives in the U.S. and likes it."]


def test_short_clauses_merge_into_the_next() -> None:
    # "嗯。" and "对。" weigh 1 < min_clause_chars=4.
    assert chunk_every_way("嗯。对。我明白你的意思了。") == ["嗯。对。我明白你的意思了。"]


def test_min_clause_chars_counts_english_letters() -> None:
    assert chunk_every_way("Yes. That works for me.") == ["Yes. That works for me."]  # "Yes." weighs 3
    assert chunk_every_way("Sure. That works for me.") == ["Sure.", "That works for me."]


def test_only_the_first_clause_cuts_at_commas() -> None:
    text = "首先打开设置页面，然后点击关于本机。接着找到版本号，最后告诉我。"
    assert chunk_every_way(text) == [
        "首先打开设置页面，",
        "然后点击关于本机。",
        "接着找到版本号，最后告诉我。",
    ]


def test_flush_resets_for_the_next_reply() -> None:
    chunker = SentenceChunker()
    assert chunker.push("第一个回答没有结尾") == []
    assert chunker.flush() == ["第一个回答没有结尾"]
    # The next reply gets its early first clause again.
    assert chunker.push("第二个回答开始了，") == []
    assert chunker.push("好") == ["第二个回答开始了，"]


def test_a_code_block_is_cut_at_lines_so_the_fence_stays_visible() -> None:
    text = "下面是代码：\n```python\nprint('hello world')\n```\n正如上面所示。"
    assert chunk_every_way(text) == [
        "下面是代码：",
        "```python",
        "print('hello world')",
        "```\n正如上面所示。",
    ]


def test_random_mixed_texts_stream_the_same() -> None:
    rng = random.Random(7)
    alphabet = list("你好世界天气明晴abc XYZ 0123456789.,。，！？；…”」)*\n:/-%$")
    for _ in range(200):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60)))
        clauses = chunk_every_way(text)
        assert all(clause == clause.strip() and clause for clause in clauses)
        # Nothing speakable is lost or reordered.
        spoken = "".join(ch for ch in text if ch.isalnum())
        assert "".join(ch for clause in clauses for ch in clause if ch.isalnum()) == spoken


PHRASE = {"first_phrase_min_chars": 4}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # No comma for 19 characters: the first audio starts at the connective instead.
        (
            "今天晚饭可以尝试烤蔬菜或者煮一份清蒸鱼，这些都是简单又美味的选择。",
            ["今天晚饭", "可以尝试烤蔬菜或者煮一份清蒸鱼，这些都是简单又美味的选择。"],
        ),
        (
            "There once was a brave knight named Sir Galahad who had a horse. It was fast.",
            ["There once was a brave knight named Sir Galahad", "who had a horse.", "It was fast."],
        ),
        # A comma (weight ≥ 6) before any connective still ends the first clause.
        ("周末可以做运动、看电影、听音乐。", ["周末可以做运动、", "看电影、听音乐。"]),
        # Too little before the connective ("我", "Try to"): it waits for the next break.
        ("我可以帮你查一下明天的天气。", ["我可以帮你查一下明天的天气。"]),
        (
            "Try to keep a regular sleep schedule and avoid coffee.",
            ["Try to keep a regular sleep schedule", "and avoid coffee."],
        ),
        # Only whole, spaced words: not inside a path, not the start of "today".
        ("Please open docs/path/to/it now.", ["Please open docs/path/to/it now."]),
        ("I went there today and it rained.", ["I went there today", "and it rained."]),
        # Only the first clause: later ones keep their length.
        ("好的。我们可以先去超市，然后回家做饭。", ["好的。我们", "可以先去超市，然后回家做饭。"]),
    ],
)
def test_the_first_clause_may_end_at_a_phrase_boundary(text: str, expected: list[str]) -> None:
    assert chunk_every_way(text, **PHRASE) == expected


def test_phrase_breaks_stream_the_same_and_lose_nothing() -> None:
    rng = random.Random(11)
    words = [
        "你好",
        "可以",
        "或者",
        "然后",
        "天气",
        "明天",
        "and",
        "to",
        "the",
        "knight",
        "who",
        "，",
        "。",
        " ",
    ]
    for _ in range(200):
        text = "".join(rng.choice(words) for _ in range(rng.randint(1, 25)))
        clauses = chunk_every_way(text, **PHRASE)
        spoken = "".join(ch for ch in text if ch.isalnum())
        assert "".join(ch for clause in clauses for ch in clause if ch.isalnum()) == spoken


@pytest.mark.parametrize(
    ("text", "weight"),
    [("好的。", 2), ("Sure.", 4), ("3.14", 3), ("😀！", 0), ("Hello 世界", 7)],
)
def test_clause_weight(text: str, weight: int) -> None:
    assert clause_weight(text) == weight
