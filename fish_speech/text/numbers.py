"""English number words, written out the American way ("one hundred five", no "and").

Pure functions on ints and digit strings; `normalize.py` decides which reading fits where.
"""

from __future__ import annotations

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ("", "thousand", "million", "billion", "trillion", "quadrillion", "quintillion")

# Ordinals that are not simply "+th".
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}

# Beyond this a number is read digit by digit (serials, IDs): nobody says "sextillion".
MAX_CARDINAL = 10 ** (3 * len(_SCALES)) - 1


def _below_hundred(n: int) -> str:
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")


def _below_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    words = [f"{_ONES[hundreds]} hundred"] if hundreds else []
    if rest:
        words.append(_below_hundred(rest))
    return " ".join(words)


def cardinal(n: int) -> str:
    """12345 -> "twelve thousand three hundred forty-five"; negatives get "minus"."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n == 0:
        return "zero"
    if n > MAX_CARDINAL:
        return digits(str(n))
    groups = []
    scale = 0
    while n:
        n, group = divmod(n, 1000)
        if group:
            groups.append(_below_thousand(group) + (f" {_SCALES[scale]}" if scale else ""))
        scale += 1
    return " ".join(reversed(groups))


def digits(text: str) -> str:
    """ "0314" -> "zero three one four" (non-digits are dropped)."""
    return " ".join(_ONES[int(ch)] for ch in text if ch.isdigit())


def _last_word_split(words: str) -> tuple[str, str]:
    # The last word may sit after a space or a hyphen ("twenty-one").
    cut = max(words.rfind(" "), words.rfind("-")) + 1
    return words[:cut], words[cut:]


def ordinal_words(words: str) -> str:
    """Turn a cardinal phrase into its ordinal: "twenty-one" -> "twenty-first"."""
    head, last = _last_word_split(words)
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return head + last


def ordinal(n: int) -> str:
    """21 -> "twenty-first"."""
    return ordinal_words(cardinal(n))


def plural_words(words: str) -> str:
    """Plural of a number phrase, for decades: "nineteen eighty" -> "nineteen eighties"."""
    head, last = _last_word_split(words)
    if last.endswith("y"):
        last = last[:-1] + "ies"
    elif last.endswith("x"):
        last += "es"
    else:
        last += "s"
    return head + last


def year(n: int) -> str:
    """Year reading: 1999 "nineteen ninety-nine", 1905 "nineteen oh five", 2000 "two thousand",
    2007 "two thousand seven", 2024 "twenty twenty-four", 1900 "nineteen hundred".
    Outside 1000..9999 it is the plain cardinal."""
    if not 1000 <= n <= 9999:
        return cardinal(n)
    century, rest = divmod(n, 100)
    if century % 10 == 0 and rest < 10:
        # 2000-2009, 1000-1009: "two thousand five" is how these are said.
        return cardinal(n)
    head = _below_hundred(century)
    if rest == 0:
        return f"{head} hundred"
    if rest < 10:
        return f"{head} oh {_ONES[rest]}"
    return f"{head} {_below_hundred(rest)}"


def number(integer: str, fraction: str | None = None) -> str:
    """Digit strings (commas allowed in `integer`) to words; a fraction is read digit by digit.

    A leading zero ("007") or a huge value is read digit by digit, as people read codes."""
    plain = integer.replace(",", "")
    if not plain:
        words = ""
    elif len(plain) > 1 and plain[0] == "0" and "," not in integer:
        words = digits(plain)
    else:
        value = int(plain)
        words = cardinal(value) if value <= MAX_CARDINAL else digits(plain)
    if fraction:
        words = f"{words} point {digits(fraction)}".strip()
    return words
