"""Turning logits into tokens the way upstream v1.5.1 does, plus greedy decoding.

Order: repetition penalty over a history window -> top-p on the untempered distribution ->
temperature -> softmax -> exponential race (argmax of probs / Exp(1) noise, which is a categorical
draw). temperature 0 switches to argmax of the penalised logits. All knobs are tensors so that
changing them never triggers a recompile, and nothing here syncs with the host: 0-d (one request)
or [B] (one value per row of a batch).
"""

from __future__ import annotations

import torch
from torch import Tensor


def seed_value(seed: int) -> int:
    """What a request's seed becomes for torch (upstream's clamp)."""
    return min(abs(int(seed)), 2**31)


def seed_everything(seed: int | None):
    """Seed the global RNG (every device) for a reproducible run; None keeps drawing."""
    if seed is not None:
        torch.manual_seed(seed_value(seed))


def apply_repetition_penalty(logits: Tensor, history: Tensor, penalty: Tensor) -> Tensor:
    """Divide positive and multiply negative logits of every id in `history` [B, W] by `penalty`."""
    score = logits.gather(-1, history)
    score = torch.where(score < 0, score * penalty, score / penalty)
    return logits.scatter(-1, history, score)


def apply_top_p(logits: Tensor, top_p: Tensor) -> Tensor:
    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    drop = cum > top_p
    drop[..., 0] = False  # always keep the most likely token
    drop = drop.scatter(-1, order, drop)
    return logits.masked_fill(drop, float("-inf"))


def _per_row(knob: Tensor, logits: Tensor) -> Tensor:
    """A [B] knob as a [B, 1] column in the logits' dtype (what a 0-d knob amounts to, so a batched
    row computes in the same precision as a lone request); a 0-d knob as is."""
    return knob if knob.dim() == 0 else knob.to(logits.dtype).unsqueeze(-1)


def sample(
    logits: Tensor,
    temperature: Tensor,
    top_p: Tensor,
    penalty: Tensor,
    history: Tensor | None = None,
    bias: Tensor | None = None,
    noise: Tensor | None = None,
) -> Tensor:
    """logits [B, V] -> token ids [B] (int32).

    `bias` (0 / -inf per id, [V] or [B, V]) restricts which ids may be drawn; `history` [B, W] feeds
    the penalty. `noise` (Exp(1) draws shaped like logits) replaces the draw from the global RNG, so
    a batch row can use its own generator.
    """
    sampled = temperature > 0  # 0-d or [B], like the [B] results it picks between
    temperature, top_p, penalty = (_per_row(k, logits) for k in (temperature, top_p, penalty))
    if bias is not None:
        logits = logits + bias
    if history is not None:
        logits = apply_repetition_penalty(logits, history, penalty)
    greedy = logits.argmax(-1)
    logits = apply_top_p(logits, top_p)
    logits = logits / torch.clamp(temperature, min=1e-5)
    probs = torch.softmax(logits, dim=-1)
    if noise is None:
        noise = torch.empty_like(probs).exponential_(1)
    drawn = (probs / noise).argmax(-1)
    return torch.where(sampled, drawn, greedy).to(torch.int32)


def sample_top_k(
    logits: Tensor, temperature: Tensor, top_p: Tensor, top_k: Tensor, noise: Tensor | None = None
) -> Tensor:
    """S2-Pro's draw (upstream HEAD `logits_to_probs`): logits [B, V] -> ids [B] (int32).

    On the untempered softmax, drop sorted rank r when its cumulative mass exceeds top_p or r >= top_k
    (never rank 0); then temperature, softmax, exponential race. temperature 0 = argmax."""
    sampled = temperature > 0
    temperature, top_p, top_k = (_per_row(k, logits) for k in (temperature, top_p, top_k))
    greedy = logits.argmax(-1)
    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    cum = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
    ranks = torch.arange(logits.shape[-1], device=logits.device)
    drop = (cum > top_p) | (ranks >= top_k)
    drop[..., 0] = False
    drop = drop.scatter(-1, order, drop)
    probs = torch.softmax(logits.masked_fill(drop, float("-inf")) / torch.clamp(temperature, min=1e-5), dim=-1)
    if noise is None:
        noise = torch.empty_like(probs).exponential_(1)
    drawn = (probs / noise).argmax(-1)
    return torch.where(sampled, drawn, greedy).to(torch.int32)
