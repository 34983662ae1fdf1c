"""Where a turn's context comes from and where it goes: the conversation store (by
`conversation_id`), a client-held `history`, or nothing. Shared by both agent backends.

The system message is kept apart from the turns: it is written once per conversation (not
appended again every turn) and a request may replace its text, its voice, or both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fish_speech.errors import bad_input
from fish_speech.store.base import ConversationStore
from fish_speech.store.conversation import (
    Message,
    TextPart,
    VQPart,
    message_from_dict,
    message_to_dict,
)

FRAME_RATE = 44100 / 2048  # codec frames per second of audio
AUDIO_MARKER = re.compile(r"<audio \d+(?:\.\d+)?s>")
MAX_HISTORY_MESSAGES = 1000


def reply_room(budget: int, context: int) -> int:
    """Positions kept free for the reply when trimming a prompt: the reply budget, but never more than
    half the context, so a short conversation always fits (a small model's context can be no larger
    than the reply cap); generation is then clipped to whatever room the prompt leaves."""
    return min(budget, context // 2)


def audio_marker(frames: int) -> str:
    return f"<audio {frames / FRAME_RATE:.2f}s>"


def render_content(message: Message) -> str:
    """Text parts as they are, each VQ part as `<audio X.XXs>`."""
    return "".join(p.text if isinstance(p, TextPart) else audio_marker(p.frames) for p in message.parts)


def display_history(messages: list[Message], with_codes: bool = False) -> list[dict]:
    """`[{role, content}]`; with_codes adds `parts` (codes as [num_codebooks][n] integer lists: 8 rows
    for 1.5, 10 for S1-mini / S2-Pro), which can be sent back as `history` to continue the conversation
    without server state."""
    out = []
    for m in messages:
        entry = {"role": m.role, "content": render_content(m)}
        if with_codes:
            entry["parts"] = message_to_dict(m, codes_as="list")["parts"]
        out.append(entry)
    return out


def _check_text_in(entry, field_name: str) -> None:
    """Strings that cannot be UTF-8 (lone surrogates) are refused here, not when the turn is stored."""
    texts = [entry.get("content")] if isinstance(entry, dict) else []
    if isinstance(entry, dict) and isinstance(entry.get("parts"), list):
        texts += [p.get("text") for p in entry["parts"] if isinstance(p, dict)]
    for text in texts:
        if isinstance(text, str):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise bad_input(field_name, "holds an invalid character (a lone surrogate)") from None


def parse_history(value, field_name: str = "history") -> list[Message]:
    """A client-held history: entries with `parts` (as returned with return_codes) or plain
    `content` text (audio markers are dropped: the codes are not in it)."""
    if not isinstance(value, list):
        raise bad_input(field_name, "must be a list of {role, content} objects")
    if len(value) > MAX_HISTORY_MESSAGES:
        raise bad_input(field_name, f"has {len(value)} messages; at most {MAX_HISTORY_MESSAGES}")
    messages = []
    for entry in value:
        _check_text_in(entry, field_name)
        if isinstance(entry, dict) and "parts" in entry:
            messages.append(message_from_dict(entry, field_name))
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("content"), str):
            raise bad_input(field_name, "each entry needs a role and a string content (or parts)")
        messages.append(message_from_dict({"role": entry.get("role"), "parts": []}, field_name))
        text = AUDIO_MARKER.sub("", entry["content"])
        if text:
            messages[-1].parts.append(TextPart(text))
    return messages


@dataclass
class Turn:
    """What one turn starts from; `close` stores it."""

    conversation_id: str | None
    system: Message | None
    history: list[Message] = field(default_factory=list)
    store: ConversationStore | None = None
    deferred: bool = False  # the caller stores the turn (see `AgentRequest.conversation`)

    @property
    def voice(self) -> list[VQPart]:
        return [p for p in self.system.parts if isinstance(p, VQPart)] if self.system else []

    def close(self, user: Message, reply: Message) -> list[Message]:
        """Persist the turn (atomic append: a concurrent turn is kept too); returns the whole
        conversation as this job knows it, system first."""
        if self.conversation_id is not None and self.store is not None and not self.deferred:
            self.store.append(self.conversation_id, [user, reply], system=self.system)
        return ([self.system] if self.system else []) + self.history + [user, reply]


def open_turn(request, voice: VQPart | None, default_system: str, store: ConversationStore | None) -> Turn:
    """Load the context of an `AgentRequest` and settle the system message: the request's text (else the
    stored one, else the default) followed by the request's voice (else the stored voice, if any).
    `request.conversation`: the conversation already loaded by the caller, who then stores the turn too."""
    conversation_id, history, system_message = request.conversation_id, request.history, request.system_message
    preloaded = request.conversation
    if history is not None and conversation_id is not None:
        raise bad_input("history", "send either history or conversation_id, not both")
    stored_system, turns = None, []
    if history is not None:
        systems = [m for m in history if m.role == "system"]
        stored_system = systems[0] if systems else None
        turns = [m for m in history if m.role != "system"]
    elif conversation_id is not None:
        if store is None:
            raise bad_input("conversation_id", "this worker keeps no conversations (no store configured)")
        conv = preloaded if preloaded is not None else store.load(conversation_id)
        stored_system, turns = conv.system, conv.messages
    if system_message is not None:
        text = system_message
    elif stored_system is not None:
        text = stored_system.text
    else:
        text = default_system
    if voice is not None:
        voices = [voice]
    else:
        voices = [p for p in stored_system.parts if isinstance(p, VQPart)] if stored_system else []
    parts = ([TextPart(text)] if text else []) + voices
    system = Message("system", parts) if parts else None
    return Turn(conversation_id, system, turns, store, deferred=preloaded is not None)
