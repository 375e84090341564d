"""The current local date, weekday and time, said in one line the model reads with each turn.

A chat model has no clock: asked "现在几点了" it invents an hour. The conversation appends this line
to the system prompt of every request, read fresh from the wall clock each turn (a session can run
past midnight), in the system prompt's language. The Chinese form is the one Chinese speakers and
broadcasts use ("现在是2026年12月3日 星期四 上午8点25分（北京时间）"); the 24-hour reading follows in
brackets, so neither the model nor the user has to guess which 8 o'clock is meant.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from localvoice.config import LLMConfig
from localvoice.errors import ConfigError
from localvoice.text.script import dominant_language

WallClock = Callable[[], datetime]  # an aware datetime: the current instant

_ZH_WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
_EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_BEIJING_OFFSET = timedelta(hours=8)


def system_now() -> datetime:
    return datetime.now(UTC)


class TimeTeller:
    """Called once per turn: the line that tells the model the current local time."""

    def __init__(self, timezone: str = "", chinese: bool = True, wall_clock: WallClock = system_now) -> None:
        """``timezone``: an IANA name (``Asia/Shanghai``); empty for the system's local time zone."""
        self._zone = _zone(timezone)
        self._chinese = chinese
        self._wall_clock = wall_clock

    def __call__(self) -> str:
        local = self._wall_clock().astimezone(self._zone)  # None: the system's local zone
        return zh_now_line(local) if self._chinese else en_now_line(local)


def time_teller(llm: LLMConfig, wall_clock: WallClock = system_now) -> TimeTeller | None:
    """The teller for ``[llm]`` (None when ``llm.tell_time`` is off); Chinese unless the prompt is English."""
    if not llm.tell_time:
        return None
    chinese = dominant_language(llm.system) == "zh"
    return TimeTeller(llm.timezone, chinese=chinese, wall_clock=wall_clock)


def zh_now_line(local: datetime) -> str:
    """``现在是2026年12月3日 星期四 下午2点05分（14:05，北京时间）。…``"""
    hour = local.hour % 12 or 12
    minute = f"{local.minute:02d}分" if local.minute else "整"
    date = f"{local.year}年{local.month}月{local.day}日 {_ZH_WEEKDAYS[local.weekday()]}"
    clock = f"{_zh_period(local.hour)}{hour}点{minute}"
    return (
        f"现在是{date} {clock}（{local:%H:%M}，{_zone_label(local, chinese=True)}）。"
        "回答时间、日期和星期的问题时以此为准。"
    )


def en_now_line(local: datetime) -> str:
    """``It is now Thursday, December 3, 2026, 2:05 PM (14:05, UTC+8). …``"""
    hour = local.hour % 12 or 12
    half = "AM" if local.hour < 12 else "PM"
    date = f"{_EN_WEEKDAYS[local.weekday()]}, {_EN_MONTHS[local.month - 1]} {local.day}, {local.year}"
    return (
        f"It is now {date}, {hour}:{local.minute:02d} {half} ({local:%H:%M}, "
        f"{_zone_label(local, chinese=False)}). Answer questions about the time, date and weekday from this."
    )


def _zh_period(hour: int) -> str:
    if hour < 6:
        return "凌晨"
    if hour < 12:
        return "上午"
    if hour < 13:
        return "中午"
    if hour < 18:
        return "下午"
    return "晚上"


def _zone_label(local: datetime, chinese: bool) -> str:
    offset = local.utcoffset() or timedelta(0)
    if chinese and offset == _BEIJING_OFFSET:
        return "北京时间"
    if not offset:
        return "UTC"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    hours, rest = divmod(minutes, 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def _zone(name: str) -> tzinfo | None:
    name = name.strip()
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"llm.timezone {name!r} is not a time zone name; use an IANA name such as Asia/Shanghai "
            "or Europe/Paris, or leave it empty for this computer's time zone"
        ) from None
