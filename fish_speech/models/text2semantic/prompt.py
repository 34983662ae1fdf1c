"""Conversation -> the [N+1, length] integer tensor the dual-AR model reads (TTS layout, v1.5.1).

Row 0 holds token ids; rows 1..N hold the codebook values under semantic tokens and zeros
elsewhere. Each text part is tokenized on its own and the ids concatenated; there is no newline
after `<|im_end|>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from fish_speech.errors import FishError
from fish_speech.models.codes import check_code_array
from fish_speech.models.text2semantic.tokenizer import IM_END, IM_START, VOICE, FishTokenizer
from fish_speech.text.clean import clean_text

SYSTEM_TEXT = "Speak out the provided text."


@dataclass
class Message:
    role: str
    parts: list = field(default_factory=list)  # str | np.ndarray codes [N, F]
    add_im_start: bool = True
    add_im_end: bool = True


def encode_messages(messages: list[Message], tokenizer: FishTokenizer, num_codebooks: int) -> torch.Tensor:
    ids: list[int] = []
    code_cols: list[tuple[int, np.ndarray]] = []  # (start column, codes [N, F])
    for m in messages:
        parts = (
            ([f"{IM_START}{m.role}\n"] if m.add_im_start else []) + list(m.parts) + ([IM_END] if m.add_im_end else [])
        )
        for part in parts:
            if isinstance(part, str):
                ids.extend(tokenizer.encode(part))
                continue
            codes = np.asarray(part)
            if codes.ndim == 3 and codes.shape[0] == 1:
                codes = codes[0]
            if codes.ndim != 2 or codes.shape[0] < num_codebooks:
                raise FishError(
                    400, "codes", f"prompt codes must be [{num_codebooks}, frames], got {list(codes.shape)}"
                )
            codes = check_code_array(codes[:num_codebooks], (1024,) * num_codebooks, what="prompt codes")
            code_cols.append((len(ids), codes))
            ids.extend((codes[0] + tokenizer.semantic_begin_id).tolist())
    out = torch.zeros(num_codebooks + 1, len(ids), dtype=torch.int32)
    out[0] = torch.tensor(ids, dtype=torch.int32)
    for start, codes in code_cols:
        out[1:, start : start + codes.shape[1]] = torch.from_numpy(codes).to(torch.int32)
    return out


def system_prompt(tokenizer: FishTokenizer, num_codebooks: int) -> torch.Tensor:
    return encode_messages([Message("system", [SYSTEM_TEXT])], tokenizer, num_codebooks)


def reference_prompt(text: str, codes: np.ndarray, tokenizer: FishTokenizer, num_codebooks: int) -> torch.Tensor:
    msgs = [Message("user", [clean_text(text)]), Message("assistant", [VOICE, codes])]
    return encode_messages(msgs, tokenizer, num_codebooks)


def chunk_prompt(text: str, tokenizer: FishTokenizer, num_codebooks: int) -> torch.Tensor:
    msgs = [Message("user", [clean_text(text)]), Message("assistant", [VOICE], add_im_end=False)]
    return encode_messages(msgs, tokenizer, num_codebooks)


def prefix_columns(head: list[torch.Tensor], tokenizer: FishTokenizer, num_codebooks: int) -> int:
    """How many columns of a prompt built on `head` (system + reference prompts) precede the text:
    the head and the opening of the first chunk's user turn (the first chunk is always kept in the
    context, `select_context`)."""
    opening = encode_messages([Message("user", add_im_end=False)], tokenizer, num_codebooks)
    return sum(p.shape[1] for p in head) + opening.shape[1]


def select_context(history: list[torch.Tensor], budget: int) -> list[torch.Tensor]:
    """Which of [chunk_0, gen_0, chunk_1, gen_1, ..., chunk_k] to keep (upstream's rule, quirks included).

    Walk from the newest, stop where the running count (the current element counted twice, as
    upstream) exceeds the budget; keep an odd count so a chunk stays with its generation; always
    keep the first chunk and its generation to avoid drift.
    """
    count, i = 0, 0
    for i, t in enumerate(reversed(history)):
        count += t.shape[1]
        if count + t.shape[1] > budget:
            break
    if i != 0 and i % 2 == 0:
        i -= 1
    if i < len(history) - 2:
        tail = history[-i:]  # i == 0 keeps everything again: upstream's [-0:] quirk
        return history[:2] + tail
    return list(history)
