"""Interleaved text/speech generation with the fish-agent model (agent-inference decode step).

Per step the slow transformer picks the main token with fixed near-greedy sampling (temperature
0.1, top_p 0.1, no penalty: what the checkpoint was run with); the fast transformer then predicts
all 8 codebooks from the slow hidden state (unlike tts, where codebook 0 comes from the main
token), sampled with the request's temperature, top_p and repetition penalty (window: the last 16
frames of that codebook). When the main token is not `<|semantic|>` the codes are zeroed. The
model alone decides when to switch between text and speech.

Reuses the tts model (`forward_slow`, `forward_fast`, `fast_embeddings`) and sampler unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from fish_speech.agent.loader import AgentModel
from fish_speech.agent.prompt import CODE_SHIFT
from fish_speech.models.text2semantic.generate import VALID_CODES, WINDOW, compile_step, frame_blocks, frame_budget
from fish_speech.models.text2semantic.model import key_span
from fish_speech.models.text2semantic.prefix import Prefill, PrefixCache, prefill
from fish_speech.models.text2semantic.sampling import sample

MAIN_SAMPLING = (0.1, 0.1, 1.0)  # temperature, top_p, repetition penalty of the main token


def agent_frame(
    model,
    inp: Tensor,
    input_pos: Tensor,
    full: bool,
    main_knobs: tuple,
    code_knobs: tuple,
    window: Tensor | None,
    main_bias: Tensor,
    code_bias: Tensor,
    semantic_id: int,
    span: int = 0,
) -> Tensor:
    """One step: [B, N+1] int32 = main token + 8 shifted codes (zeros unless main is `<|semantic|>`);
    a cached step reads `span` slow-cache keys (`model.key_span`; 0 = all)."""
    logits, x = model.forward_slow(inp, input_pos, full, span=span)
    main = sample(logits, *main_knobs, None, main_bias)
    out = [main]
    n = model.args.num_codebooks
    for k in range(n):
        code = sample(model.forward_fast(x, k), *code_knobs, None if window is None else window[:, k + 1], code_bias)
        out.append(code)
        if k + 1 < n:
            x = model.fast_embeddings(code).unsqueeze(1)
    frame = torch.stack(out, dim=1).to(torch.int32)
    frame[:, 1:] *= (main == semantic_id).to(torch.int32).unsqueeze(1)
    return frame


def decode_step(model, frame, input_pos, main_knobs, code_knobs, window, main_bias, code_bias, semantic_id, span):
    inp = frame.unsqueeze(-1)
    return agent_frame(
        model, inp, input_pos, False, main_knobs, code_knobs, window, main_bias, code_bias, semantic_id, span
    )


class AgentGenerator:
    """Owns the caches, biases and (optionally compiled) decode step of one agent model, and the
    model's prefix KV cache (the system turn with its voice is the same every turn, and each turn's
    prompt opens the next one's)."""

    def __init__(self, am: AgentModel, compile: bool = False, prefix_cache: PrefixCache | None = None):
        self.am, self.model = am, am.model
        args, dev, tok = am.args, am.device, am.tokenizer
        self.n = args.num_codebooks
        self.model.setup_caches(1, args.max_seq_len)
        # Never draw embedding padding rows (ids past the tokenizer) or a new message header.
        self.main_bias = torch.zeros(args.vocab_size, device=dev, dtype=am.dtype)
        self.main_bias[tok.vocab_size :] = float("-inf")
        self.main_bias[tok.im_start_id] = float("-inf")
        # Shifted codes: 0 is padding and only values the codec can decode (raw 0..999) are allowed.
        self.code_bias = torch.full((args.codebook_size,), float("-inf"), device=dev, dtype=am.dtype)
        self.code_bias[CODE_SHIFT : CODE_SHIFT + min(VALID_CODES, args.codebook_size - CODE_SHIFT)] = 0
        self.window = torch.zeros(1, self.n + 1, WINDOW, dtype=torch.long, device=dev)
        self.main_knobs = tuple(torch.tensor(v, device=dev, dtype=torch.float32) for v in MAIN_SAMPLING)
        self.code_knobs = tuple(torch.tensor(v, device=dev, dtype=torch.float32) for v in (0.7, 0.7, 1.2))
        self.pos = torch.zeros(1, dtype=torch.long, device=dev)
        self.step = compile_step(decode_step, dev) if compile else decode_step
        self.cuda_graphs = compile and dev.type == "cuda"
        self.stopped = False
        self.prefix_cache = prefix_cache
        self.last_prefill = Prefill()

    @torch.inference_mode()
    def generate(
        self,
        prompt: Tensor,
        max_new_tokens: int,
        temperature: float = 0.7,
        top_p: float = 0.7,
        repetition_penalty: float = 1.2,
        steer: Callable[[int], Tensor | None] | None = None,
        sync_every: int = 8,
        prefix: int = 0,
    ) -> Iterator[tuple[int, np.ndarray | None]]:
        """Yield (main token id, raw codes [N] or None) per generated position, until the model
        ends its turn (`self.stopped` = True) or `max_new_tokens` positions were produced.

        `steer(step)` may return an additive bias over the main-token vocabulary (tests use it to
        script what a random model says). `prefix`: leading prompt columns other conversations share
        (the system turn). The prefix cache serves the longest stored prompt that opens this one:
        the conversation's last prompt (kept whole) or its system turn."""
        model, tok = self.model, self.am.tokenizer
        t = prompt.shape[1]
        budget = frame_budget(t, self.am.args.max_seq_len, max_new_tokens, "message")
        for knob, value in zip(self.code_knobs, (temperature, top_p, repetition_penalty)):
            knob.fill_(value)
        self.stopped = False
        self.window.zero_()
        sem = tok.semantic_id

        def bias(i):
            extra = steer(i) if steer is not None else None
            return self.main_bias if extra is None else self.main_bias + extra.to(self.main_bias)

        def first(inp, input_pos, full, span):
            knobs = (self.main_knobs, self.code_knobs)
            return agent_frame(model, inp, input_pos, full, *knobs, None, bias(0), self.code_bias, sem, span)

        # the whole prompt is kept too: the conversation's next turn starts with it
        frame = prefill(model, prompt, prefix, self.prefix_cache, first, record=self.last_prefill, keep_whole=True)
        self.pos.fill_(t)

        def step(i: int) -> torch.Tensor:
            nonlocal frame
            if self.cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()
            # clone: under CUDA graphs the output buffer is overwritten by the next replay
            span = key_span(t + i, model.cache_len)  # frame i reads keys 0 .. t+i-1
            knobs = (self.main_knobs, self.code_knobs)
            frame = self.step(model, frame, self.pos, *knobs, self.window, bias(i), self.code_bias, sem, span).clone()
            self.window[:, :, (i - 1) % WINDOW] = frame[0]
            self.pos += 1
            return frame[0]

        for block, end in frame_blocks(frame[0], step, budget, sync_every, tok.stop_ids()):
            for column in block.T.numpy():
                main = int(column[0])
                yield main, (column[1:].astype(np.int16) - CODE_SHIFT) if main == sem else None
            if end is not None:
                self.stopped = True
