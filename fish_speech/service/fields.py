"""Request-field rules shared by every surface (RunPod worker, HTTP server, ...).

Each surface hands its raw request mapping to `parse_fields`, which checks types and ranges, fills
defaults and returns plain Python values; a bad value raises `FishError(400, field, message)`.
Nothing here knows about HTTP, RunPod or tensors.

Types are strict: a JSON string is never a number, a bool is never a number, a number is never a
bool. A float field takes integers; an integer field takes floats only when they are whole
(``200.0``). Operator limits (`Limits`) come from `fish_speech.settings`.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from fish_speech.engine.types import Sampling
from fish_speech.errors import FishError, bad_input
from fish_speech.settings import Limits

_REQUIRED = object()
# Numbers past this size are never meaningful here, and turning them into floats overflows.
MAX_MAGNITUDE = 2**53
# Unicode categories that carry nothing to say: controls, format (zero-width) characters, separators,
# unassigned and surrogate code points. Text made only of these is refused instead of spoken as noise.
_SILENT = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"})
# The fastest speech is about 30 characters a second: text longer than this many characters per second
# of MAX_AUDIO_SECONDS cannot fit in a job, so it is refused before any generation.
FASTEST_CHARS_PER_SECOND = 30


@dataclass(frozen=True)
class Rule:
    """One request field: its kind, default and allowed values."""

    kind: str  # "str", "bool", "int", "float", "audio" (base64 or URL text, or raw bytes from msgpack)
    default: Any = _REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    choices: Callable[[], tuple] | tuple | None = None
    nullable: bool = False  # JSON null is allowed and means "not given"
    aliases: Mapping[Any, Any] = field(default_factory=dict)  # accepted spellings -> value
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


def _formats() -> tuple:
    from fish_speech.audio import FORMATS

    return tuple(FORMATS)


_CACHE_WORDS = {"on": True, "off": False, "on-demand": True, "never": False}

# The text-to-speech request, as every surface accepts it.
TTS_RULES: dict[str, Rule] = {
    "text": Rule("str", doc="text to speak"),
    "reference_text": Rule("str", "", nullable=True, doc="transcript of the reference audio"),
    "system_audio": Rule("str", None, nullable=True, doc="reference audio: base64 of an audio file, or an https URL"),
    "reference_id": Rule("str", None, nullable=True, doc="name of a stored voice"),
    "streaming": Rule("bool", True, doc="send audio chunks as they are ready"),
    "format": Rule("str", "wav", choices=_formats, doc="audio file format"),
    "temperature": Rule("float", 0.7, 0.0, 2.0, doc="sampling temperature, 0 = greedy"),
    "top_p": Rule("float", 0.7, 0.01, 1.0, doc="nucleus sampling mass"),
    "repetition_penalty": Rule("float", 1.2, 0.9, 2.0, doc="penalty for repeated codes (1.5, S1-mini)"),
    "top_k": Rule("int", None, 1, 4096, nullable=True, doc="keep the k most likely codes (S2-Pro; default 30)"),
    "chunk_length": Rule("int", 200, 0, 1000, doc="UTF-8 bytes of text per chunk, 0 = one chunk"),
    "max_new_tokens": Rule("int", 0, 0, None, doc="most frames per text chunk, 0 = until the end"),
    "seed": Rule("int", None, 0, 2**32 - 1, nullable=True, doc="random seed for repeatable output"),
    "normalize": Rule("bool", True, doc="spell out numbers, dates and currency (English)"),
    "use_memory_cache": Rule("bool", True, aliases=_CACHE_WORDS, doc="reuse encoded references, keyed by content"),
}


def check_value(name: str, rule: Rule, value: Any) -> Any:
    """Return `value` converted to the rule's kind, or raise a 400 naming the field."""
    if value is None:
        if rule.nullable:
            return None
        raise bad_input(name, f"must be a {rule.kind}, not null")
    if isinstance(value, str) and value in rule.aliases:
        return rule.aliases[value]
    kind = rule.kind
    if kind == "audio":
        if not isinstance(value, (str, bytes, bytearray)):
            raise bad_input(name, f"must be base64 audio (a string), not {type(value).__name__}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise bad_input(name, f"must be true or false, not {type(value).__name__}")
    elif kind == "str":
        if not isinstance(value, str):
            raise bad_input(name, f"must be a string, not {type(value).__name__}")
        check_string(value, name)
    elif kind in ("int", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad_input(name, f"must be a number, not {type(value).__name__}")
        if isinstance(value, int) and abs(value) > MAX_MAGNITUDE:
            raise bad_input(name, f"is out of range (more than {MAX_MAGNITUDE:.0f} in size)")
        if isinstance(value, float) and not math.isfinite(value):
            raise bad_input(name, "must be a finite number")
        if kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise bad_input(name, "must be a whole number")
            value = int(value)
        else:
            value = float(value)
        if rule.minimum is not None and value < rule.minimum:
            raise bad_input(name, f"must be at least {rule.minimum:g}, got {value:g}")
        if rule.maximum is not None and value > rule.maximum:
            raise bad_input(name, f"must be at most {rule.maximum:g}, got {value:g}")
    else:  # pragma: no cover - a programming error in a rule table
        raise ValueError(f"unknown rule kind {kind!r}")
    if rule.choices is not None:
        choices = rule.choices() if callable(rule.choices) else rule.choices
        if isinstance(value, str):
            value = value.strip().lower()
        if value not in choices:
            raise bad_input(name, f"must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def check_string(value: str, name: str) -> str:
    """Refuse text that cannot be encoded as UTF-8 (lone surrogates such as a JSON "\\ud800")."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise bad_input(name, f"holds an invalid character (U+{ord(err.object[err.start]):04X}) at {err.start}")
    return value


def speakable(text: str) -> bool:
    """Whether `text` holds at least one character that is not a control, zero-width or space."""
    return any(unicodedata.category(ch) not in _SILENT for ch in text)


def parse_fields(
    raw: Mapping[str, Any], rules: Mapping[str, Rule], ignore: set[str] | frozenset = frozenset()
) -> tuple[dict[str, Any], list[str]]:
    """Check `raw` against `rules`: (values with defaults filled, sorted unknown field names).

    Names in `ignore` are neither checked nor reported (fields another mode reads).
    """
    if not isinstance(raw, Mapping):
        raise bad_input("input", f"must be a JSON object, not {type(raw).__name__}")
    values: dict[str, Any] = {}
    for name, rule in rules.items():
        if name not in raw or (raw[name] is None and rule.nullable):
            if rule.required:
                raise bad_input(name, "is required")
            values[name] = rule.default
            continue
        values[name] = check_value(name, rule, raw[name])
    unknown = sorted(k for k in raw if k not in rules and k not in ignore)
    return values, unknown


def check_text(text: str, limits: Limits, name: str = "text") -> str:
    """Reject empty text, text with nothing to say (controls, zero-width) and text over the length limit."""
    check_string(text, name)
    if not text.strip():
        raise bad_input(name, "must not be empty")
    if not speakable(text):
        raise bad_input(name, "holds only control, zero-width or space characters; nothing to say")
    if limits.max_text_length and len(text) > limits.max_text_length:
        raise bad_input(name, f"is {len(text)} characters long; the limit is {limits.max_text_length}")
    return text


def parse_tts(
    raw: Mapping[str, Any], limits: Limits | None = None, ignore=frozenset()
) -> tuple[dict[str, Any], list[str]]:
    """`parse_fields` with `TTS_RULES` plus the cross-field and limit checks of a tts request."""
    limits = limits or Limits()
    values, unknown = parse_fields(raw, TTS_RULES, ignore)
    check_tts_limits(values, limits)
    return values, unknown


def check_max_new_tokens(values: Mapping[str, Any], limits: Limits) -> None:
    """The operator's cap on `max_new_tokens` (MAX_NEW_TOKENS_LIMIT; 0: no cap)."""
    cap = limits.max_new_tokens
    if cap and values["max_new_tokens"] > cap:
        raise bad_input("max_new_tokens", f"must be at most {cap}, got {values['max_new_tokens']}")


def check_reference_text(text: str | None, limits: Limits, name: str = "reference_text") -> None:
    """A reference transcript is short: MAX_REFERENCE_TEXT_LENGTH characters at most."""
    cap = limits.max_reference_text_length
    if text and cap and len(text) > cap:
        raise FishError(413, name, f"is {len(text)} characters long; the limit is {cap} (MAX_REFERENCE_TEXT_LENGTH)")


def check_normalized(text: str, normalize: bool, limits: Limits, name: str = "text") -> None:
    """The text limit holds after normalisation (which spells out numbers and symbols), and text whose
    fastest reading is longer than MAX_AUDIO_SECONDS is refused before any generation."""
    if normalize:
        from fish_speech.text.normalize import normalize_text

        text = normalize_text(text, "auto")
    cap = limits.max_text_length
    if cap and len(text) > cap:
        raise FishError(
            413, name, f"is {len(text)} characters long after normalisation; the limit is {cap} (MAX_TEXT_LENGTH)"
        )
    seconds = limits.max_audio_seconds
    if seconds and len(text) > seconds * FASTEST_CHARS_PER_SECOND:
        raise FishError(
            413, name, f"needs more than the {seconds:g} s of audio one job may generate (MAX_AUDIO_SECONDS)"
        )


def chunk_length_for(value: int, limits: Limits) -> int:
    """Chunks shorter than MIN_CHUNK_LENGTH bytes are merged up to it (0 still means one chunk)."""
    return max(value, limits.min_chunk_length) if value else 0


def check_tts_limits(values: Mapping[str, Any], limits: Limits, text_field: str = "text") -> None:
    """The limits of a tts request on every surface: text length (raw and normalised), transcript, frame cap."""
    check_text(values["text"], limits, text_field)
    check_reference_text(values.get("reference_text"), limits)
    check_max_new_tokens(values, limits)
    check_normalized(values["text"], values.get("normalize", True), limits, text_field)


def sampling_from(values: Mapping[str, Any], default_seed: int | None = None) -> Sampling:
    """The engine's `Sampling` from checked values (`default_seed` when the request sends no seed)."""
    return Sampling(
        temperature=values["temperature"],
        top_p=values["top_p"],
        repetition_penalty=values["repetition_penalty"],
        max_new_tokens=values["max_new_tokens"],
        seed=default_seed if values["seed"] is None else values["seed"],
        top_k=values.get("top_k"),
    )


# Sampling knobs that only some families honour (`ModelFamily.sampling_fields` says which).
FAMILY_KNOBS = ("repetition_penalty", "top_k")


def check_family_fields(values: Mapping[str, Any], family_name: str, supported) -> None:
    """A knob the loaded family ignores is a 400 naming it, but only when the request changed it:
    a field left out (or sent at its default, as pages and old clients do) never fails."""
    for name in FAMILY_KNOBS:
        if name in values and name not in supported and values[name] != TTS_RULES[name].default:
            raise bad_input(name, f"is not supported by the loaded model family {family_name}; leave it out")
