"""Field tables of the HTTP routes, built from the shared rules in `fish_speech.service.fields`.

The same tables validate bodies (through `parse_fields`, so errors match the worker's) and
describe them in the OpenAPI document (`json_schema`), so /docs cannot drift from the checks.
Structured fields (reference lists, code arrays) are checked by hand in the routes and only
described here.
"""

from __future__ import annotations

from typing import Any, Mapping

from fish_speech.service.fields import TTS_RULES, Rule

# Upstream clients send these; they have no effect here, so they are accepted and dropped.
IGNORED_TTS_FIELDS = frozenset({"mp3_bitrate", "opus_bitrate", "latency", "references"})

# POST /v1/tts: upstream's ServeTTSRequest. Defaults follow upstream's HTTP schema where it
# differs from the worker (no streaming, 1024 new tokens at most).
HTTP_TTS_RULES: dict[str, Rule] = {
    "text": TTS_RULES["text"],
    "reference_id": TTS_RULES["reference_id"],
    "format": TTS_RULES["format"],
    "streaming": Rule("bool", False, doc="send audio as it is generated (chunked transfer)"),
    "chunk_length": TTS_RULES["chunk_length"],
    "max_new_tokens": Rule("int", 1024, 0, None, doc="most frames per text chunk, 0 = until the end"),
    "top_p": TTS_RULES["top_p"],
    "repetition_penalty": TTS_RULES["repetition_penalty"],
    "top_k": TTS_RULES["top_k"],
    "temperature": TTS_RULES["temperature"],
    "seed": TTS_RULES["seed"],
    "normalize": TTS_RULES["normalize"],
    "use_memory_cache": TTS_RULES["use_memory_cache"],
    "speaker": Rule("str", None, nullable=True, doc="ref_data speaker: a random clip of it is the reference"),
    "emotion": Rule("str", None, nullable=True, doc="ref_data emotion folder under `speaker`"),
    "stream_frames": Rule(
        "int",
        None,
        0,
        4096,
        nullable=True,
        doc="streaming: audio after 8 frames, then every N frames; null = the server's STREAM_FRAMES "
        "(24); 0 = once per text chunk",
    ),
}

# Fish fields an OpenAI client may add through `extra_body`.
_FISH_EXTRAS = (
    "temperature",
    "top_p",
    "repetition_penalty",
    "top_k",
    "max_new_tokens",
    "chunk_length",
    "seed",
    "normalize",
    "stream_frames",
)

# POST /v1/audio/speech: OpenAI's request, plus the Fish sampling fields as extensions.
OPENAI_RULES: dict[str, Rule] = {
    "model": Rule("str", "fish-speech-1.5", doc="accepted and ignored: one model is loaded"),
    "input": Rule("str", doc="text to speak"),
    "voice": Rule("str", None, nullable=True, doc="a saved reference id; OpenAI's built-in names mean no reference"),
    "response_format": Rule("str", "mp3", doc="mp3, wav, flac, opus, pcm ... (those the server encodes)"),
    "speed": Rule("float", 1.0, 0.25, 4.0, doc="tempo change without pitch change"),
    "instructions": Rule("str", None, nullable=True, doc="accepted and ignored"),
    "stream_format": Rule("str", "audio", choices=("audio",), doc="only raw audio streaming is offered"),
    **{name: HTTP_TTS_RULES[name] for name in _FISH_EXTRAS},
}

# OpenAI's preset voice names: a client that sends one gets the model's own random voice.
OPENAI_PRESET_VOICES = frozenset(
    "alloy ash ballad coral echo fable onyx nova sage shimmer verse marin cedar default".split()
)

REFERENCE_ADD_RULES: dict[str, Rule] = {
    "id": Rule("str", doc="voice name: letters, digits, '-', '_', '.'; no path separators"),
    "text": Rule("str", "", doc="transcript of the audio"),
    "overwrite": Rule(
        "bool",
        False,
        aliases={"true": True, "false": False},  # multipart form fields are text
        doc="replace a saved voice of the same id (otherwise that is a 409)",
    ),
}

VQGAN_DECODE_RULES: dict[str, Rule] = {
    "format": Rule("str", None, nullable=True, doc="omit for raw float16 PCM (upstream); or wav, mp3 ..."),
}

_KINDS = {"str": "string", "bool": "boolean", "int": "integer", "float": "number", "audio": "string"}


def _rule_schema(rule: Rule) -> dict:
    out: dict[str, Any] = {"type": _KINDS[rule.kind]}
    if rule.minimum is not None:
        out["minimum"] = rule.minimum
    if rule.maximum is not None:
        out["maximum"] = rule.maximum
    if rule.choices is not None:
        try:
            out["enum"] = list(rule.choices() if callable(rule.choices) else rule.choices)
        except ImportError:  # the audio module is optional while documenting
            pass
    if rule.aliases:  # accepted spellings, e.g. upstream's "on"/"off" for a boolean
        words = list(rule.aliases)
        alt = {"type": "string", "enum": words} if all(isinstance(w, str) for w in words) else {"enum": words}
        out = {"anyOf": [out, alt]}
    if rule.nullable:
        out = {"anyOf": [*out.get("anyOf", [out]), {"type": "null"}]}
    if not rule.required:
        out["default"] = rule.default
    if rule.doc:
        out["description"] = rule.doc
    return out


def json_schema(rules: Mapping[str, Rule], extra: Mapping[str, dict] | None = None, required=()) -> dict:
    """A JSON schema object for a body checked by `rules` (+ hand-described `extra` fields)."""
    props = {name: _rule_schema(rule) for name, rule in rules.items()}
    props.update(extra or {})
    need = [n for n, r in rules.items() if r.required] + list(required)
    return {"type": "object", "properties": props, "required": need}


BYTES_DOC = {"type": "string", "format": "byte", "description": "base64 in JSON, raw bytes in msgpack"}
REFERENCES_DOC = {
    "type": "array",
    "description": "in-context voice prompts: audio file bytes and what is said in them",
    "items": {"type": "object", "properties": {"audio": BYTES_DOC, "text": {"type": "string"}}, "required": ["audio"]},
    "default": [],
}
CODES_DOC = {
    "type": "array",
    "description": "one code array per item, shaped [num_codebooks][frames], values 0..codebook_size-1",
    "items": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
}


def request_body(schema: dict, description: str = "") -> dict:
    """`openapi_extra` for a route whose body is read by hand (JSON or msgpack)."""
    content = {t: {"schema": schema} for t in ("application/json", "application/msgpack")}
    return {"requestBody": {"required": True, "description": description, "content": content}}
