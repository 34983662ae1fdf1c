"""Split long text into chunks the model speaks one at a time (spec §4.6).

Every length here is a UTF-8 byte count, so CJK text (3 bytes a character) gets chunks with
about a third as many characters as Latin text.
"""

from __future__ import annotations

import re
import string
from typing import Iterable, Iterator

from fish_speech.text.clean import clean_text

_SENTENCE_END = frozenset(".!?。！？")
_CLAUSE_END = frozenset(",，")
_SPACE = frozenset(" ")
_PUNCT = frozenset(string.punctuation)

# Decimal points must not count as sentence ends: "3.14" is hidden as "<3_f_14>" meanwhile.
_DECIMAL = re.compile(r"(\d+)\.(\d+)")
_HIDDEN_DECIMAL = re.compile(r"<(\d+)_f_(\d+)>")


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut_after(pieces: Iterable[str], length: int, marks: frozenset) -> Iterator[str]:
    """Cut each piece longer than `length` after every character in `marks`."""
    for piece in pieces:
        if _nbytes(piece) <= length:
            yield piece
            continue
        start = 0
        for i, ch in enumerate(piece):
            if ch in marks:
                yield piece[start : i + 1]
                start = i + 1
        if start < len(piece):
            yield piece[start:]


def _cut_hard(pieces: Iterable[str], length: int) -> Iterator[str]:
    """Last resort: cut a long piece as soon as the accumulated part reaches `length` bytes."""
    for piece in pieces:
        if _nbytes(piece) <= length:
            yield piece
            continue
        part, size = [], 0
        for ch in piece:
            part.append(ch)
            size += _nbytes(ch)
            if size >= length:
                yield "".join(part)
                part, size = [], 0
        if part:
            yield "".join(part)


def _worth_keeping(segment: str) -> bool:
    # A chunk of only punctuation/whitespace would make the model babble or stay silent.
    return any(not (ch.isspace() or ch in _PUNCT) for ch in segment)


def split_text(text: str, length: int) -> list[str]:
    """Clean `text` and split it into stripped chunks of at most about `length` UTF-8 bytes.

    Preference order for cut points: sentence ends, then commas, then spaces, then anywhere.
    Small pieces are merged greedily back up to `length`.
    """
    hidden = _DECIMAL.sub(r"<\1_f_\2>", clean_text(text))
    pieces: Iterable[str] = _cut_after([hidden], length, _SENTENCE_END)
    pieces = (_HIDDEN_DECIMAL.sub(r"\1.\2", p) for p in pieces)
    pieces = _cut_after(pieces, length, _CLAUSE_END)
    pieces = _cut_after(pieces, length, _SPACE)
    pieces = _cut_hard(pieces, length)

    chunks: list[str] = []
    current = ""

    def flush(segment: str) -> None:
        segment = segment.strip()
        if segment and _worth_keeping(segment):
            chunks.append(segment)

    for piece in pieces:
        if _nbytes(current) + _nbytes(piece) <= length:
            current += piece
        else:
            flush(current)
            current = piece
    flush(current)
    return chunks
