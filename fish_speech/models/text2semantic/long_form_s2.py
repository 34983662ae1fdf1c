"""Long texts for S2-Pro and S1-mini, with upstream's batching and context rules (s2.md §5.4, §5.5).

S2-Pro: the text is cut into speaker turns (`<|speaker:i|>` tags) grouped into batches of at most 5
turns / `chunk_length` UTF-8 bytes (no tag: one batch); each batch is generated with the whole
conversation so far (system, every earlier user turn and every earlier generated voice turn:
nothing is trimmed). S1-mini: the whole text is one generation.

Blocks carry the codes as the codec reads them: residual rows (1..N-1) clamped to 1023, as the
codec does upstream (S2 draws them over 4096 fast logits); the conversation keeps the raw frames.
A prompt longer than the context minus a generation reserve is an error, as upstream.
The prefix a generator may serve from its prefix cache, everything before the first text-dependent
token: S2's system message (it holds the references) and the first user turn's `<|im_start|>user\n`,
S1's `<|interleave|>` + reference turns + the speaker tag.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from fish_speech.errors import FishError
from fish_speech.models.text2semantic.detect import S2_PRO
from fish_speech.models.text2semantic.prompt_s2 import (
    encode_parts,
    s1_parts,
    s2_assistant_parts,
    s2_batches,
    s2_system_parts,
    s2_user_parts,
)

GENERATION_RESERVE = 2048  # upstream refuses prompts longer than max_seq_len - this
RESIDUAL_MAX = 1023  # residual codebooks have 1024 entries


def prompt_limit(max_seq_len: int) -> int:
    """Upstream's limit for real models; tiny test models (context <= 2048) keep 3/4 of theirs."""
    return max_seq_len - min(GENERATION_RESERVE, max_seq_len // 4)


def codec_codes(frames: torch.Tensor) -> np.ndarray:
    """Frames [N+1, k] -> the codes [N, k] handed to the codec."""
    codes = frames[1:].numpy().copy()
    codes[1:] = np.minimum(codes[1:], RESIDUAL_MAX)
    return codes


def _run(generator, prompt, index, text, max_new_tokens, sync_every, frames: list, prefix: int) -> Iterator:
    from fish_speech.models.text2semantic.generate import WAIT
    from fish_speech.models.text2semantic.long_form import CodesBlock

    limit = prompt_limit(generator.lm.args.max_seq_len)
    if prompt.shape[1] > limit:
        raise FishError(413, "text", f"prompt is {prompt.shape[1]} tokens; this model takes at most {limit}")
    for block in generator.generate(prompt, max_new_tokens, sync_every, prefix=prefix):
        if block is WAIT:
            yield WAIT
            continue
        frames.append(block)
        yield CodesBlock(index, text, codec_codes(block), False)
    n = generator.lm.args.num_codebooks
    yield CodesBlock(index, text, np.zeros((n, 0), dtype=np.int32), True)


def generate_long_new(
    generator,
    text: str,
    references: list[tuple[str, np.ndarray]] = (),
    max_new_tokens: int = 0,
    chunk_length: int = 300,
    sync_every: int = 8,
) -> Iterator:
    """`long_form.generate_long` for the S1-mini and S2-Pro families."""
    lm = generator.lm
    tok, n, c = lm.tokenizer, lm.args.num_codebooks, lm.args.codebook_size
    refs = list(references)
    if not text.strip():
        raise FishError(400, "text", "nothing to speak: the text is empty")
    if lm.family != S2_PRO:
        parts = s1_parts(text, refs)  # ends with the speaker tag and the text; parts are tokenized alone
        head = encode_parts(parts[:-1], tok, n, c).shape[1]  # the prefix: everything before the text
        prompt = encode_parts(parts, tok, n, c)
        yield from _run(generator, prompt, 0, text, max_new_tokens, sync_every, [], head)
        return
    conversation = [encode_parts(s2_system_parts(refs), tok, n, c)]
    header = encode_parts(s2_assistant_parts(), tok, n, c)
    # the prefix: the system message and the first user turn's opening (parts are tokenized alone)
    head = conversation[0].shape[1] + encode_parts(s2_user_parts("")[:1], tok, n, c).shape[1]
    for index, batch in enumerate(s2_batches(text, chunk_length)):
        user = encode_parts(s2_user_parts(batch), tok, n, c)
        frames: list[torch.Tensor] = []
        prompt = torch.cat(conversation + [user, header], dim=1)
        yield from _run(generator, prompt, index, batch, max_new_tokens, sync_every, frames, head)
        generated = torch.cat(frames, dim=1) if frames else torch.zeros(n + 1, 0, dtype=torch.int32)
        conversation += [user, encode_parts(s2_assistant_parts(generated[1:].numpy()), tok, n, c)]
