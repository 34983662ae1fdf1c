"""Conversation -> the [N+1, length] int tensor the fish-agent model reads (agent-inference layout).

Each message is `<|im_start|>{role}\\n`, its parts in order, then `<|im_end|>`; messages follow one
another with no separator and there is no BOS. A text part is its BPE ids in row 0. A VQ part of
n frames is n columns of `<|semantic|>` whose rows 1..N hold the codes + 1 (0 is the padding
value the model saw outside audio). The prompt ends with an open `<|im_start|>assistant\\n`.

Trimming: when the conversation does not fit the context (minus the room kept for the reply),
the oldest turns after the system message are dropped; the system message and the new user turn
always stay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fish_speech.agent.tokenizer import AgentTokenizer
from fish_speech.errors import FishError
from fish_speech.store.conversation import Message, TextPart, VQPart

CODE_SHIFT = 1  # stored codes are raw codec values; the agent model reads them + 1


def encode_message(message: Message, tok: AgentTokenizer, num_codebooks: int, close: bool = True) -> torch.Tensor:
    ids = list(tok.header(message.role))
    codes_at: list[tuple[int, np.ndarray]] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            ids.extend(tok.encode(part.text))
        elif isinstance(part, VQPart):
            codes = part.codes
            if codes.shape[0] != num_codebooks:  # 10 rows are the modded DAC's: another codec, never fed here
                raise FishError(
                    400, "history", f"audio codes have {codes.shape[0]} codebooks, the model needs {num_codebooks}"
                )
            codes_at.append((len(ids), codes))
            ids.extend([tok.semantic_id] * codes.shape[1])
        else:  # pragma: no cover - a programming error
            raise TypeError(f"unknown part {part!r}")
    if close:
        ids.append(tok.im_end_id)
    out = torch.zeros(num_codebooks + 1, len(ids), dtype=torch.int32)
    out[0] = torch.tensor(ids, dtype=torch.int32)
    for start, codes in codes_at:
        # Clip so code+1 stays inside one codebook's 1024 rows of the shared embedding table.
        shifted = np.clip(codes.astype(np.int64), 0, 1022) + CODE_SHIFT
        out[1:, start : start + codes.shape[1]] = torch.from_numpy(shifted).to(torch.int32)
    return out


def generation_prompt(tok: AgentTokenizer, num_codebooks: int) -> torch.Tensor:
    """The open assistant header the model continues from."""
    return encode_message(Message("assistant", []), tok, num_codebooks, close=False)


@dataclass
class Prompt:
    tokens: torch.Tensor  # [N+1, T] int32
    kept: list[Message]  # the history messages that made it into the prompt
    dropped: int  # how many of the oldest history messages were left out


def build_prompt(
    system: Message | None,
    history: list[Message],
    user: Message,
    tok: AgentTokenizer,
    num_codebooks: int,
    max_length: int,
) -> Prompt:
    """system + history + user + open assistant header, at most `max_length` columns."""
    head = [encode_message(system, tok, num_codebooks)] if system is not None else []
    tail = [encode_message(user, tok, num_codebooks), generation_prompt(tok, num_codebooks)]
    fixed = sum(t.shape[1] for t in head + tail)
    if fixed > max_length:
        raise FishError(
            413,
            "message",
            f"system message, voice and new turn need {fixed} tokens; the model has room for {max_length}",
        )
    encoded = [encode_message(m, tok, num_codebooks) for m in history]
    start, used = len(history), fixed
    # Walk back from the newest turn while it fits; everything older is dropped.
    while start > 0 and used + encoded[start - 1].shape[1] <= max_length:
        start -= 1
        used += encoded[start].shape[1]
    # Do not open the kept history with a reply whose question was cut off.
    while start < len(history) and start > 0 and history[start].role == "assistant":
        start += 1
    kept = history[start:]
    tokens = torch.cat(head + encoded[start:] + tail, dim=1)
    return Prompt(tokens, kept, start)
