"""clean_text and split_text against the spec's verified vectors; English normalization table."""

from __future__ import annotations

import pytest

from fish_speech.text.clean import clean_text
from fish_speech.text.normalize import detect_language, normalize_text
from fish_speech.text.numbers import cardinal, ordinal, year
from fish_speech.text.split import split_text


def test_clean_text_spec_vector():
    assert clean_text("  It\u2019s \u2018fine\u2019,,, ok... \U0001f600 go  ") == "It's 'fine', ok...  go"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a,,b", "a,b"),
        ("a,b", "a,b"),
        ("flag \U0001f1fa\U0001f1f8!", "flag !"),
        ("rocket \U0001f680 and map \U0001f5fa", "rocket  and map "),
        ("no \u201cdouble\u201d change", "no \u201cdouble\u201d change"),
        ("dots... stay.. here", "dots... stay.. here"),
        ("\u2764 heart is outside the ranges", "\u2764 heart is outside the ranges"),
        ("\uff0c\uff0c full-width commas stay", "\uff0c\uff0c full-width commas stay"),
    ],
)
def test_clean_text_rules(text, expected):
    assert clean_text(text) == expected


@pytest.mark.parametrize(
    "text, length, expected",
    [
        (
            "This is a test sentence. This is another test sentence. And a third one.",
            50,
            ["This is a test sentence.", "This is another test sentence. And a third one."],
        ),
        ("a,aaaaaa3.14", 10, ["a,", "aaaaaa3.14"]),
        ("   ", 10, []),
        ("a", 10, ["a"]),
        ("...!!!", 200, []),
        ("abcdefghijklmnopqrstuvwxyz", 10, ["abcdefghij", "klmnopqrst", "uvwxyz"]),
        ("Pi is 3.14159. Next sentence here!", 20, ["Pi is 3.14159.", "Next sentence here!"]),
        (
            "这是一段很长的中文文本,而且没有句号,也没有感叹号,也没有问号,也没有换行符。",
            50,
            ["这是一段很长的中文文本,", "而且没有句号,也没有感叹号,", "也没有问号,也没有换行符。"],
        ),
        ("Hello there. How are you?", 12, ["Hello there.", "How are", "you?"]),
    ],
)
def test_split_text_spec_vectors(text, length, expected):
    assert split_text(text, length) == expected


def test_split_text_lengths_are_utf8_bytes():
    # 3 bytes per character: a 10-byte limit cuts after 4 characters (12 >= 10 bytes).
    assert split_text("一二三四五六七八", 10) == ["一二三四", "五六七八"]
    # Chunks never exceed the limit unless one cut piece already did.
    text = "Sentence one is here. " * 20
    assert all(len(c.encode()) <= 60 for c in split_text(text, 60))


def test_split_text_cleans_first_and_drops_punctuation_only_chunks():
    assert split_text("  It\u2019s here,,, \U0001f600 ok  ", 200) == ["It's here,  ok"]
    assert split_text("...!!! Hello.", 6) == ["Hello."]


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "zero"),
        (13, "thirteen"),
        (21, "twenty-one"),
        (105, "one hundred five"),
        (1234, "one thousand two hundred thirty-four"),
        (1_000_001, "one million one"),
        (-7, "minus seven"),
    ],
)
def test_cardinal(n, words):
    assert cardinal(n) == words


def test_ordinal_and_year_words():
    assert [ordinal(n) for n in (1, 2, 3, 12, 20, 21, 100)] == [
        "first",
        "second",
        "third",
        "twelfth",
        "twentieth",
        "twenty-first",
        "one hundredth",
    ]
    assert [year(n) for n in (1066, 1900, 1905, 1999, 2000, 2007, 2010, 2024)] == [
        "ten sixty-six",
        "nineteen hundred",
        "nineteen oh five",
        "nineteen ninety-nine",
        "two thousand",
        "two thousand seven",
        "twenty ten",
        "twenty twenty-four",
    ]


