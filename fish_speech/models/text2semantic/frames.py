"""One generated frame per family: the pluggable part of the shared decode loop (`generate.Generator`).

A `FrameRule` owns the family's sampling tables (built once per generator) and a pure frame
function `frame(model, inp, input_pos, full, knobs, window, tables, ring, span=0)` -> [B, N+1] int32:
slow step -> main token -> fast steps. `knobs` = (temperature, top_p, repetition_penalty, top_k)
as tensors; `window` [B, N+1, W] = the last W decode frames (a ring; None at prefill); `ring` =
the ring column the current step will overwrite (the oldest frame); `span` = how many slow-cache
keys a cached step reads (`model.key_span`; 0 = all).

- Fish Speech 1.5: `generate.dual_ar_frame` (main token restricted to codec-valid semantic ids and
  `<|im_end|>`, repetition penalty over the last 16 frames, per codebook).
- OpenAudio S1-mini (S1-era rules): no main-token mask; repetition penalty whose main-token
  history is the 11 values of the oldest window frame (upstream quirk); top-p; temperature; residual
  codes drawn from the first 1024 fast logits.
- Fish Audio S2-Pro: semantic + `<|im_end|>` mask; top-k + top-p + temperature; repetition-aware
  sampling: a semantic main token already among the last 10 decode steps' main tokens is replaced
  by a second draw at temperature 1.0 / top_p 0.9; residual codes drawn over all 4096 fast logits.
"""

from __future__ import annotations

import torch
from torch import Tensor

from fish_speech.models.text2semantic.detect import FISH_15, S1_MINI, S2_PRO
from fish_speech.models.text2semantic.sampling import sample, sample_top_k

RAS_WINDOW = 10  # S2: repetition-aware sampling looks back this many decode steps
RAS_TEMPERATURE, RAS_TOP_P = 1.0, 0.9
S1_WINDOW = 16  # S1: repetition-penalty history, in frames
S1_VALID_CODES = 1024  # S1 era truncates the fast logits to the residual codebook size


def _fast_codes(model, hidden: Tensor, main: Tensor, draw) -> Tensor:
    """Fast steps: a0 from the main token, then draw(logits [B, C], k) for codebooks 1..N-1."""
    c = model.args.codebook_size
    code = (main - model.semantic_begin_id).clamp(0, c - 1)
    codes = [main, code]
    model.forward_fast(hidden, 0, logits=False)  # fills fast cache slot 0 with the slow hidden state
    for k in range(1, model.args.num_codebooks):
        logits = model.forward_fast(model.fast_embeddings(code).unsqueeze(1), k)
        code = draw(logits, k)
        codes.append(code)
    return torch.stack(codes, dim=1).to(torch.int32)


def s1_frame(model, inp, input_pos, full, knobs, window, tables, ring, span: int = 0) -> Tensor:
    (code_bias,) = tables
    temperature, top_p, penalty, _ = knobs
    logits, hidden = model.forward_slow(inp, input_pos, full, span=span)
    history = None if window is None else window.index_select(2, ring)[..., 0]  # [B, N+1]: one old frame
    main = sample(logits, temperature, top_p, penalty, history)

    def draw(fast_logits, k):
        hist = None if window is None else window[:, k + 1]
        return sample(fast_logits, temperature, top_p, penalty, hist, code_bias)

    return _fast_codes(model, hidden, main, draw)


def s2_frame(model, inp, input_pos, full, knobs, window, tables, ring, span: int = 0) -> Tensor:
    head, ras_temperature, ras_top_p = tables
    temperature, top_p, _, top_k = knobs
    logits, hidden = model.forward_slow(inp, input_pos, full, head.linear, span=span)
    logits = logits + head.bias
    normal = sample_top_k(logits, temperature, top_p, top_k)
    high = sample_top_k(logits, ras_temperature, ras_top_p, top_k)  # always drawn, as upstream
    main = head.ids[normal.long()].to(torch.int32)
    if window is not None:  # decode steps only; greedy (temperature 0) keeps the argmax
        semantic = main <= model.semantic_end_id  # every allowed id but <|im_end|> is semantic here
        repeat = (window[:, 0] == main.unsqueeze(-1)).any(-1) & semantic & (temperature > 0)
        main = torch.where(repeat, head.ids[high.long()].to(torch.int32), main)
    return _fast_codes(model, hidden, main, lambda fast_logits, k: sample_top_k(fast_logits, temperature, top_p, top_k))


class FrameRule:
    """The 1.5 rule; subclasses swap the frame function and tables."""

    family = FISH_15
    window = 16

    def tables(self, lm) -> tuple:
        from fish_speech.models.text2semantic.generate import sampling_tables

        return sampling_tables(lm)

    @staticmethod
    def frame(model, inp, input_pos, full, knobs, window, tables, ring, span: int = 0) -> Tensor:
        from fish_speech.models.text2semantic.generate import dual_ar_frame

        return dual_ar_frame(model, inp, input_pos, full, knobs[:3], window, *tables, span=span)


class S1Rule(FrameRule):
    family = S1_MINI
    window = S1_WINDOW

    def tables(self, lm) -> tuple:
        bias = torch.full((lm.args.codebook_size,), float("-inf"), device=lm.device, dtype=lm.dtype)
        bias[:S1_VALID_CODES] = 0
        return (bias,)

    frame = staticmethod(s1_frame)


class S2Rule(FrameRule):
    family = S2_PRO
    window = RAS_WINDOW

    def tables(self, lm) -> tuple:
        from fish_speech.models.text2semantic.generate import MainHead

        tok = lm.tokenizer
        allowed = torch.tensor(list(range(tok.semantic_begin_id, tok.semantic_end_id + 1)) + [tok.im_end_id])
        knob = lambda v: torch.tensor(v, device=lm.device, dtype=torch.float32)  # noqa: E731
        return MainHead(lm.model, allowed), knob(RAS_TEMPERATURE), knob(RAS_TOP_P)

    frame = staticmethod(s2_frame)


# Upstream's text2semantic CLI defaults per family (1.5: this project's CLI since its first release).
CLI_DEFAULTS = {
    FISH_15: dict(temperature=0.7, top_p=0.7, repetition_penalty=1.2, top_k=30, chunk_length=100),
    S1_MINI: dict(temperature=0.8, top_p=0.8, repetition_penalty=1.1, top_k=30, chunk_length=300),
    S2_PRO: dict(temperature=1.0, top_p=0.9, repetition_penalty=1.0, top_k=30, chunk_length=300),
}
RULES = {r.family: r for r in (FrameRule(), S1Rule(), S2Rule())}
