"""Plain data crossing the agent engine boundary: one request in, a stream of events out.

Both backends (fish-agent and the LLM cascade) take an `AgentRequest` and yield, in the order
the reply is produced: `TextEvent`s and `AudioEvent`s, then exactly one `DoneEvent`.
Audio is numpy float32 mono; codes are raw codec values (no +1 shift), int [num_codebooks, frames]
(8 rows for the 1.5 codec, 10 for the modded DAC of S1-mini / S2-Pro).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fish_speech.engine.types import Sampling
from fish_speech.store.conversation import Conversation, Message


@dataclass
class AgentRequest:
    message: str = ""  # the user's text ("" when they only speak)
    message_audio: bytes | None = None  # the user's speech: an audio file's bytes
    system_message: str | None = None  # None: the stored one, else the default
    system_audio: bytes | None = None  # the voice to answer in: an audio file's bytes
    reference_text: str = ""  # transcript of system_audio (only the cascade's tts uses it)
    conversation_id: str | None = None  # server-side memory
    history: list[Message] | None = None  # client-held memory (instead of conversation_id)
    # The stored conversation, loaded off the model thread by the service (fish_speech.service.agent),
    # which then also stores the turn; None: the engine uses its store itself (direct engine use).
    conversation: Conversation | None = None
    # Voices encoded for this turn, cached only when the whole job succeeds (None: cached at once).
    new_voices: list | None = None
    sampling: Sampling = field(default_factory=Sampling)  # for the speech codes (or the LLM's text)


@dataclass
class TextEvent:
    text: str


@dataclass
class AudioEvent:
    audio: np.ndarray  # float32 mono at sample_rate
    sample_rate: int
    codes: np.ndarray | None = None  # the frames this audio was decoded from, when known


@dataclass
class DoneEvent:
    text: str  # the whole reply text
    conversation_id: str | None
    messages: list[Message]  # the conversation after this turn: system first, then every turn
    reply: Message  # this turn's assistant message (text and VQ parts in generated order)
    finish_reason: str  # "stop" (the model ended its turn) or "length" (hit the token cap)
    timings: dict = field(default_factory=dict)
