"""The one text clean-up Fish Speech 1.5 applies before tokenizing (spec §4.5).

Deliberately minimal: the language model was trained on text treated exactly like this, so
anything more (number expansion, punctuation folding) belongs in `normalize.py`, opt-in.
"""

from __future__ import annotations

import re

# Curly single quotes become the ASCII apostrophe.
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'"})

# Emoticons, misc symbols/pictographs, transport/map symbols, regional indicators (flags).
_EMOJI = re.compile("[\U0001f600-\U0001f64f\U0001f300-\U0001f5ff\U0001f680-\U0001f6ff\U0001f1e0-\U0001f1ff]")

_COMMA_RUN = re.compile(",{2,}")


def clean_text(text: str) -> str:
    """Strip, ASCII-fy curly single quotes, drop emoji, squash runs of commas (in that order)."""
    out = text.strip().translate(_QUOTES)
    out = _EMOJI.sub("", out)
    return _COMMA_RUN.sub(",", out)
