"""Long texts: split into chunks and generate each with the earlier chunks as context (v1.5.1 rules).

Prompt per chunk = system message + reference turns + selected history + this chunk's turn, where
history alternates chunk turns and their generated frames (`prompt.select_context`). System message
+ reference turns are the same for every chunk and every request with that voice: the prefix the
generator may serve from its prefix cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from fish_speech.errors import FishError
from fish_speech.models.text2semantic.detect import FISH_15
from fish_speech.models.text2semantic.generate import WAIT, Generator
from fish_speech.models.text2semantic.prompt import (
    chunk_prompt,
    prefix_columns,
    reference_prompt,
    select_context,
    system_prompt,
)
from fish_speech.text.split import split_text

MAX_LENGTH = 4096  # the inference engine's context budget base (the CLI used 2048 upstream)


@dataclass
class CodesBlock:
    chunk_index: int
    text: str
    codes: np.ndarray  # int [N, k]; the chunk's frames arrive in order over several blocks
    chunk_done: bool


def split_chunks(text: str, chunk_length: int) -> list[str]:
    chunks = split_text(text, chunk_length) if chunk_length > 0 else [text]
    chunks = [c for c in chunks if c.strip()]
    if not chunks:
        raise FishError(400, "text", "nothing to speak: the text is empty after cleaning")
    return chunks


def generate_long(
    generator: Generator,
    text: str,
    references: list[tuple[str, np.ndarray]] = (),
    max_new_tokens: int = 0,
    chunk_length: int = 200,
    sync_every: int = 8,
    max_length: int = MAX_LENGTH,
) -> Iterator[CodesBlock]:
    """Yield the codes of every chunk as they are generated. Sampling knobs are set on `generator`
    (a `Generator`, or a batch `Slot`, whose `WAIT` items are passed on). S1-mini and S2-Pro follow
    their own upstream rules (`long_form_s2`)."""
    lm = generator.lm
    if lm.family != FISH_15:
        from fish_speech.models.text2semantic.long_form_s2 import generate_long_new

        yield from generate_long_new(generator, text, references, max_new_tokens, chunk_length, sync_every)
        return
    tok, n = lm.tokenizer, lm.args.num_codebooks
    max_length = min(max_length, lm.args.max_seq_len)
    prompts = [system_prompt(tok, n)] + [reference_prompt(t, c, tok, n) for t, c in references]
    head = prefix_columns(prompts, tok, n)  # the voice's prefix: nothing in it depends on the text
    budget = max_length - min(1024, max_length // 4) - head
    history: list[torch.Tensor] = []
    for index, chunk in enumerate(split_chunks(text, chunk_length)):
        history.append(chunk_prompt(chunk, tok, n))
        prompt = torch.cat(prompts + select_context(history, budget), dim=1)
        frames = []
        for block in generator.generate(prompt, max_new_tokens, sync_every, prefix=head):
            if block is WAIT:  # a batch slot: frames still being computed
                yield WAIT
                continue
            frames.append(block)
            yield CodesBlock(index, chunk, block[1:].numpy(), False)
        if generator.end_frame is not None:
            frames.append(generator.end_frame)
        generated = torch.cat(frames, dim=1) if frames else torch.zeros(n + 1, 0, dtype=torch.int32)
        history.append(generated)
        yield CodesBlock(index, chunk, np.zeros((n, 0), dtype=np.int32), True)
