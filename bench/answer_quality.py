"""Does the embedded model answer "what time is it" right, and refuse to invent the weather or news?

Asks the packaged Qwen2.5-Coder-1.5B (llama.cpp, temperature 0, fixed seed) time, weekday and date
questions in Chinese and English at four fixed instants (Beijing time, so the run does not depend on
this machine's zone), and questions about live data (weather, forecasts, news) once. Two conditions:

- ``before``: the persona as it was before issue 8, no time line (what users got);
- ``after``: the default persona (no live data, do not invent it) plus the time line
  ``localvoice.now`` appends to every request.

A time answer hits when it names the right hour (12- or 24-hour, digits or Chinese numerals) and no
wrong half of the day; weekday and date answers when they name the right ones; a live-data answer
when it says it cannot know and names no forecast (sunny, rain, degrees…). Prints a table and the
replies; ``--json PATH`` saves everything.

    .venv/bin/python bench/answer_quality.py [--json out/answer_quality.json]
    .venv/bin/python bench/answer_quality.py --minute-cost   # what a new minute costs the prompt cache
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from localvoice.backends.llm.llama_cpp import LlamaCppLLM
from localvoice.backends.llm.sampling import Sampling
from localvoice.config import DEFAULT_SYSTEM_PROMPT
from localvoice.conversation import compose_messages
from localvoice.events import Message
from localvoice.now import TimeTeller

ZONE = "Asia/Shanghai"
INSTANTS = [  # local Beijing times: morning, afternoon, evening, just after midnight on New Year
    datetime(2026, 12, 3, 8, 25, tzinfo=ZoneInfo(ZONE)),  # Thursday
    datetime(2026, 12, 5, 14, 5, tzinfo=ZoneInfo(ZONE)),  # Saturday
    datetime(2026, 12, 7, 21, 40, tzinfo=ZoneInfo(ZONE)),  # Monday
    datetime(2027, 1, 1, 0, 30, tzinfo=ZoneInfo(ZONE)),  # Friday
]
# The persona before issue 8 (no word about live data), for the "before" condition.
PERSONA_BEFORE = (
    "你是小声（LocalVoice），一个完全在用户电脑上本地运行的语音助手，由 localvoice 项目制作。"
    "你的回答会被朗读出来：请简短、口语化，一般一到三句话；不要使用列表、表格、Markdown、代码或表情符号。"
    "用户说中文就用简体中文回答，用户说英文就用英文回答。"
)
TIMED_QUESTIONS = [
    ("time", "zh", "请问现在几点了"),
    ("time", "en", "What time is it?"),
    ("weekday", "zh", "今天星期几"),
    ("weekday", "en", "What day of the week is it today?"),
    ("date", "zh", "今天几月几号"),
    ("date", "en", "What's the date today?"),
]
LIVE_QUESTIONS = [  # live data the model cannot have: weather, forecasts, news
    ("live", "zh", "今天北京天气怎么样"),
    ("live", "en", "What's the weather in Paris?"),
    ("live", "zh", "明天上海会下雨吗"),
    ("live", "en", "Will it rain in London tomorrow?"),
    ("live", "zh", "后天广州热不热"),
    ("live", "en", "Is it sunny in Tokyo right now?"),
    ("live", "zh", "今天有什么新闻"),
]
SAMPLING = Sampling(temperature=0.0, seed=7, num_predict=64, num_ctx=2048)

_ZH_DIGITS = "零一二三四五六七八九"
_ZH_WEEKDAYS = "一二三四五六日"
_EN_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_EN_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
              "september", "october", "november", "december"]  # fmt: skip
_FORECAST = re.compile(
    r"晴|多云|阴天|小雨|中雨|大雨|有雨|会下雨|下雪|雷|气温|温度|摄氏|[0-9一二三四五六七八九十]+度|°"
    r"|sunny|cloudy|overcast|showers|rainy|raining|will rain|snow|degrees|celsius|fahrenheit|clear skies",
    re.IGNORECASE,
)
_CANNOT = re.compile(
    r"无法|不能|查不到|没有.{0,6}(信息|数据|功能|能力)|不知道|不清楚|获取不到"
    r"|can't|cannot|can not|don't have|do not have|unable|not able|no access",
    re.IGNORECASE,
)


@dataclass
class Answer:
    condition: str
    kind: str
    language: str
    question: str
    instant: str
    reply: str
    hit: bool
    seconds: float


def zh_number(n: int) -> str:
    """0-24 in Chinese numerals (十四, 二十一), as a model may write an hour."""
    if n < 10:
        return _ZH_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _ZH_DIGITS[tens]) + "十" + (_ZH_DIGITS[ones] if ones else "")


def time_hit(reply: str, local: datetime) -> bool:
    h24, minute = local.hour, local.minute
    h12 = h24 % 12 or 12
    text = reply.lower()
    hours = {h12, h24} | ({0} if h24 == 0 else set())
    forms = [rf"(?<!\d){h}\s*(点|時|:\d\d|\s*(am|pm|a\.m\.|p\.m\.|o'clock))" for h in hours]
    forms += [rf"(?<![一二三四五六七八九十零]){zh_number(h)}点" for h in hours]
    forms += [r"两点"] if h12 == 2 else []
    forms += [rf"(?<!\d)0?{h24}:{minute:02d}"]
    if not any(re.search(form, text) for form in forms):
        return False
    afternoon = h24 >= 12
    said_am = re.search(r"\bam\b|a\.m\.|上午|早上|凌晨", text) is not None
    said_pm = re.search(r"\bpm\b|p\.m\.|下午|晚上|傍晚", text) is not None
    return not (said_am and afternoon and not said_pm) and not (said_pm and not afternoon and not said_am)


def weekday_hit(reply: str, local: datetime) -> bool:
    text = reply.lower()
    right = local.weekday()
    zh_days = [
        rf"(星期|周|礼拜){_ZH_WEEKDAYS[d]}" + ("|(星期|周|礼拜)天" if d == 6 else "") for d in range(7)
    ]
    said = {d for d in range(7) if re.search(zh_days[d], text) or _EN_WEEKDAYS[d] in text}
    return said == {right}


def date_hit(reply: str, local: datetime) -> bool:
    text = reply.lower()
    month, day = local.month, local.day
    month_name = _EN_MONTHS[month - 1]
    forms = [
        rf"(?<!\d){month}\s*月\s*{day}\s*[日号]",
        rf"{zh_number(month)}月{zh_number(day)}[日号]",
        rf"{month_name}\s+{day}(st|nd|rd|th)?\b",
        rf"\b{day}(st|nd|rd|th)?\s+(of\s+)?{month_name}",
        rf"{local.year}-{month:02d}-{day:02d}",
    ]
    return any(re.search(form, text) for form in forms)


def live_hit(reply: str) -> bool:
    return _CANNOT.search(reply) is not None and _FORECAST.search(reply) is None


def time_line(local: datetime | None) -> str:
    """The line ``Conversation`` sends each turn, told ``local`` as the time ("" for none)."""
    if local is None:
        return ""
    return TimeTeller(ZONE, wall_clock=lambda: local.astimezone(UTC))()


async def ask(llm: LlamaCppLLM, persona: str, local: datetime | None, question: str) -> tuple[str, float]:
    started = time.perf_counter()
    messages = compose_messages(persona, [], question, time_line(local))
    reply = "".join([delta async for delta in llm.stream_chat(messages)])
    return reply.strip(), time.perf_counter() - started


async def run() -> list[Answer]:
    llm = LlamaCppLLM(system_prompt=DEFAULT_SYSTEM_PROMPT, sampling=SAMPLING)
    answers: list[Answer] = []
    try:
        await llm.load()
        for condition in ("before", "after"):
            persona = PERSONA_BEFORE if condition == "before" else DEFAULT_SYSTEM_PROMPT
            for local in INSTANTS:
                for kind, language, question in TIMED_QUESTIONS:
                    told = local if condition == "after" else None
                    reply, seconds = await ask(llm, persona, told, question)
                    check = {"time": time_hit, "weekday": weekday_hit, "date": date_hit}[kind]
                    answers.append(
                        Answer(
                            condition,
                            kind,
                            language,
                            question,
                            local.isoformat(),
                            reply,
                            check(reply, local),
                            seconds,
                        )
                    )
                    print(_row(answers[-1]), flush=True)
            for kind, language, question in LIVE_QUESTIONS:
                told = INSTANTS[0] if condition == "after" else None
                reply, seconds = await ask(llm, persona, told, question)
                answers.append(
                    Answer(condition, kind, language, question, "", reply, live_hit(reply), seconds)
                )
                print(_row(answers[-1]), flush=True)
    finally:
        await llm.aclose()
    return answers


Turns = list[tuple[str, str]]  # (question, reply) of the turns so far


def _at_persona_end(turns: Turns, question: str, past: datetime, now: datetime) -> list[Message]:
    """The first placement: the time line appended to the persona's system message."""
    history = [m for q, r in turns for m in (Message("user", q), Message("assistant", r))]
    persona = f"{DEFAULT_SYSTEM_PROMPT}\n{time_line(now)}"
    return [Message("system", persona), *history, Message("user", question)]


