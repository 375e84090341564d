from __future__ import annotations

import pytest

from localvoice.text.numbers import verbalize


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # plain numbers, decimals, signs, separators
        ("一共12本书", "一共十二本书"),
        ("3.14", "三点一四"),
        ("0.5", "零点五"),
        ("约1.5亿人", "约一点五亿人"),
        ("1,000,000元", "一百万元"),
        ("-3", "负三"),
        ("2500人", "两千五百人"),
        ("22000", "两万二千"),
        ("10", "十"),
        ("110", "一百一十"),
        # 二 or 两
        ("2个苹果", "两个苹果"),
        ("等了2 天", "等了两 天"),
        ("2公里", "两公里"),
        ("第2名", "第二名"),
        ("2月", "二月"),
        ("2号楼", "二号楼"),
        ("2年级", "二年级"),
        ("2.5个", "二点五个"),
        ("12个", "十二个"),
        # percentages
        ("涨了50%", "涨了百分之五十"),
        ("-5%", "负百分之五"),
        ("12.5％", "百分之十二点五"),
        ("10%-20%", "百分之十到百分之二十"),
        ("10-20%", "百分之十到百分之二十"),
        # dates and years
        ("2024年3月5日", "二零二四年三月五日"),
        ("2024-03-05", "二零二四年三月五日"),
        ("1990年代", "一九九零年代"),
        ("2020-2024年", "二零二零到二零二四年"),
        ("10年", "十年"),
        # times and ratios
        ("14:30", "十四点三十分"),
        ("9:05出发", "九点零五分出发"),
        ("2:00", "两点整"),
        ("下午2点", "下午两点"),
        ("2:30 PM", "下午两点三十分"),
        ("比分3:2", "比分三比二"),
        ("16:9的屏幕", "十六比九的屏幕"),
        # money
        ("¥29.95", "二十九点九五元"),
        ("29.95元", "二十九点九五元"),
        ("$5", "五美元"),
        ("$2", "两美元"),
        ("€20", "二十欧元"),
        # units
        ("5km", "五公里"),
        ("2kg", "两公斤"),
        ("25°C", "二十五摄氏度"),
        ("25℃", "二十五摄氏度"),
        ("-5℃", "零下五摄氏度"),
        ("气温-3度", "气温零下三度"),
        ("8GB内存", "八吉字节内存"),
        ("60km/h", "六十公里每小时"),
        ("100m²", "一百平方米"),
        ("30cm", "三十厘米"),
        # digits read one by one
        ("13800138000", "一三八零零一三八零零零"),
        ("138-0013-8000", "一三八，零零一三，八零零零"),
        ("010-12345678", "零一零，一二三四五六七八"),
        ("+86 138 0013 8000", "加八六，一三八，零零一三，八零零零"),
        ("007", "零零七"),
        ("192.168.1.1", "一九二点一六八点一点一"),
        ("Python 3.10.2", "Python 三点十点二"),
        # ordinals, fractions, ranges
        ("第3", "第三"),
        ("第12章", "第十二章"),
        ("1/2", "二分之一"),
        ("3/4的人", "四分之三的人"),
        ("3-5个", "三到五个"),
        ("3~5天", "三到五天"),
        ("100-200元", "一百到两百元"),
        # Chinese characters right next to the number
        ("电话13800138000", "电话一三八零零一三八零零零"),
        ("电话138-0013-8000。", "电话一三八，零零一三，八零零零。"),
        ("共3-5个", "共三到五个"),
        ("价格100-200元之间", "价格一百到两百元之间"),
        ("温度10~15℃", "温度十到十五摄氏度"),
        ("约1/3的人", "约三分之一的人"),
        ("版本3.10.2发布", "版本三点十点二发布"),
        # mixed: English words stay, digits change
        ("iPhone 15售价5999元", "iPhone 十五售价五千九百九十九元"),
        ("GPT-4很强", "GPT-四很强"),
        ("ＡＢ２０２４年", "ＡＢ二零二四年"),
        ("没有数字的句子。", "没有数字的句子。"),
    ],
)
def test_chinese(text: str, spoken: str) -> None:
    assert verbalize(text, "zh") == spoken


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("I have 21 apples.", "I have twenty-one apples."),
        ("3.14", "three point one four"),
        ("-3", "minus three"),
        ("1,000 people", "one thousand people"),
        ("0.05", "zero point zero five"),
        ("H100 GPUs", "H one hundred GPUs"),
        ("GPT-4", "GPT-four"),
        # percentages
        ("50%", "fifty percent"),
        ("10-20%", "ten to twenty percent"),
        # dates and years
        ("March 5, 2024", "March fifth, twenty twenty-four"),
        ("on 5 March 2024", "on the fifth of March, twenty twenty-four"),
        ("Dec. 25", "December twenty-fifth"),
        ("2024-03-05", "March fifth, twenty twenty-four"),
        ("in 2024", "in twenty twenty-four"),
        ("since 1999", "since nineteen ninety-nine"),
        ("from 2020-2024", "from twenty twenty to twenty twenty-four"),
        ("the 1990s", "the nineteen nineties"),
        ("about 2000 people", "about two thousand people"),
        # times
        ("14:30", "fourteen thirty"),
        ("2:30 pm", "two thirty p m"),
        ("9:05 AM", "nine oh five a m"),
        ("9:00", "nine o'clock"),
        ("14:00", "fourteen hundred"),
        ("a 16:9 screen", "a sixteen to nine screen"),
        # money
        ("$5", "five dollars"),
        ("$1", "one dollar"),
        ("$29.95", "twenty-nine dollars and ninety-five cents"),
        ("$0.50", "fifty cents"),
        ("$1.5 million", "one point five million dollars"),
        ("£3.50", "three pounds and fifty pence"),
        ("¥29.95", "twenty-nine point nine five yuan"),
        ("29.95元", "twenty-nine point nine five yuan"),
        # units
        ("5km", "five kilometers"),
        ("1 km", "one kilometer"),
        ("2.5 kg", "two point five kilograms"),
        ("-5°C", "minus five degrees Celsius"),
        ("8GB", "eight gigabytes"),
        ("60 km/h", "sixty kilometers per hour"),
        ("100m²", "one hundred square meters"),
        ("5 meters", "five meters"),
        # digits one by one
        ("call 138-0013-8000", "call one three eight, zero zero one three, eight zero zero zero"),
        ("007", "zero zero seven"),
        # ordinals, fractions, ranges
        ("1st", "first"),
        ("the 23rd time", "the twenty-third time"),
        ("1/2", "one half"),
        ("3/4", "three quarters"),
        ("2/3", "two thirds"),
        ("3-5 days", "three to five days"),
        ("No numbers here.", "No numbers here."),
    ],
)
def test_english(text: str, spoken: str) -> None:
    assert verbalize(text, "en") == spoken


def test_long_numbers_do_not_crash_the_chinese_reading() -> None:
    # cn2an stops at 16 integer digits; longer ones are read digit by digit.
    assert verbalize("12345678901234567890", "zh") == "一二三四五六七八九零一二三四五六七八九零"


def test_output_has_no_digits_left() -> None:
    text = "2024年3月5日14:30，¥29.95买了2个3.5kg的西瓜，打了8折，省了15%。"
    spoken = verbalize(text, "zh")
    assert not any(ch.isdigit() for ch in spoken), spoken
    assert spoken.startswith("二零二四年三月五日十四点三十分，二十九点九五元买了两个三点五公斤的西瓜")
