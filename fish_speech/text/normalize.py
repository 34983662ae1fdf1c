"""Optional text normalization before synthesis: say numbers the way a person would.

Every language: Unicode NFKC (full-width letters and digits become ASCII, compatibility
characters are unfolded) and each run of whitespace, newlines included, becomes one space; the
ends are stripped.

English only (``language="en"``, or ``"auto"`` when the text looks English: ``"auto"`` judges by
script alone, so any Latin-script text counts as English), on top of that:

- cardinals "1,234" -> "one thousand two hundred thirty-four"; negatives "-5" -> "minus five";
  decimals "3.14" -> "three point one four"; a leading zero ("007") or more than 21 digits is
  read digit by digit; version numbers "1.2.3" -> "one point two point three";
- ordinals "21st" -> "twenty-first"; percentages "12.5%" -> "twelve point five percent";
- money in $, €, £ and ¥, symbol before or after the number: "$5.50" -> "five dollars and fifty
  cents", "£1.20" -> "one pound and twenty pence", "€2.5 million" -> "two point five million
  euros", "$5k" -> "five thousand dollars";
- years: a four-digit number after a cue word ("in", "since", "from", "by", "until", "during",
  "year", a month name, ...), before "AD"/"BC", or in "from/between Y to/and Y", is read as a
  year ("in 1999" -> "in nineteen ninety-nine", "2024" -> "twenty twenty-four", "2005" -> "two
  thousand five"), and so is a number from 1100 to 2099 in brackets or just before a sentence or
  clause end ("born 1999.", "(1999)"); decades "1980s" -> "nineteen eighties", "the 90s" ->
  "the nineties"; any other four-digit number is a cardinal ("1999 apples" -> "one thousand
  nine hundred ninety-nine apples");
- phone numbers "555-1234", "(555) 123-4567" are read digit by digit, a pause between groups;
- dates: ISO "2024-03-05", "March 5, 2024", "Mar. 5th", "5 March 2024", "March 2024", and
  numeric "3/5/2024" (month first, unless the first number is over 12) or "05.03.2024" (day
  first) -> "March fifth, twenty twenty-four" / "the fifth of March, twenty twenty-four";
- times: "3:30 pm" -> "three thirty PM", "3pm" -> "three PM", "10:05" -> "ten oh five",
  "9:00" -> "nine o'clock", "18:00" -> "eighteen hundred";
- abbreviations: Mr., Mrs., Ms., Dr., Prof., St. (before a name: Saint), Mt., Jr., Sr., e.g.,
  i.e., etc., vs., approx., No. (before a number), and "&" -> "and".

Any other language (the ``language`` argument, e.g. "zh", "ja"; or "auto" finding CJK, kana,
hangul, Cyrillic, Arabic, Hebrew, Greek, Thai or Indic letters) gets only the NFKC and
whitespace step: numbers there are left for the model, which reads them itself. The result is
deterministic: the same input always gives the same text.
"""

from __future__ import annotations

import re
import unicodedata

from fish_speech.text.dates import expand_dates, expand_times
from fish_speech.text.numbers import cardinal, digits, number, ordinal, plural_words, year

_ENGLISH = {"en", "eng", "english"}

# A plain number: thousands with commas, or a run of digits; an optional decimal part.
NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)"


def detect_language(text: str) -> str:
    """Guess "zh", "ja", "ko", "ru", "ar", "he", "el", "th", "hi" or "en" from the script alone."""
    counts: dict[str, int] = {}
    for ch in text:
        if not ch.isalpha():
            continue
        cp = ord(ch)
        if 0x3040 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF or 0xFF66 <= cp <= 0xFF9D:
            lang = "ja"  # kana
        elif 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F:
            lang = "ko"
        elif 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2FA1F:
            lang = "zh"
        elif 0x0400 <= cp <= 0x052F:
            lang = "ru"
        elif 0x0600 <= cp <= 0x06FF or 0x0750 <= cp <= 0x077F:
            lang = "ar"
        elif 0x0590 <= cp <= 0x05FF:
            lang = "he"
        elif 0x0370 <= cp <= 0x03FF:
            lang = "el"
        elif 0x0E00 <= cp <= 0x0E7F:
            lang = "th"
        elif 0x0900 <= cp <= 0x0DFF:
            lang = "hi"
        else:
            lang = "en"
        counts[lang] = counts.get(lang, 0) + 1
    # Any kana means Japanese (kanji alone looks Chinese); any hangul means Korean; any Han
    # means Chinese: numbers inside CJK text must not turn into English words.
    for lang in ("ja", "ko", "zh"):
        if counts.get(lang):
            return lang
    if not counts:
        return "en"
    return max(sorted(counts), key=lambda k: counts[k])


