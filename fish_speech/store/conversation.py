"""What a conversation is made of, and its compact serialised form.

A message holds text parts and VQ parts (codec codes, [num_codebooks, frames]: 8 rows of 0..999 for
the Fish Speech 1.5 codec, 10 rows with ids up to 4095 for the modded DAC of S1-mini / S2-Pro). Codes
are kept as int16 (every id fits) and serialised as base64 of their little-endian bytes, so a
10 s spoken 1.5 turn costs ~4.6 kB instead of a JSON list of 1,720 numbers.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field

import numpy as np

from fish_speech.errors import bad_input

ROLES = ("system", "user", "assistant")
# Letters, digits and a few separators; no braces, spaces or slashes (they end up in keys/paths).
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]*")  # used with fullmatch: "id\n" is not an id
MAX_ID_LENGTH = 128
# The widest codec here: the modded DAC (S1-mini / S2-Pro), 10 rows, ids up to 4095 in row 0. Which rows
# and ranges fit the loaded codec is checked where codes are used (the codec's `codebook_sizes`).
MAX_CODEBOOKS, MAX_CODE = 10, 4095


def validate_conversation_id(value, field_name: str = "conversation_id") -> str:
    if not isinstance(value, str):
        raise bad_input(field_name, "must be a string")
    if not 1 <= len(value) <= MAX_ID_LENGTH:
        raise bad_input(field_name, f"must be 1..{MAX_ID_LENGTH} characters long")
    if not _ID_RE.fullmatch(value):
        raise bad_input(field_name, "may contain only letters, digits and . _ : @ - (starting with a letter or digit)")
    return value


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True, eq=False)
class VQPart:
    codes: np.ndarray  # int16 [num_codebooks, frames], raw codec values (no +1 shift)
    text: str = ""  # what is said in it, when known (a voice's transcript: the tts of the llm backend uses it)

    def __post_init__(self):
        codes = np.asarray(self.codes)
        if codes.ndim != 2:
            raise ValueError(f"VQ codes must be 2-D [codebooks, frames], got shape {codes.shape}")
        object.__setattr__(self, "codes", codes.astype(np.int16, copy=False))

    @property
    def frames(self) -> int:
        return int(self.codes.shape[1])

    def __eq__(self, other) -> bool:
        return isinstance(other, VQPart) and self.text == other.text and np.array_equal(self.codes, other.codes)


@dataclass
class Message:
    role: str
    parts: list = field(default_factory=list)  # TextPart | VQPart

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


@dataclass
class Conversation:
    """A stored conversation: `version` counts appends (0 = never stored or expired)."""

    id: str
    system: Message | None = None
    messages: list[Message] = field(default_factory=list)
    version: int = 0


def part_to_dict(part, codes_as: str = "b64") -> dict:
    """codes_as: "b64" (storage: base64 int16) or "list" (clients: nested JSON ints)."""
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if codes_as == "list":
        out = {"type": "vq", "codes": part.codes.astype(int).tolist()}
    else:
        data = np.ascontiguousarray(part.codes, dtype="<i2").tobytes()
        out = {"type": "vq", "shape": list(part.codes.shape), "codes": base64.b64encode(data).decode("ascii")}
    if part.text:
        out["text"] = part.text
    return out


def part_from_dict(d: dict, field_name: str = "history"):
    kind = d.get("type") if isinstance(d, dict) else None
    if kind == "text":
        text = d.get("text")
        if not isinstance(text, str):
            raise bad_input(field_name, "a text part needs a string 'text'")
        return TextPart(text)
    if kind == "vq":
        codes = d.get("codes")
        try:
            if isinstance(codes, str):
                shape = tuple(int(n) for n in d["shape"])
                arr = np.frombuffer(base64.b64decode(codes, validate=True), dtype="<i2").reshape(shape)
            else:
                arr = np.asarray(codes, dtype=np.int64)
        except Exception:  # noqa: BLE001 - malformed base64, shape or numbers
            raise bad_input(field_name, "a vq part needs 'codes' as [codebooks][frames] integers") from None
        if arr.ndim != 2 or not 1 <= arr.shape[0] <= MAX_CODEBOOKS or arr.shape[1] == 0:
            raise bad_input(
                field_name, f"vq codes must be a non-empty [codebooks][frames] array of 1..{MAX_CODEBOOKS} rows"
            )
        if arr.min() < 0 or arr.max() > MAX_CODE:
            raise bad_input(field_name, f"vq codes must be 0..{MAX_CODE} (the codec checks each row's own range)")
        text = d.get("text", "")
        if not isinstance(text, str):
            raise bad_input(field_name, "a vq part's 'text' must be a string")
        return VQPart(arr, text)
    raise bad_input(field_name, "each part needs type 'text' or 'vq'")


def message_to_dict(message: Message, codes_as: str = "b64") -> dict:
    return {"role": message.role, "parts": [part_to_dict(p, codes_as) for p in message.parts]}


def message_from_dict(d: dict, field_name: str = "history") -> Message:
    if not isinstance(d, dict) or d.get("role") not in ROLES:
        raise bad_input(field_name, f"each message needs a role among {', '.join(ROLES)}")
    parts = d.get("parts")
    if not isinstance(parts, list):
        raise bad_input(field_name, "each message needs a list of parts")
    return Message(d["role"], [part_from_dict(p, field_name) for p in parts])


def dump_message(message: Message | None) -> bytes:
    """Storage form: compact JSON bytes."""
    if message is None:
        return b""
    return json.dumps(message_to_dict(message), separators=(",", ":"), ensure_ascii=False).encode()


def load_message(data: bytes | str | None) -> Message | None:
    if not data:
        return None
    return message_from_dict(json.loads(data), "conversation")
