"""Continuous batching: several requests share every decode step.

A `BatchGenerator` owns static caches for B rows ("slots"). `admit` prefills one request into one
slot (a B=1 forward into that cache row); `step` runs one decode step for all B rows at once, each
row at its own position with its own sampling knobs, bias and repetition window (rows not in use
are computed and ignored, so the step keeps fixed shapes for torch.compile / CUDA graphs). A slot
is refilled as soon as its request stops, without waiting for the others.

A `Slot` puts one row behind `Generator`'s interface (`seed`, `set_sampling`, `generate`,
`end_frame`), so `generate_long` and `TTSEngine.synthesize` run unchanged on it; its `generate`
yields `WAIT` while the row's next block is still being computed by `step`.

Noise: each slot draws its Exp(1) sampling noise from its own `torch.Generator`, one draw per
sampled distribution, in the order a lone `Generator` draws from the global RNG. So a seeded
request gives the same codes alone or batched, and the same as on the unbatched path (up to the
float rounding of batched matmuls). Draws happen outside the step function, which stays pure.

Stop and budget rules are `Generator.generate`'s, per row: frames are handed over in blocks cut at
multiples of the row's `sync_every` (counted from its own prefill), the host syncs only at steps
where some row reaches such a boundary, and the codes exclude the `<|im_end|>` frame.
"""

from __future__ import annotations

from collections import deque
from typing import Iterator

import torch
from torch import Tensor

from fish_speech.errors import FishError
from fish_speech.models.text2semantic.detect import FISH_15
from fish_speech.models.text2semantic.generate import (
    WAIT,
    WINDOW,
    compile_step,
    cut_at_stop,
    dual_ar_frame,
    frame_budget,
    sampling_tables,
)
from fish_speech.models.text2semantic.loader import LanguageModel
from fish_speech.models.text2semantic.model import key_span
from fish_speech.models.text2semantic.prefix import Prefill, PrefixCache, prefill
from fish_speech.models.text2semantic.sampling import seed_value

RING = 64  # device-side frames kept per row between host syncs; sync_every may not exceed it


def batch_step(
    model,
    frame: Tensor,
    pos: Tensor,
    knobs: tuple,
    window: Tensor,
    head,
    code_bias: Tensor,
    main_bias: Tensor,
    noise: tuple,
    span: int = 0,
) -> Tensor:
    """One frame for every row: frame [B, N+1] at positions pos [B] -> next frame [B, N+1], reading `span` keys."""
    return dual_ar_frame(
        model, frame.unsqueeze(-1), pos, False, knobs, window, head, code_bias, main_bias, noise, span=span
    )


class _Row:
    """Host-side state of one admitted request."""

    def __init__(self, rng: torch.Generator, budget: int, sync_every: int, length: int):
        self.rng, self.budget, self.sync_every = rng, budget, sync_every
        self.length = length  # prompt columns: frame i is computed from position length + i - 1
        self.count = 1  # frames computed so far (the prefill gives the first)
        self.start = 0  # frames handed over so far
        self.blocks: deque[Tensor] = deque()
        self.end_frame: Tensor | None = None
        self.done = False

    def due(self) -> bool:
        return not self.done and (self.count == self.budget or self.count % self.sync_every == 0)


