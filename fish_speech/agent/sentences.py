"""Cut streaming text into sentences as soon as each is complete, so speech can start while the
rest of the reply is still being written.

A sentence ends at . ! ? ; or a newline followed by whitespace (the next piece of text tells us
"3." in "3.14" is no end), or right after a CJK full stop. Pieces shorter than `min_chars` wait
for the next one (no two-word utterances); text longer than `max_chars` without an end is cut at
the last comma or space.
"""

from __future__ import annotations

import re

_END = re.compile(r"[.!?;\n]+[\"')\]]*(?=\s)|[。！？；…]+")
_SOFT = re.compile(r".*[,，、:：\s]", re.DOTALL)


class SentenceSplitter:
    def __init__(self, max_chars: int = 200, min_chars: int = 12):
        self.max_chars, self.min_chars = max_chars, min_chars
        self.buffer = ""

    def push(self, text: str) -> list[str]:
        self.buffer += text
        out = []
        while True:
            cut = self._cut()
            if cut is None:
                return out
            piece, self.buffer = self.buffer[:cut].strip(), self.buffer[cut:]
            if piece:
                out.append(piece)

    def _cut(self) -> int | None:
        for m in _END.finditer(self.buffer):
            if len(self.buffer[: m.end()].strip()) >= self.min_chars:
                return m.end()
        if len(self.buffer) > self.max_chars:
            soft = _SOFT.match(self.buffer, 0, self.max_chars)
            return soft.end() if soft and soft.end() >= self.min_chars else self.max_chars
        return None

    def flush(self) -> list[str]:
        piece, self.buffer = self.buffer.strip(), ""
        return [piece] if piece else []
