"""Spell out numbers the way a speaker would say them, so TTS never guesses ("2024年" → 二零二四年).

``verbalize(text, lang)`` rewrites, in this order: dates, times and ratios, phone-like digit strings,
version numbers, currencies, ranges, percentages, units, fractions, ordinals, years, then every
remaining number (with sign, thousands separators and decimals). Chinese readings of integers and
decimals come from ``cn2an``; English words from ``num2words``. In a Chinese clause English words are
left alone and only the digits change.

Chinese 二 or 两: 两 for an integer 2 counted with a measure word (两个, 两天, 两点 for time, 两公里)
and as the leading digit before 百/千/万/亿 (两千五百); 二 everywhere else (十二, 第二, 二月, 二点五,
digit-by-digit readings, 二摄氏度).

Digit-by-digit: a group of 9 or more digits, a number with a leading zero (007, 0755), and phone-like
groups joined by hyphens (010-12345678, 138-0013-8000, +86 138 0013 8000). A 4-digit number before
年 (Chinese) or after "in/since/from/…" (English) is read as a year.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

import cn2an
from num2words import num2words  # type: ignore[import-untyped]

from localvoice.text.script import Lang

# Patterns that look at word characters next to a number use re.ASCII: a Chinese character right
# before or after a number ("电话13800138000", "共3-5个") must not count as part of a word.
# A number: digits, optional thousands groups (1,000 but not 1,2,3), optional decimals.
_NUM: Final = r"\d+(?:,\d{3}(?!\d))*(?:\.\d+)?"
# A minus sign only when it does not join two words or numbers ("GPT-4", "5-3" have none); a number
# may follow letters ("H100", "Qwen2.5"), but never starts inside another number.
_SIGNED: Final = rf"(?:(?<![A-Za-z0-9_.])-)?(?<![\d.]){_NUM}"

_FULLWIDTH: Final = str.maketrans("０１２３４５６７８９％．", "0123456789%.")
_ZH_DIGITS: Final = "零一二三四五六七八九"
_EN_DIGITS: Final = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_MONTHS: Final = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
_MONTH_PATTERN: Final = (
    r"(Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)

# Measure words after which an integer 2 is read 两.
_ZH_MEASURE_TEXT: Final = (
    "个 位 名 人 口 次 回 遍 趟 下 声 天 周 星期 年 岁 小时 钟头 分钟 秒钟 秒 件 条 只 本 张 台 辆 "
    "架 艘 块 元 角 毛 倍 斤 公斤 千克 克 公里 千米 米 厘米 毫米 升 毫升 吨 层 家 种 样 杯 碗 份 "
    "道 句 段 章 节 课 篇 首 部 集 季 座 间 所 栋 套 双 对 颗 棵 朵 头 匹 根 支 把 片 瓶 盒 袋 包 "
    "箱 亩 项 步 组 批 轮 场 局 届 款 门 页 行 点 万 千 百 亿"
)
_ZH_MEASURES: Final = sorted(_ZH_MEASURE_TEXT.split(), key=len, reverse=True)
_ZH_MEASURE_AFTER: Final = re.compile(r"\s*(?:" + "|".join(_ZH_MEASURES) + ")(?!级)")  # 二年级
_ZH_CURRENCY: Final = {"¥": "元", "￥": "元", "$": "美元", "€": "欧元", "£": "英镑"}
_EN_CURRENCY: Final = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
}

# (symbol, Chinese reading, English singular, English plural, 2 is read 两, needs no space before it)
_UNITS: Final = (
    ("km/h", "公里每小时", "kilometer per hour", "kilometers per hour", True, False),
    ("m/s", "米每秒", "meter per second", "meters per second", True, False),
    ("km²", "平方公里", "square kilometer", "square kilometers", True, False),
    ("m²", "平方米", "square meter", "square meters", True, False),
    ("cm²", "平方厘米", "square centimeter", "square centimeters", True, False),
    ("m³", "立方米", "cubic meter", "cubic meters", True, False),
    ("°C", "摄氏度", "degree Celsius", "degrees Celsius", False, False),
    ("℃", "摄氏度", "degree Celsius", "degrees Celsius", False, False),
    ("°F", "华氏度", "degree Fahrenheit", "degrees Fahrenheit", False, False),
    ("℉", "华氏度", "degree Fahrenheit", "degrees Fahrenheit", False, False),
    ("°", "度", "degree", "degrees", False, False),
    ("km", "公里", "kilometer", "kilometers", True, False),
    ("cm", "厘米", "centimeter", "centimeters", True, False),
    ("mm", "毫米", "millimeter", "millimeters", True, False),
    ("kg", "公斤", "kilogram", "kilograms", True, False),
    ("mg", "毫克", "milligram", "milligrams", True, False),
    ("ml", "毫升", "milliliter", "milliliters", True, False),
    ("mL", "毫升", "milliliter", "milliliters", True, False),
    ("TB", "太字节", "terabyte", "terabytes", True, False),
    ("GB", "吉字节", "gigabyte", "gigabytes", True, False),
    ("MB", "兆字节", "megabyte", "megabytes", True, False),
    ("KB", "千字节", "kilobyte", "kilobytes", True, False),
    ("kB", "千字节", "kilobyte", "kilobytes", True, False),
    ("GHz", "吉赫兹", "gigahertz", "gigahertz", True, False),
    ("MHz", "兆赫兹", "megahertz", "megahertz", True, False),
    ("kHz", "千赫兹", "kilohertz", "kilohertz", True, False),
    ("Hz", "赫兹", "hertz", "hertz", True, False),
    ("kWh", "千瓦时", "kilowatt hour", "kilowatt hours", True, False),
    ("kW", "千瓦", "kilowatt", "kilowatts", True, False),
    ("mAh", "毫安时", "milliamp hour", "milliamp hours", True, False),
    ("ms", "毫秒", "millisecond", "milliseconds", True, False),
    ("min", "分钟", "minute", "minutes", True, False),
    ("m", "米", "meter", "meters", True, True),
    ("g", "克", "gram", "grams", True, True),
    ("L", "升", "liter", "liters", True, True),
    ("W", "瓦", "watt", "watts", True, True),
    ("V", "伏", "volt", "volts", True, True),
    ("h", "小时", "hour", "hours", True, True),
)
_UNIT_INFO: Final = {unit[0]: unit for unit in _UNITS}
_UNIT_PATTERN: Final = re.compile(
    rf"({_SIGNED})(\s?)(" + "|".join(re.escape(unit[0]) for unit in _UNITS) + r")(?![A-Za-z0-9²³/])"
)

_ISO_DATE: Final = re.compile(r"(?<![\d.])(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?![\d.])")
_TIME: Final = re.compile(
    r"(?<![\d:])([01]?\d|2[0-4]):([0-5]\d)(?::([0-5]\d))?(?![\d:])(?:\s*([AaPp])\.?[Mm]\.?(?![A-Za-z]))?"
)
_RATIO: Final = re.compile(r"(?<![\d:.])(\d+):(\d+)(?![\d:])")
_PHONE: Final = re.compile(
    r"(?<![\w.,+-])(\+\d{1,3}[ -]?)?(\d{2,4}(?:-\d{3,8}){1,3}|1\d\d \d{4} \d{4})(?![\w.,-])",
    re.ASCII,
)
_LONG_DIGITS: Final = re.compile(r"(?<![\w.,])(?:0\d+|\d{9,})(?![\d,]|\.\d)", re.ASCII)
_VERSION: Final = re.compile(r"(?<![\w.])\d+(?:\.\d+){2,}(?![\w.])", re.ASCII)
_RANGE: Final = re.compile(rf"(?<![\w.-])({_NUM})(%?)\s?[-~～–—]\s?({_NUM})(%?)(?!\s*[=\d])", re.ASCII)
_PERCENT: Final = re.compile(rf"({_SIGNED})\s?%")
_FRACTION: Final = re.compile(r"(?<![\w./])(\d{1,3})/(\d{1,3})(?![\w/])", re.ASCII)
_NUMBER: Final = re.compile(_SIGNED)


def verbalize(text: str, lang: Lang) -> str:
    """Return ``text`` with its numbers, dates, times, currencies and units spelled out in ``lang``."""
    text = text.translate(_FULLWIDTH)
    rules = _ZH_RULES if lang == "zh" else _EN_RULES
    for pattern, replace in rules:
        text = pattern.sub(replace, text)
    return text


# ---------------------------------------------------------------- shared helpers


def _plain(number: str) -> str:
    return number.replace(",", "")


def _is_integer(number: str) -> bool:
    return "." not in number


# ---------------------------------------------------------------- Chinese


def _zh_digits(digits: str) -> str:
    return "".join(_ZH_DIGITS[int(d)] if d.isdigit() else "" for d in digits)


def _zh_number(number: str, counted: bool = False) -> str:
    """Chinese reading of a signed number; ``counted``: a measure word follows (2 → 两)."""
    number = _plain(number)
    sign = ""
    if number.startswith("-"):
        sign, number = "负", number[1:]
    integer = number.split(".")[0]
    if (len(integer) > 1 and integer.startswith("0")) or len(integer) > 16:
        # 007, or too long for cn2an: digit by digit.
        decimals = number.partition(".")[2]
        return sign + _zh_digits(integer) + ("点" + _zh_digits(decimals) if decimals else "")
    reading = str(cn2an.an2cn(number, "low"))
    if _is_integer(number):
        if counted and number == "2":
            reading = "两"
        elif reading[:2] in ("二百", "二千", "二万", "二亿"):
            reading = "两" + reading[1:]
    return sign + reading


def _zh_iso_date(m: re.Match[str]) -> str:
    year, month, day = m.group(1), int(m.group(2)), int(m.group(3))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group(0)
    return f"{_zh_digits(year)}年{_zh_number(str(month))}月{_zh_number(str(day))}日"


def _zh_year(m: re.Match[str]) -> str:
    return _zh_digits(m.group(1)) + m.group(2)


def _zh_time(m: re.Match[str]) -> str:
    hour, minute, second, half = m.group(1), m.group(2), m.group(3), m.group(4)
    words = "下午" if half and half.lower() == "p" and int(hour) <= 12 else "上午" if half else ""
    words += ("两" if int(hour) == 2 else _zh_number(str(int(hour)))) + "点"
    if minute == "00" and not second:
        return words + "整"
    words += _zh_minutes(minute) + "分"
    if second:
        words += _zh_minutes(second) + "秒"
    return words


def _zh_minutes(value: str) -> str:
    return ("零" if value.startswith("0") and value != "00" else "") + _zh_number(str(int(value)))


def _zh_ratio(m: re.Match[str]) -> str:
    return f"{_zh_number(m.group(1))}比{_zh_number(m.group(2))}"


def _looks_like_phone(m: re.Match[str]) -> bool:
    """Hyphenated groups are a phone number with a country code, a leading 0 or 10+ digits; else a
    range or a sum ("100-200", "2020-2024")."""
    digits = re.sub(r"\D", "", m.group(2))
    return bool(m.group(1)) or digits.startswith("0") or len(digits) >= 10


def _zh_phone(m: re.Match[str]) -> str:
    if not _looks_like_phone(m):
        return m.group(0)
    prefix = m.group(1) or ""
    spoken = ("加" + _zh_digits(prefix) + "，") if prefix else ""
    return spoken + "，".join(_zh_digits(group) for group in re.split(r"[ -]", m.group(2)))


def _zh_long_digits(m: re.Match[str]) -> str:
    return _zh_digits(m.group(0))


def _zh_version(m: re.Match[str]) -> str:
    # Version parts are numbers (三点十点二), IP address parts digits (一九二点一六八).
    return "点".join(
        _zh_number(part) if len(part) <= 2 else _zh_digits(part) for part in m.group(0).split(".")
    )


def _zh_currency(m: re.Match[str]) -> str:
    sign = "负" if m.group(1) else ""
    return sign + _zh_number(m.group(3), counted=True) + _ZH_CURRENCY[m.group(2)]


def _zh_year_range(m: re.Match[str]) -> str:
    return f"{_zh_digits(m.group(1))}到{_zh_digits(m.group(2))}年"


def _range_to_words(word: str, percent_on_both: bool) -> Callable[[re.Match[str]], str]:
    """ "3-5个" → "3到5个", "10-20%" → "10%到20%" (zh) or "10 to 20%" (en): later rules read the numbers."""

    def replace(m: re.Match[str]) -> str:
        percent = m.group(2) or m.group(4)
        first = percent if percent_on_both else ""
        return f"{m.group(1)}{first}{word}{m.group(3)}{percent}"

    return replace


def _zh_percent(m: re.Match[str]) -> str:
    number = _plain(m.group(1))
    sign = "负" if number.startswith("-") else ""
    return sign + "百分之" + _zh_number(number.lstrip("-"))


def _zh_unit(m: re.Match[str]) -> str:
    number, space, symbol = m.group(1), m.group(2), m.group(3)
    _, reading, _, _, counted, tight = _UNIT_INFO[symbol]
    if tight and space:
        return m.group(0)
    if reading.endswith("氏度") and number.startswith("-"):
        return "零下" + _zh_number(number[1:]) + reading
    return _zh_number(number, counted=counted) + reading


def _zh_below_zero(m: re.Match[str]) -> str:
    return "零下" + _zh_number(m.group(1))


def _zh_fraction(m: re.Match[str]) -> str:
    return f"{_zh_number(m.group(2))}分之{_zh_number(m.group(1))}"


def _zh_any_number(m: re.Match[str]) -> str:
    number = m.group(0)
    before = m.string[: m.start()]
    after = m.string[m.end() :]
    counted = not before.endswith("第") and _ZH_MEASURE_AFTER.match(after) is not None
    return _zh_number(number, counted=counted)


_ZH_RULES: Final[tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...]] = (
    (_ISO_DATE, _zh_iso_date),
    (re.compile(r"(?<![\d.])(\d{4})\s?[-~～–—到至]\s?(\d{4})年"), _zh_year_range),
    (re.compile(r"(?<![\d.])(\d{4})(年)"), _zh_year),
    (_TIME, _zh_time),
    (_RATIO, _zh_ratio),
    (_PHONE, _zh_phone),
    (_LONG_DIGITS, _zh_long_digits),
    (_VERSION, _zh_version),
    (re.compile(rf"(-)?([¥￥$€£])\s?({_NUM})"), _zh_currency),
    (_RANGE, _range_to_words("到", percent_on_both=True)),
    (_PERCENT, _zh_percent),
    (_UNIT_PATTERN, _zh_unit),
    (re.compile(rf"-({_NUM})(?=\s?度)"), _zh_below_zero),
    (_FRACTION, _zh_fraction),
    (_NUMBER, _zh_any_number),
)


# ---------------------------------------------------------------- English


def _en_words(value: int | str) -> str:
    # num2words writes British "one hundred and one" with commas; commas would add pauses.
    return str(num2words(int(value))).replace(",", "")


def _en_digits(digits: str) -> str:
    return " ".join(_EN_DIGITS[int(d)] for d in digits if d.isdigit())


def _en_number(number: str) -> str:
    number = _plain(number)
    sign = ""
    if number.startswith("-"):
        sign, number = "minus ", number[1:]
    integer, _, decimals = number.partition(".")
    if (len(integer) > 1 and integer.startswith("0")) or len(integer) > 21:
        words = _en_digits(integer)
    else:
        words = _en_words(integer)
    if decimals:
        words += " point " + _en_digits(decimals)
    return sign + words


def _en_year(year: str) -> str:
    return str(num2words(int(year), to="year")).replace(",", "")


def _en_ordinal(value: int) -> str:
    return str(num2words(value, to="ordinal")).replace(",", "")


def _en_date(month_index: int, day: int, year: str | None) -> str:
    words = f"{_MONTHS[month_index]} {_en_ordinal(day)}"
    return words + (f", {_en_year(year)}" if year else "")


def _month_index(name: str) -> int:
    return next(i for i, month in enumerate(_MONTHS) if month.lower().startswith(name.lower()[:3]))


def _en_iso_date(m: re.Match[str]) -> str:
    month, day = int(m.group(2)), int(m.group(3))
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return m.group(0)
    return _en_date(month - 1, day, m.group(1))


def _en_month_day(m: re.Match[str]) -> str:
    day = int(m.group(2))
    if not 1 <= day <= 31:
        return m.group(0)
    return _en_date(_month_index(m.group(1)), day, m.group(3))


def _en_day_month(m: re.Match[str]) -> str:
    day = int(m.group(1))
    if not 1 <= day <= 31:
        return m.group(0)
    words = f"the {_en_ordinal(day)} of {_MONTHS[_month_index(m.group(2))]}"
    return words + (f", {_en_year(m.group(3))}" if m.group(3) else "")


def _en_time(m: re.Match[str]) -> str:
    hour, minute, second, half = int(m.group(1)), m.group(2), m.group(3), m.group(4)
    suffix = f" {half.lower()} m" if half else ""
    if minute == "00" and not second:
        if half or hour <= 12:
            return f"{_en_words(hour)} o'clock" if not half else f"{_en_words(hour)}{suffix}"
        return f"{_en_words(hour)} hundred"
    words = f"{_en_words(hour)} {_en_minutes(minute)}"
    if second:
        words += f" and {_en_words(int(second))} seconds"
    return words + suffix


def _en_minutes(value: str) -> str:
    return ("oh " if value.startswith("0") else "") + _en_words(int(value))


def _en_ratio(m: re.Match[str]) -> str:
    return f"{_en_number(m.group(1))} to {_en_number(m.group(2))}"


def _en_phone(m: re.Match[str]) -> str:
    if not _looks_like_phone(m):
        return m.group(0)
    prefix = m.group(1) or ""
    spoken = ("plus " + _en_digits(prefix) + ", ") if prefix else ""
    return spoken + ", ".join(_en_digits(group) for group in re.split(r"[ -]", m.group(2)))


def _en_long_digits(m: re.Match[str]) -> str:
    return _en_digits(m.group(0))


def _en_version(m: re.Match[str]) -> str:
    return " point ".join(
        _en_number(part) if len(part) <= 2 else _en_digits(part) for part in m.group(0).split(".")
    )


def _en_currency(m: re.Match[str]) -> str:
    sign = "minus " if m.group(1) else ""
    symbol, number, scale = m.group(2), _plain(m.group(3)), m.group(4)
    if scale:
        return f"{sign}{_en_number(number)} {scale.strip()} " + (
            _EN_CURRENCY[symbol][1] if symbol in _EN_CURRENCY else "yuan"
        )
    if symbol not in _EN_CURRENCY:
        return f"{sign}{_en_number(number)} yuan"
    one, many, cent, cents = _EN_CURRENCY[symbol]
    whole, _, fraction = number.partition(".")
    main = f"{_en_words(whole)} {one if whole == '1' else many}"
    if not fraction or int(fraction) == 0:
        return sign + main
    fraction_value = int(fraction.ljust(2, "0")[:2])
    small = f"{_en_words(fraction_value)} {cent if fraction_value == 1 else cents}"
    return sign + (small if int(whole) == 0 else f"{main} and {small}")


def _en_yuan(m: re.Match[str]) -> str:
    return f"{_en_number(m.group(1))} yuan"


def _en_year_range(m: re.Match[str]) -> str:
    return f"{_en_year(m.group(1))} to {_en_year(m.group(2))}"


def _en_percent(m: re.Match[str]) -> str:
    return _en_number(m.group(1)) + " percent"


def _en_unit(m: re.Match[str]) -> str:
    number, space, symbol = m.group(1), m.group(2), m.group(3)
    _, _, one, many, _, tight = _UNIT_INFO[symbol]
    if tight and space:
        return m.group(0)
    return f"{_en_number(number)} {one if _plain(number) == '1' else many}"


_EN_DENOMINATORS: Final = {2: ("half", "halves"), 4: ("quarter", "quarters")}


def _en_fraction(m: re.Match[str]) -> str:
    numerator, denominator = int(m.group(1)), int(m.group(2))
    if denominator in _EN_DENOMINATORS:
        one, many = _EN_DENOMINATORS[denominator]
    elif denominator > 1:
        one = _en_ordinal(denominator)
        many = one + "s"
    else:
        return m.group(0)
    return f"{_en_words(numerator)} {one if numerator == 1 else many}"


def _en_suffix_ordinal(m: re.Match[str]) -> str:
    return _en_ordinal(int(m.group(1)))


def _en_context_year(m: re.Match[str]) -> str:
    year = int(m.group(2))
    if not 1100 <= year <= 2099:
        return m.group(0)
    return f"{m.group(1)}{_en_year(m.group(2))}"


def _en_decade(m: re.Match[str]) -> str:
    words = _en_year(m.group(1)) if len(m.group(1)) == 4 else _en_words(m.group(1))
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _en_any_number(m: re.Match[str]) -> str:
    # Keep words apart from letters they were glued to: "H100" → "H one hundred".
    before = " " if m.start() > 0 and m.string[m.start() - 1].isalpha() else ""
    after = " " if m.end() < len(m.string) and m.string[m.end()].isalpha() else ""
    return before + _en_number(m.group(0)) + after


_YEAR_WORDS: Final = r"in|since|by|from|until|till|to|of|year|around|before|after|during|circa|early|late"

_EN_RULES: Final[tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...]] = (
    (_ISO_DATE, _en_iso_date),
    (
        re.compile(rf"\b{_MONTH_PATTERN}\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?"),
        _en_month_day,
    ),
    (
        re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH_PATTERN}(?:,?\s+(\d{{4}})\b)?"),
        _en_day_month,
    ),
    (_TIME, _en_time),
    (_RATIO, _en_ratio),
    (re.compile(r"(?<![\d.])(1[1-9]\d\d|20\d\d)\s?[-–—]\s?(1[1-9]\d\d|20\d\d)(?![\d.])"), _en_year_range),
    (_PHONE, _en_phone),
    (_LONG_DIGITS, _en_long_digits),
    (_VERSION, _en_version),
    (
        re.compile(rf"(-)?([¥￥$€£])\s?({_NUM})(\s?(?:thousand|million|billion|trillion)\b)?", re.IGNORECASE),
        _en_currency,
    ),
    (re.compile(rf"({_SIGNED})\s?(?:元|块|RMB\b|CNY\b)"), _en_yuan),
    (_RANGE, _range_to_words(" to ", percent_on_both=False)),
    (_PERCENT, _en_percent),
    (_UNIT_PATTERN, _en_unit),
    (_FRACTION, _en_fraction),
    (re.compile(r"(?<![\w.])(\d+)(?:st|nd|rd|th)\b"), _en_suffix_ordinal),
    (re.compile(r"(?<![\w.'])'?(\d0|1[1-9]\d0|20\d0)s\b"), _en_decade),
    (re.compile(rf"(?i)\b((?:{_YEAR_WORDS})\s+)(\d{{4}})\b(?![.,]\d)"), _en_context_year),
    (_NUMBER, _en_any_number),
)