class BatchGenerator:
    def __init__(
        self, lm: LanguageModel, max_batch: int, compile: bool = False, prefix_cache: PrefixCache | None = None
    ):
        if lm.family != FISH_15:
            raise FishError(501, "MAX_BATCH", f"continuous batching serves Fish Speech 1.5 only, not {lm.family}")
        self.lm, self.model = lm, lm.model
        args, dev = lm.args, lm.device
        b, n = max_batch, args.num_codebooks
        self.max_batch, self.n = b, n
        self.caches = self.model.make_caches(b, args.max_seq_len)
        self.head, self.code_bias = sampling_tables(lm)
        self.main_bias = self.head.bias.repeat(b, 1)  # [B, K+1]: head.bias at admit, may be changed after
        self.frame = torch.zeros(b, n + 1, dtype=torch.int32, device=dev)
        self.pos = torch.zeros(b, dtype=torch.long, device=dev)
        self.index = torch.zeros(b, dtype=torch.long, device=dev)  # per row: the frame being computed
        self.live = torch.zeros(b, dtype=torch.long, device=dev)  # 1 where a request runs: pos/index advance
        self.window = torch.zeros(b, n + 1, WINDOW, dtype=torch.long, device=dev)
        # temperature, top_p, repetition_penalty, top_k
        self.knobs = tuple(torch.full((b,), v, device=dev, dtype=torch.float32) for v in (0.7, 0.7, 1.2, 30))
        self.noise = (
            torch.ones(b, self.head.weight.shape[0], device=dev, dtype=lm.dtype),
            torch.ones(b, n - 1, args.codebook_size, device=dev, dtype=lm.dtype),
        )
        self.out = torch.zeros(b, n + 1, RING, dtype=torch.int32, device=dev)
        self.rows: list[_Row | None] = [None] * b
        self.step_fn = compile_step(batch_step, dev) if compile else batch_step
        self.cuda_graphs = compile and dev.type == "cuda"
        self.prefix_cache = prefix_cache  # a slot starts from a copy of a cached prompt head

    @property
    def busy(self) -> bool:
        return any(r is not None and not r.done for r in self.rows)

    def set_sampling(
        self, slot: int, temperature: float, top_p: float, repetition_penalty: float, top_k: int | None = None
    ):
        for t, v in zip(self.knobs, (temperature, top_p, repetition_penalty, 30 if top_k is None else top_k)):
            t[slot] = v

    def _draw_noise(self, slot: int):
        """This row's draws for one frame, in the order `sample` would take them from the global RNG."""
        rng = self.rows[slot].rng
        self.noise[0][slot].exponential_(1, generator=rng)
        for k in range(self.n - 1):
            self.noise[1][slot, k].exponential_(1, generator=rng)

    @torch.inference_mode()
    def admit(
        self,
        slot: int,
        prompt: Tensor,
        rng: torch.Generator,
        max_new_tokens: int = 0,
        sync_every: int = 8,
        prefix: int = 0,
        record: Prefill | None = None,
    ) -> _Row:
        """Prefill `prompt` [N+1, T] into `slot` (its first `prefix` columns from the prefix cache when
        there) and compute its first frame."""
        if not 1 <= sync_every <= RING:
            raise ValueError(f"sync_every must lie in 1..{RING}")
        t = prompt.shape[1]
        row = _Row(rng, frame_budget(t, self.lm.args.max_seq_len, max_new_tokens), sync_every, t)
        self.rows[slot] = row
        self.model.use_caches(self.caches)
        self.window[slot] = 0
        self.main_bias[slot] = self.head.bias  # undo a change made for the slot's last request
        self._draw_noise(slot)
        one = slice(slot, slot + 1)

        def first(inp, input_pos, full, span):
            knobs, noise = tuple(k[one] for k in self.knobs), (self.noise[0][one], self.noise[1][one])
            return dual_ar_frame(
                self.model, inp, input_pos, full, knobs, None, self.head, self.code_bias, self.main_bias[one], noise,
                slot=slot, span=span,
            )  # fmt: skip

        frame = prefill(self.model, prompt, prefix, self.prefix_cache, first, row=slot, record=record)
        self.frame[slot] = frame[0]
        self.out[slot, :, 0] = frame[0]
        self.pos[slot], self.index[slot], self.live[slot] = t, 1, 1
        self._sync()
        return row

    def release(self, slot: int):
        """Free a slot (its request stopped or was cancelled); its row keeps computing, ignored."""
        self.rows[slot] = None
        self.live[slot] = 0

    @torch.inference_mode()
    def step(self):
        """One decode step for every row; hands over the blocks that became due."""
        active = [s for s, r in enumerate(self.rows) if r is not None and not r.done]
        if not active:
            return
        self.model.use_caches(self.caches)
        for s in active:
            self._draw_noise(s)
        # the furthest row's next frame reads keys 0 .. length+count-1 (idle rows are ignored anyway)
        span = key_span(max(self.rows[s].length + self.rows[s].count for s in active), self.model.cache_len)
        if self.cuda_graphs:
            torch.compiler.cudagraph_mark_step_begin()
        # clone: under CUDA graphs the output buffer is overwritten by the next replay
        frame = self.step_fn(
            self.model,
            self.frame,
            self.pos,
            self.knobs,
            self.window,
            self.head,
            self.code_bias,
            self.main_bias,
            self.noise,
            span,
        ).clone()
        rows = torch.arange(self.max_batch, device=frame.device)
        self.out[rows, :, self.index % RING] = frame
        self.window[rows, :, (self.index - 1) % WINDOW] = frame.long()  # frame i goes to (i-1) % W, as in Generator
        self.frame.copy_(frame)
        self.pos += self.live
        self.index += self.live
        for s in active:
            self.rows[s].count += 1
        self._sync()

    def _sync(self):
        """Read the frames of rows at a block boundary (one host sync for all of them)."""
        due = [s for s, r in enumerate(self.rows) if r is not None and r.due()]
        if not due:
            return
        host = self.out.cpu()
        im_end = self.lm.tokenizer.im_end_id
        for s in due:
            row = self.rows[s]
            block, end = cut_at_stop(host[s][:, [i % RING for i in range(row.start, row.count)]], (im_end,))
            if end is not None:
                row.end_frame = end
            if block.shape[1]:
                row.blocks.append(block)
            row.start = row.count
            if end is not None or row.count == row.budget:
                row.done = True
                self.live[s] = 0


class Slot:
    """One row of a `BatchGenerator` behind `Generator`'s interface."""

    def __init__(self, batch: BatchGenerator, index: int):
        self.batch, self.index, self.lm = batch, index, batch.lm
        self.rng = torch.Generator(device=batch.lm.device)
        self.end_frame: Tensor | None = None
        self.last_prefill = Prefill()

    def seed(self, seed: int | None):
        """A seed fixes this slot's draws; None draws a fresh random seed."""
        if seed is None:
            self.rng.seed()
        else:
            self.rng.manual_seed(seed_value(seed))

    def set_sampling(self, temperature: float, top_p: float, repetition_penalty: float, top_k: int | None = None):
        self.batch.set_sampling(self.index, temperature, top_p, repetition_penalty, top_k)

    def generate(self, prompt: Tensor, max_new_tokens: int = 0, sync_every: int = 8, prefix: int = 0) -> Iterator:
        """Like `Generator.generate`, plus `WAIT` items while the batch has not computed the next block."""
        self.end_frame = None
        row = self.batch.admit(self.index, prompt, self.rng, max_new_tokens, sync_every, prefix, self.last_prefill)
        try:
            while True:
                if row.blocks:
                    yield row.blocks.popleft()
                elif row.done:
                    break
                else:
                    yield WAIT
            self.end_frame = row.end_frame
        finally:
            if self.batch.rows[self.index] is row:
                self.batch.release(self.index)