ENGLISH = [
    ("1,234 apples", "one thousand two hundred thirty-four apples"),
    ("3.14", "three point one four"),
    ("0.5 and .5", "zero point five and point five"),
    ("-5 degrees", "minus five degrees"),
    ("COVID-19", "COVID-nineteen"),
    ("007", "zero zero seven"),
    ("the 21st century", "the twenty-first century"),
    ("I came 2nd.", "I came second."),
    ("50% off", "fifty percent off"),
    ("-2.5%", "minus two point five percent"),
    ("$5.50", "five dollars and fifty cents"),
    ("$1", "one dollar"),
    ("$0.99", "ninety-nine cents"),
    ("$1,000,000", "one million dollars"),
    ("$2.5 million", "two point five million dollars"),
    ("$5k", "five thousand dollars"),
    ("-$5", "minus five dollars"),
    ("\u20ac5", "five euros"),
    ("5\u20ac", "five euros"),
    ("\u00a31.20", "one pound and twenty pence"),
    ("\u00a53000", "three thousand yen"),
    ("in 1999", "in nineteen ninety-nine"),
    ("since 2005", "since two thousand five"),
    ("born (1984)", "born (nineteen eighty-four)"),
    ("from 1990 to 1995", "from nineteen ninety to nineteen ninety-five"),
    ("the 1980s", "the nineteen eighties"),
    ("the 90s", "the nineties"),
    ("1999 apples", "one thousand nine hundred ninety-nine apples"),
    ("2024-03-05", "March fifth, twenty twenty-four"),
    ("March 5, 2024", "March fifth, twenty twenty-four"),
    ("Mar. 5th", "March fifth"),
    ("5 March 2024", "the fifth of March, twenty twenty-four"),
    ("on the 5th of March", "on the fifth of March"),
    ("March 2024", "March twenty twenty-four"),
    ("3/5/2024", "March fifth, twenty twenty-four"),
    ("13/5/2024", "May thirteenth, twenty twenty-four"),
    ("3:30 pm", "three thirty PM"),
    ("3pm", "three PM"),
    ("at 10:05", "at ten oh five"),
    ("9:00", "nine o'clock"),
    ("18:00", "eighteen hundred"),
    ("at 3 p.m. Then we left.", "at three PM. Then we left."),
    ("Mr. Smith met Dr. Jones", "Mister Smith met Doctor Jones"),
    ("Mrs. Brown", "Missus Brown"),
    ("Gen Z", "Gen Z"),
    ("apples, pears, etc.", "apples, pears, et cetera."),
    ("e.g. this, i.e. that", "for example this, that is that"),
    ("cats vs. dogs", "cats versus dogs"),
    ("No. 5", "number five"),
    ("Tom & Jerry", "Tom and Jerry"),
    ("St. Louis", "Saint Louis"),
    ("version 1.2.3", "version one point two point three"),
    ("mp3", "mp three"),
    ("call 555-1234", "call five five five, one two three four"),
    ("  spaced\n\tout  ", "spaced out"),
    ("\uff11\uff12 full width", "twelve full width"),
]


@pytest.mark.parametrize("text, expected", ENGLISH)
def test_normalize_english(text, expected):
    assert normalize_text(text, "en") == expected


def test_normalize_auto_is_english_for_latin_text():
    assert normalize_text("It costs $5.", "auto") == "It costs five dollars."


@pytest.mark.parametrize(
    "text, lang",
    [
        ("我有3个苹果,  价格是 5.5 元", "zh"),
        ("こんにちは 5 回", "ja"),
        ("안녕하세요 3", "ko"),
        ("Привет 5 раз", "ru"),
        ("مرحبا 5", "ar"),
    ],
)
def test_normalize_other_languages_only_nfkc_and_spaces(text, lang):
    assert detect_language(text) == lang
    expected = " ".join(text.split())
    assert normalize_text(text, "auto") == expected
    assert normalize_text(text, lang) == expected
    # An explicit non-English language leaves even Latin text's numbers alone.
    assert normalize_text("5 dogs  in 1999", "de") == "5 dogs in 1999"


def test_normalize_nfkc_for_other_languages():
    assert normalize_text("\uff21\uff11\uff0c\u3000x", "zh") == "A1, x"


def test_normalize_is_deterministic_and_idempotent_on_output():
    text = "On March 5, 2024 at 3:30 pm Dr. Smith paid $1,234.56 (12% more) in 1999."
    once = normalize_text(text)
    assert once == normalize_text(text)
    assert normalize_text(once) == once
    assert not any(ch.isdigit() for ch in once)