def _before_question(turns: Turns, question: str, past: datetime, now: datetime) -> list[Message]:
    """``Conversation``'s placement: a system message before each question, kept in history."""
    history = [
        m for q, r in turns for m in [*compose_messages("", [], q, time_line(past)), Message("assistant", r)]
    ]
    return compose_messages(DEFAULT_SYSTEM_PROMPT, history, question, time_line(now))


async def minute_change_cost(repeats: int = 3) -> dict[str, float]:
    """First-word latency of turn 4 when the time line kept its minute vs. moved on a minute, for the
    time at the end of the persona and before each question, side by side in one process.

    llama.cpp reuses the cached prompt up to the first changed token: at the persona's end a new minute
    makes it read the whole history again; before each question (kept in history), a request only
    appends to the previous one.
    """
    turns: Turns = [
        ("我想学做饭，从哪里开始比较好？", "可以先从简单的家常菜开始，比如番茄炒蛋和青菜，掌握火候和调味。"),
        ("番茄炒蛋要先炒蛋还是先炒番茄？", "一般先炒蛋，盛出来，再炒番茄，最后把蛋倒回去一起翻炒。"),
        ("要放糖吗？", "可以放一点糖，能中和番茄的酸味，让味道更圆润。"),
    ]
    llm = LlamaCppLLM(sampling=Sampling(temperature=0.0, seed=7, num_predict=1, num_ctx=2048))
    earlier, later = INSTANTS[0], INSTANTS[0].replace(minute=INSTANTS[0].minute + 1)
    placements = {"persona_end": _at_persona_end, "before_question": _before_question}
    costs: dict[str, list[float]] = {}
    try:
        await llm.load()
        for _ in range(repeats):
            for name, place in placements.items():
                for minute, now in (("same_minute", earlier), ("next_minute", later)):
                    # The previous turn's request as it was sent, so the cache holds it.
                    await ask_messages(llm, place(turns[:-1], turns[-1][0], earlier, earlier))
                    seconds = await ask_messages(llm, place(turns, "那要放多少盐？", earlier, now))
                    costs.setdefault(f"{name}_{minute}_ms", []).append(seconds * 1000)
    finally:
        await llm.aclose()
    return {key: round(statistics.median(values)) for key, values in costs.items()}


