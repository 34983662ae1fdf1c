"""English dates and clock times to words (used by `normalize.py`)."""

from __future__ import annotations

import re

from fish_speech.text.numbers import cardinal, ordinal, year

MONTHS = ("January February March April May June July August September October November December").split()
_ABBREVIATED = {m[:3]: m for m in MONTHS if len(m) > 4}
_ABBREVIATED["Sept"] = "September"

# Full names never take a dot; "Mar." does (and the dot is part of the abbreviation).
_MONTH = r"(?P<month>" + "|".join(MONTHS) + "|(?:" + "|".join(_ABBREVIATED) + r")\.?)"
_ORD_SUFFIX = r"(?:st|nd|rd|th)?"

_ISO = re.compile(r"(?<![\d-])(\d{4})-(\d{1,2})-(\d{1,2})(?![\d-])")
_NUMERIC = re.compile(r"(?<![\d/.])(\d{1,2})([/.])(\d{1,2})\2(\d{4})(?![\d/]|\.\d)")
_MONTH_DAY = re.compile(rf"\b{_MONTH}\s+(?P<day>\d{{1,2}}){_ORD_SUFFIX}\b(?:,?\s+(?P<year>\d{{4}})\b(?![.,]\d))?")
_DAY_MONTH = re.compile(
    rf"\b(?P<day>\d{{1,2}}){_ORD_SUFFIX}\s+(?:of\s+)?{_MONTH}(?![\w])"
    r"(?:,?\s+(?P<year>\d{4})\b(?![.,]\d))?"
)
_MONTH_YEAR = re.compile(rf"\b{_MONTH}\s+(?P<year>\d{{4}})\b(?![.,]\d)")

_TIME = re.compile(
    r"(?<![\d:])(?P<h>\d{1,2}):(?P<m>\d{2})(?::(?P<s>\d{2}))?(?![\d:])"
    r"(?:\s?(?P<ap>[AaPp])\.?\s?[Mm]\b\.?)?"
)
_HOUR_AMPM = re.compile(r"(?<![\d:.,])(?P<h>\d{1,2})\s?(?P<ap>[AaPp])\.?\s?[Mm]\b\.?")


def _month_name(token: str) -> str:
    token = token.rstrip(".")
    return _ABBREVIATED.get(token, token)


def _spoken_date(month: int, day: int, yr: str | None, day_first: bool = False) -> str | None:
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    name = MONTHS[month - 1]
    said = f"the {ordinal(day)} of {name}" if day_first else f"{name} {ordinal(day)}"
    return f"{said}, {year(int(yr))}" if yr else said


def _iso(m: re.Match) -> str:
    return _spoken_date(int(m.group(2)), int(m.group(3)), m.group(1)) or m.group()


def _numeric(m: re.Match) -> str:
    a, sep, b, yr = int(m.group(1)), m.group(2), int(m.group(3)), m.group(4)
    # Slashes are read month-first (US) unless that cannot be; dots are day-first (Europe).
    day_first = sep == "." or a > 12
    month, day = (b, a) if day_first else (a, b)
    return _spoken_date(month, day, yr, day_first=False) or m.group()


def _named(day_first: bool):
    def repl(m: re.Match) -> str:
        month = MONTHS.index(_month_name(m.group("month"))) + 1
        said = _spoken_date(month, int(m.group("day")), m.group("year"), day_first)
        if said is None:
            return m.group()
        # "the 5th of March" already has its article.
        if day_first and m.string[: m.start()].lower().endswith("the "):
            said = said[len("the ") :]
        return said

    return repl


def expand_dates(text: str) -> str:
    text = _ISO.sub(_iso, text)
    text = _NUMERIC.sub(_numeric, text)
    text = _MONTH_DAY.sub(_named(False), text)
    text = _DAY_MONTH.sub(_named(True), text)
    return _MONTH_YEAR.sub(lambda m: f"{_month_name(m.group('month'))} {year(int(m.group('year')))}", text)


def _ampm(m: re.Match) -> str:
    said = "AM" if m.group("ap").lower() == "a" else "PM"
    # The dot of "p.m." also ended the sentence when nothing or a capital follows.
    rest = m.string[m.end() :].lstrip()
    if m.group().endswith(".") and (not rest or rest[0].isupper()):
        said += "."
    return said


def _clock(m: re.Match) -> str:
    h, mins = int(m.group("h")), int(m.group("m"))
    secs = int(m.group("s")) if m.group("s") else 0
    ap = m.group("ap")
    if h > 24 or mins > 59 or secs > 59 or (ap and not 1 <= h <= 12):
        return m.group()
    if mins == 0 and ap:
        said = cardinal(h)
    elif mins == 0:
        said = f"{cardinal(h)} o'clock" if 1 <= h <= 12 else f"{cardinal(h)} hundred"
    elif mins < 10:
        said = f"{cardinal(h)} oh {cardinal(mins)}"
    else:
        said = f"{cardinal(h)} {cardinal(mins)}"
    if secs:
        said += f" and {cardinal(secs)} second{'s' if secs != 1 else ''}"
    return f"{said} {_ampm(m)}" if ap else said


def _hour(m: re.Match) -> str:
    h = int(m.group("h"))
    if not 1 <= h <= 12:
        return m.group()
    return f"{cardinal(h)} {_ampm(m)}"


def expand_times(text: str) -> str:
    text = _TIME.sub(_clock, text)
    return _HOUR_AMPM.sub(_hour, text)
