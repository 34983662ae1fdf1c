"""The agent request as every surface accepts it (RunPod worker, HTTP server): field rules,
limits, base64 audio, and the output options (streaming, format, return_codes).

Built on fish_speech.service.fields (same types, ranges and error shapes as tts). Audio fields take
base64 (or a data: URI); a surface that also allows URLs passes its own `fetch`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fish_speech.agent.memory import parse_history
from fish_speech.agent.types import AgentRequest
from fish_speech.errors import bad_input
from fish_speech.service.audio_input import Fetch, audio_bytes
from fish_speech.service.fields import (
    TTS_RULES,
    Rule,
    check_max_new_tokens,
    check_reference_text,
    check_text,
    parse_fields,
    sampling_from,
)
from fish_speech.settings import Limits
from fish_speech.store.conversation import validate_conversation_id

AGENT_RULES: dict[str, Rule] = {
    "message": Rule("str", "", doc="what the user says (text)"),
    "message_audio": Rule("audio", None, nullable=True, doc="what the user says (base64 audio file)"),
    "system_message": Rule("str", None, nullable=True, doc="how the assistant should behave"),
    "system_audio": Rule("audio", None, nullable=True, doc="the voice to answer in (base64 audio file)"),
    "reference_text": Rule("str", "", nullable=True, doc="transcript of system_audio (llm backend)"),
    "conversation_id": Rule("str", None, nullable=True, doc="keep the conversation on the server"),
    "conversation_token": Rule(
        "str", None, nullable=True, doc="the token the conversation's first turn returned (later turns need it)"
    ),
    "streaming": Rule("bool", True, doc="send text and audio chunks as they are produced"),
    "format": TTS_RULES["format"],
    "return_codes": Rule("bool", False, doc="add the VQ codes (`parts`) to every entry of the done history"),
    "temperature": TTS_RULES["temperature"],
    "top_p": TTS_RULES["top_p"],
    "repetition_penalty": TTS_RULES["repetition_penalty"],
    "top_k": TTS_RULES["top_k"],
    "max_new_tokens": Rule("int", 0, 0, None, doc="most reply tokens (text + audio frames), 0 = server cap"),
    "seed": TTS_RULES["seed"],
}
# Read by other modes or by the surface itself; an agent job neither checks nor reports them.
IGNORED = frozenset({"tts", "history", "text", "chunk_length", "normalize", "use_memory_cache", "reference_id"})


@dataclass
class OutputOptions:
    streaming: bool = True
    format: str = "wav"
    return_codes: bool = False


def parse_agent_request(
    raw: Mapping[str, Any],
    limits: Limits | None = None,
    max_message_chars: int = 0,
    fetch: Fetch | None = None,
) -> tuple[AgentRequest, OutputOptions, list[str]]:
    """Check a raw request; returns (request, output options, unknown field names).

    `max_message_chars` caps `message` (0: the tts text limit); `fetch` downloads audio URLs
    (None: audio is base64 text or raw bytes only)."""
    limits = limits or Limits()
    values, unknown = parse_fields(raw, AGENT_RULES, IGNORED)
    text_limits = Limits(max_text_length=max_message_chars or limits.max_text_length)
    if values["message_audio"] is None or values["message"]:
        check_text(values["message"], text_limits, "message")  # required unless the user speaks
    system = values["system_message"]
    if system is not None and text_limits.max_text_length and len(system) > text_limits.max_text_length:
        raise bad_input("system_message", f"is longer than {text_limits.max_text_length} characters")
    if values["conversation_id"] is not None:
        validate_conversation_id(values["conversation_id"])
    check_max_new_tokens(values, limits)
    check_reference_text(values["reference_text"], limits)
    history = raw.get("history")
    history = None if history is None else parse_history(history)

    def audio(name):
        value = values[name]
        if value is None:
            return None
        return audio_bytes(value, name, limits.max_reference_bytes, fetch)

    request = AgentRequest(
        message=values["message"],
        message_audio=audio("message_audio"),
        system_message=values["system_message"],
        system_audio=audio("system_audio"),
        reference_text=values["reference_text"] or "",
        conversation_id=values["conversation_id"],
        history=history,
        sampling=sampling_from(values),
    )
    return request, OutputOptions(values["streaming"], values["format"], values["return_codes"]), unknown
