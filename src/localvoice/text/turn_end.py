"""What the words of a user's utterance say about the turn: finished, unfinished, a stop, a backchannel.

Silence alone cannot tell "我想问一下，" (the user is about to ask) from "明天北京天气怎么样？" (the
user has asked). These cheap rules read the transcript: a trailing comma, conjunction or preface
("and", "我想问一下") means more is coming; final punctuation or a question particle means done.
Pure functions over text, so each rule is a table test.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Final

from localvoice.text.script import is_cjk


class TurnEnd(Enum):
    COMPLETE = "complete"  # a finished sentence or question: answer as soon as the silence says so
    NEUTRAL = "neutral"  # nothing either way: the silence decides
    INCOMPLETE = "incomplete"  # the user is mid-thought: wait longer before answering


# Characters that carry no words: punctuation, spaces, symbols (kept apart from the words' scripts).
_TRIM: Final = " \t\r\n\"'“”‘’「」『』()（）[]【】…-—~～"
_FINAL_PUNCT: Final = "。！？!?．.；;"
_CONTINUING_PUNCT: Final = "，、,：:"

# Chinese endings that promise more: conjunctions, prefaces ("我想问一下"), fillers.
_ZH_UNFINISHED: Final = re.compile(
    r"(我想问(一下|你)?|问(你)?一下|请问(一下)?|我想知道|我想说|我想|我要|我觉得|你知道|问你个问题|"
    r"然后|还有|而且|但是|不过|可是|因为|所以|如果|或者|还是|就是|那个|这个|那么|比如|比如说|以及|和|跟|"
    r"的话|是不是|的|嗯|呃|啊那)$"
)
# Chinese endings that close a question or a request.
_ZH_FINISHED: Final = re.compile(r"(吗|呢|吧|么|嘛|呀|啊|怎么样|为什么|什么|多少|几点|谢谢|好了)$")
_EN_UNFINISHED: Final = frozenset(
    [
        "and",
        "but",
        "or",
        "so",
        "because",
        "then",
        "the",
        "a",
        "an",
        "to",
        "of",
        "with",
        "if",
        "um",
        "uh",
        "like",
        "when",
        "while",
        "which",
        "that",
        "who",
        "my",
        "your",
        "about",
        "for",
        "in",
        "on",
        "at",
        "is",
        "are",
        "was",
        "i",
    ]
)
_EN_PREFACES: Final = re.compile(
    r"(i (want|wanted|would like|'d like) to (ask|know)( you)?|i was wondering|can you tell me|"
    r"let me ask( you)?|tell me|wait|hold on|hmm|so)$"
)

# A whole utterance that only asks the assistant to stop talking.
_STOP_PHRASES: Final = frozenset(
    {
        "停",
        "停下",
        "停停",
        "停一下",
        "停停停",
        "别说了",
        "不要说了",
        "等一下",
        "等等",
        "等一等",
        "暂停",
        "安静",
        "闭嘴",
        "好了好了",
        "stop",
        "stopit",
        "stopstop",
        "wait",
        "waitwait",
        "waitasecond",
        "holdon",
        "pause",
        "quiet",
        "shutup",
        "okstop",
        "enough",
    }
)
# A whole utterance that only says "I'm listening": never a turn, never an interruption.
_BACKCHANNELS: Final = frozenset(
    {
        "嗯",
        "嗯嗯",
        "嗯哼",
        "啊",
        "哦",
        "噢",
        "喔",
        "唔",
        "对",
        "对对",
        "对对对",
        "是",
        "是的",
        "好",
        "好的",
        "行",
        "嗯好",
        "哈哈",
        "ok",
        "okay",
        "yes",
        "yeah",
        "yep",
        "right",
        "mhm",
        "mmhmm",
        "uhhuh",
        "hmm",
        "mm",
        "sure",
        "isee",
        "gotit",
        "cool",
        "nice",
        # Whisper's usual words for a short hum over speech ("嗯嗯" came back as "Thank you." and
        # "Oh, thank you."); said over a reply they are thanks, not a request to stop.
        "thankyou",
        "ohthankyou",
        "thanks",
        # ... and a lone "嗯" as a filler word (bench zh_backchannel, 15:43: "And", which then cut the
        # story and was answered). Alone, none of these asks anything.
        "and",
        "um",
        "uh",
        "uhm",
        "oh",
        "ah",
        "谢谢",
        "谢谢你",
    }
)


def _words_only(text: str) -> str:
    """Lower-case letters, digits and CJK characters only: how the phrase tables are written."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def is_stop_command(text: str) -> bool:
    """True when the whole utterance only asks the assistant to stop ("停一下。", "Stop!")."""
    return _words_only(text) in _STOP_PHRASES


def is_backchannel(text: str) -> bool:
    """True when the whole utterance is a listener's "嗯" / "ok": not a turn, not an interruption."""
    words = _words_only(text)
    return not words or words in _BACKCHANNELS


def turn_end(text: str) -> TurnEnd:
    """Whether ``text`` reads as a finished turn, judged by its last characters and words."""
    stripped = text.strip().strip(_TRIM)
    if not stripped:
        return TurnEnd.NEUTRAL
    last = stripped[-1]
    if last in _CONTINUING_PUNCT:
        return TurnEnd.INCOMPLETE
    body = stripped.rstrip(_FINAL_PUNCT).strip()
    if not body:
        return TurnEnd.NEUTRAL
    if is_cjk(body[-1]):
        if _ZH_UNFINISHED.search(body):
            return TurnEnd.INCOMPLETE
        if last in _FINAL_PUNCT or _ZH_FINISHED.search(body):
            return TurnEnd.COMPLETE
        return TurnEnd.NEUTRAL
    lowered = re.sub(r"\s+", " ", body.lower())
    final_word = lowered.rsplit(" ", 1)[-1]
    if final_word in _EN_UNFINISHED or _EN_PREFACES.search(lowered):
        return TurnEnd.INCOMPLETE
    if last in _FINAL_PUNCT:
        return TurnEnd.COMPLETE
    return TurnEnd.NEUTRAL


def join_fragments(first: str, second: str) -> str:
    """One user turn from two fragments: Chinese joins with "，" (or nothing after punctuation),
    other text with a space."""
    first, second = first.strip(), second.strip()
    if not first or not second:
        return first or second
    if is_cjk(first[-1]) and (is_cjk(second[0]) or not second[0].isascii()):
        return first + "，" + second
    if is_cjk(second[0]) and first[-1] in "，。！？、；：":
        return first + second
    if first[-1] in "，。！？、；：":
        return first + second
    return first + " " + second