def _basic(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _ends_sentence(text: str, end: int) -> bool:
    # A swallowed abbreviation dot also ended the sentence if nothing or a capital follows.
    rest = text[end:].lstrip()
    return not rest or rest[0].isupper()


# --- abbreviations -------------------------------------------------------------------------

# Titles are always followed by a name, so their dot never ends a sentence. Only the common
# four may drop the dot (British "Mr Smith"); "Gen Z" must stay as it is.
_TITLES = {
    "Mr": "Mister",
    "Mrs": "Missus",
    "Ms": "Miz",
    "Dr": "Doctor",
    "Prof": "Professor",
    "Mt": "Mount",
    "Capt": "Captain",
    "Gen": "General",
    "Lt": "Lieutenant",
    "Sgt": "Sergeant",
    "Col": "Colonel",
    "Gov": "Governor",
    "Sen": "Senator",
    "Rev": "Reverend",
    "St": "Saint",
}
_DOT_OPTIONAL = ("Mr", "Mrs", "Ms", "Dr")
_TITLE_RE = re.compile(
    r"\b(?:("
    + "|".join(_DOT_OPTIONAL)
    + r")\.?|("
    + "|".join(t for t in _TITLES if t not in _DOT_OPTIONAL)
    + r")\.)(?=\s+[A-Z])"
)
_AFTER_ADDRESS = re.compile(r"\b\d+(?:\s+[A-Z][a-z]*)+\s+$")


def _title(m: re.Match) -> str:
    short = m.group(1) or m.group(2)
    # "12 Main St. Then" is a street, "visit St. Louis" a saint.
    if short == "St" and _AFTER_ADDRESS.search(m.string, 0, m.start()):
        return "Street."
    return _TITLES[short]


# These may end a sentence; their dot is put back when it did.
_ABBREVIATIONS = [
    (re.compile(r"\be\.\s?g\.", re.I), "for example"),
    (re.compile(r"\bi\.\s?e\.", re.I), "that is"),
    (re.compile(r"\betc\.", re.I), "et cetera"),
    (re.compile(r"\bvs\.?(?=\s)", re.I), "versus"),
    (re.compile(r"\bapprox\.", re.I), "approximately"),
    (re.compile(r"\bJr\."), "Junior"),
    (re.compile(r"\bSr\."), "Senior"),
    (re.compile(r"\bNo\.(?=\s?\d)"), "number"),
    (re.compile(r"(?<=\s)&(?=\s)"), "and"),
]


def _expand_abbreviations(text: str) -> str:
    text = _TITLE_RE.sub(_title, text)
    for pattern, words in _ABBREVIATIONS:

        def repl(m: re.Match, words=words) -> str:
            dot = m.group().endswith(".") and _ends_sentence(m.string, m.end())
            return words + ("." if dot else "")

        text = pattern.sub(repl, text)
    return text


# --- money ---------------------------------------------------------------------------------

# symbol -> (one, many, sub-unit one, sub-unit many); yen has no sub-unit in use.
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "¥": ("yen", "yen", None, None),
}
_SCALE_WORDS = {"k": "thousand", "K": "thousand", "M": "million", "B": "billion", "bn": "billion"}
_AMOUNT = (
    rf"(?P<int>{NUM})(?:\.(?P<frac>\d+))?"
    r"(?:\s?(?P<scale>thousand|million|billion|trillion|bn|[kKMB])\b)?"
)
_MONEY_BEFORE = re.compile(r"(?P<neg>[-−])?(?P<sym>[$€£¥])\s?(?P<neg2>[-−])?" + _AMOUNT)
_MONEY_AFTER = re.compile(r"(?<![\w.,])(?P<neg>[-−])?" + _AMOUNT + r"\s?(?P<sym>[€£¥$])")


def _money(m: re.Match) -> str:
    one, many, sub_one, sub_many = _CURRENCIES[m.group("sym")]
    whole, frac, scale = m.group("int"), m.group("frac"), m.group("scale")
    sign = "minus " if m.group("neg") or m.groupdict().get("neg2") else ""
    if scale:
        return f"{sign}{number(whole, frac)} {_SCALE_WORDS.get(scale, scale)} {many}"
    value = int(whole.replace(",", ""))
    if frac and (sub_one is None or len(frac) > 2):
        return f"{sign}{number(whole, frac)} {many}"
    cents = int(frac.ljust(2, "0")) if frac else 0
    parts = []
    if value or not cents:
        parts.append(f"{number(whole)} {one if value == 1 else many}")
    if cents:
        parts.append(f"{cardinal(cents)} {sub_one if cents == 1 else sub_many}")
    return sign + " and ".join(parts)


# --- years, ordinals, plain numbers --------------------------------------------------------

