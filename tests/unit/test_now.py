"""The "now" line: local date, weekday and time in the system prompt's language, fresh each call."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from localvoice.config import LLMConfig
from localvoice.errors import ConfigError
from localvoice.now import TimeTeller, en_now_line, time_teller, zh_now_line

# Thursday 3 December 2026, 00:25 UTC = 08:25 in Beijing.
INSTANT = datetime(2026, 12, 3, 0, 25, tzinfo=UTC)


def at(hour: int, minute: int) -> datetime:
    return datetime(2026, 12, 3, hour, minute, tzinfo=UTC)


@pytest.fixture
def system_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run with the system time zone set to America/New_York (TZ), restored afterwards."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_chinese_line_names_date_weekday_period_hour_minute_and_beijing_time() -> None:
    line = TimeTeller("Asia/Shanghai", chinese=True, wall_clock=lambda: INSTANT)()
    assert line.startswith("现在是2026年12月3日 星期四 上午8点25分（08:25，北京时间）。")


@pytest.mark.parametrize(
    ("hour", "minute", "said"),
    [
        (0, 5, "凌晨12点05分（00:05"),
        (5, 59, "凌晨5点59分（05:59"),
        (12, 0, "中午12点整（12:00"),
        (14, 0, "下午2点整（14:00"),
        (17, 30, "下午5点30分（17:30"),
        (23, 1, "晚上11点01分（23:01"),
    ],
)
def test_chinese_periods_of_the_day(hour: int, minute: int, said: str) -> None:
    assert said in zh_now_line(at(hour, minute))


def test_english_line_and_a_zone_without_a_chinese_name() -> None:
    line = TimeTeller("Europe/Paris", chinese=False, wall_clock=lambda: INSTANT)()
    assert line.startswith("It is now Thursday, December 3, 2026, 1:25 AM (01:25, UTC+1).")
    assert "(13:05, UTC)" in en_now_line(at(13, 5))
    assert "UTC+5:30" in TimeTeller("Asia/Kolkata", chinese=True, wall_clock=lambda: INSTANT)()


def test_the_date_changes_with_the_zone() -> None:
    # 00:25 UTC on Thursday is still Wednesday evening in New York.
    line = TimeTeller("America/New_York", chinese=True, wall_clock=lambda: INSTANT)()
    assert "2026年12月2日 星期三 晚上7点25分（19:25，UTC-5）" in line


def test_empty_timezone_follows_the_system_time_zone(system_zone: None) -> None:
    line = TimeTeller("", chinese=False, wall_clock=lambda: INSTANT)()
    assert "Wednesday, December 2, 2026, 7:25 PM (19:25, UTC-5)" in line


def test_each_call_reads_the_clock_again() -> None:
    now = [INSTANT]
    teller = TimeTeller("Asia/Shanghai", wall_clock=lambda: now[0])
    first = teller()
    now[0] = at(0, 26)
    assert first != teller() and "8点26分" in teller()


def test_an_unknown_time_zone_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"llm\.timezone 'Mars/Olympus'.*Asia/Shanghai"):
        TimeTeller("Mars/Olympus")


def test_time_teller_follows_the_config() -> None:
    config = LLMConfig(timezone="Asia/Shanghai")
    teller = time_teller(config, wall_clock=lambda: INSTANT)
    assert teller is not None and teller().startswith("现在是")  # the default persona is Chinese

    config.system = "You are a helpful voice assistant. Answer briefly."
    teller = time_teller(config, wall_clock=lambda: INSTANT)
    assert teller is not None and teller().startswith("It is now")

    config.tell_time = False
    assert time_teller(config) is None


def test_the_default_persona_refuses_to_invent_live_data() -> None:
    persona = LLMConfig().system
    assert "天气" in persona and "新闻" in persona and "不要编造" in persona