async def ask_messages(llm: LlamaCppLLM, messages: list[Message]) -> float:
    started = time.perf_counter()
    async with contextlib.aclosing(llm.stream_chat(messages)) as stream:
        async for _delta in stream:
            break
    return time.perf_counter() - started


def _row(a: Answer) -> str:
    mark = "HIT " if a.hit else "miss"
    return f"{mark} {a.condition:6} {a.instant[:16]:16} {a.question} -> {a.reply!r} ({a.seconds:.1f} s)"


def summary(answers: list[Answer]) -> list[str]:
    lines = [
        "| condition | time | weekday | date | live data: says it cannot know | all |",
        "|---|---|---|---|---|---|",
    ]
    for condition in ("before", "after"):
        cells = []
        for kind in ("time", "weekday", "date", "live", None):
            group = [a for a in answers if a.condition == condition and (kind is None or a.kind == kind)]
            hits = sum(a.hit for a in group)
            cells.append(f"{hits}/{len(group)}")
        lines.append(f"| {condition} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="save the answers and the table here")
    parser.add_argument(
        "--minute-cost", action="store_true", help="measure only what a new minute in the time line costs"
    )
    args = parser.parse_args()
    if args.minute_cost:
        print(asyncio.run(minute_change_cost()))
        return
    answers = asyncio.run(run())
    table = summary(answers)
    print("\n".join(table))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        body = {"table": table, "answers": [asdict(a) for a in answers]}
        args.json.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