_YEAR_CUES = (
    "in|since|from|until|till|by|before|after|during|of|year|circa|around|early|late|mid|"
    "summer|winter|spring|autumn|fall|January|February|March|April|May|June|July|August|"
    "September|October|November|December"
)
_YEAR_RANGE = re.compile(r"\b(from|between)\s+(\d{4})\s*(to|and|through|-|–)\s*(\d{4})\b(?![.,]\d)", re.I)
_YEAR_AFTER_CUE = re.compile(rf"\b({_YEAR_CUES})\s+(\d{{4}})\b(?![.,]\d)", re.I)
# A lone four-digit number closing a sentence or clause, or in brackets, is a year: "(1999)",
# "born 1999.", "1999;".
_YEAR_ALONE = re.compile(r"(?<![\w.,$€£¥%-])(1[1-9]\d\d|20\d\d)(?=\s*(?:[.!?;)\]]|$))(?!\.\d)")
_YEAR_ERA = re.compile(r"\b(\d{1,4})\s?(AD|BC|BCE|CE)\b")
_DECADE = re.compile(r"\b(\d{3}0)'?s\b")
_SHORT_DECADE = re.compile(r"(?:(?<=\s)|^)'?([1-9]0)'?s\b")
_ORDINAL = re.compile(rf"\b({NUM})(st|nd|rd|th)\b", re.I)
# "-12", "1,234.5", ".5"; a minus only where it cannot be a hyphen ("3-5", "COVID-19").
_SIGNED = (
    r"(?P<neg>(?<![\w)\]])[-−])?"
    rf"(?:(?<![\d.])(?P<int>{NUM})(?:\.(?P<frac>\d+))?|(?<![\w.])\.(?P<dot>\d+))"
)
_PERCENT = re.compile(_SIGNED + r"\s?%")
# Phone numbers are read digit by digit, group by group: "555-1234", "(555) 123-4567".
_PHONE = re.compile(r"(?<![\w.,-])(?:\+\d{1,3}[-. ])?(?:\(\d{3}\)\s?|\d{3}[-.])?\d{3}[-.]\d{4}(?![\w-]|\.\d)")
_VERSION = re.compile(r"(?<![\d.])\d+(?:\.\d+){2,}(?!\.?\d)")
_NUMBER = re.compile(_SIGNED + r"(?!\d)")


def _year_range(m: re.Match) -> str:
    joiner = "to" if m.group(3) in "-–" else m.group(3)
    return f"{m.group(1)} {year(int(m.group(2)))} {joiner} {year(int(m.group(4)))}"


def _plain_number(m: re.Match) -> str:
    words = number(m.group("int") or "", m.group("frac") or m.group("dot"))
    words = ("minus " if m.group("neg") else "") + words
    # "mp3" -> "mp three", "1.5M" -> "one point five M": words must not fuse with letters.
    text, start, end = m.string, m.start(), m.end()
    if start and text[start - 1].isalpha():
        words = " " + words
    if end < len(text) and text[end].isalpha():
        words += " "
    return words


def _percent(m: re.Match) -> str:
    return _plain_number(m) + " percent"


def _expand_numbers(text: str) -> str:
    text = _PHONE.sub(lambda m: ", ".join(digits(g) for g in re.findall(r"\d+", m.group())), text)
    text = _MONEY_BEFORE.sub(_money, text)
    text = _MONEY_AFTER.sub(_money, text)
    text = _PERCENT.sub(_percent, text)
    text = _YEAR_RANGE.sub(_year_range, text)
    text = _YEAR_AFTER_CUE.sub(lambda m: f"{m.group(1)} {year(int(m.group(2)))}", text)
    text = _YEAR_ALONE.sub(lambda m: year(int(m.group(1))), text)
    text = _YEAR_ERA.sub(lambda m: f"{year(int(m.group(1)))} {m.group(2)}", text)
    text = _DECADE.sub(lambda m: plural_words(year(int(m.group(1)))), text)
    text = _SHORT_DECADE.sub(lambda m: plural_words(cardinal(int(m.group(1)))), text)
    text = _ORDINAL.sub(lambda m: ordinal(int(m.group(1).replace(",", ""))), text)
    text = _VERSION.sub(lambda m: " point ".join(number(p) for p in m.group().split(".")), text)
    return _NUMBER.sub(_plain_number, text)


def normalize_english(text: str) -> str:
    text = _expand_abbreviations(text)
    text = expand_dates(text)
    text = expand_times(text)
    text = _expand_numbers(text)
    return " ".join(text.split())


def normalize_text(text: str, language: str | None = "en") -> str:
    """Normalize `text` for speech; see the module docstring for what each language gets."""
    text = _basic(text)
    lang = (language or "auto").strip().lower()
    if lang == "auto":
        lang = detect_language(text)
    if lang.split("-")[0].split("_")[0] in _ENGLISH:
        return normalize_english(text)
    return text


__all__ = ["normalize_text", "normalize_english", "detect_language"]
