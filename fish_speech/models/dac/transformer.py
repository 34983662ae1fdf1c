"""The codec's window-limited causal transformer, with banded attention and an optional cache.

Each query at position p sees keys p - window < k <= p. Queries are processed in blocks of
`QUERY_BLOCK`, each against only the keys its window can reach, so memory grows with the
window rather than with T^2. RoPE (interleaved pairs, bf16-rounded table as upstream) is
computed for the positions in use only. A `WindowCache` holds the last window - 1 keys and
values of every layer, which makes feeding a sequence piece by piece equal to one pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .config import HEAD_DIM, NORM_EPS, ROPE_BASE

ROPE_GROW_FROM = 1024  # rows of RoPE table built at first use (doubled when exceeded)
QUERY_BLOCK = 1024  # one block (and so upstream's exact kernel call) up to this many positions


def rope_table(start: int, length: int, head_dim: int = HEAD_DIM, base: float = ROPE_BASE) -> torch.Tensor:
    """[length, head_dim/2, 2] (cos, sin) for positions start..start+length-1, rounded to bf16.

    Computed on the CPU with the same float32 ops as upstream's full table, so every row is
    bit-identical to the matching row of that table.
    """
    inv = 1.0 / (base ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
    angles = torch.outer(torch.arange(start, start + length), inv)
    cis = torch.polar(torch.ones_like(angles), angles)
    return torch.stack([cis.real, cis.imag], dim=-1).to(torch.bfloat16)


def apply_rope(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """x [B, T, H, D]: rotate adjacent pairs in float32, cast back."""
    xs = x.float().reshape(*x.shape[:-1], -1, 2)
    t = table.view(1, xs.size(1), 1, xs.size(3), 2)
    out = torch.stack(
        [xs[..., 0] * t[..., 0] - xs[..., 1] * t[..., 1], xs[..., 1] * t[..., 0] + xs[..., 0] * t[..., 1]], -1
    )
    return out.flatten(3).type_as(x)


def banded_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int) -> torch.Tensor:
    """q [B, H, n, D] are the last n positions of k, v [B, H, m, D]; causal, `window` keys wide."""
    n, m = q.shape[2], k.shape[2]
    offset = m - n
    outs = []
    for a in range(0, n, QUERY_BLOCK):
        b = min(n, a + QUERY_BLOCK)
        k0, k1 = max(0, a + offset - window + 1), b + offset
        qpos = torch.arange(a + offset, b + offset, device=q.device)[:, None]
        kpos = torch.arange(k0, k1, device=q.device)[None, :]
        mask = (kpos <= qpos) & (kpos > qpos - window)
        outs.append(
            F.scaled_dot_product_attention(q[:, :, a:b], k[:, :, k0:k1], v[:, :, k0:k1], attn_mask=mask[None, None])
        )
    return outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = NORM_EPS):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(torch.mean(xf * xf, dim=-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Attention(nn.Module):
    def __init__(self, dim: int, n_head: int):
        super().__init__()
        self.n_head, self.head_dim = n_head, HEAD_DIM
        width = n_head * HEAD_DIM
        self.wqkv = nn.Linear(dim, 3 * width, bias=False)
        self.wo = nn.Linear(width, dim, bias=False)

    def forward(self, x, table, window: int, cache: list | None = None) -> torch.Tensor:
        bsz, n, _ = x.shape
        width = self.n_head * self.head_dim
        q, k, v = self.wqkv(x).split([width, width, width], dim=-1)
        q = apply_rope(q.view(bsz, n, self.n_head, self.head_dim), table)
        k = apply_rope(k.view(bsz, n, self.n_head, self.head_dim), table)
        v = v.view(bsz, n, self.n_head, self.head_dim)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if cache is not None:  # [past_k, past_v] of this layer, replaced by the last window - 1
            if cache[0] is not None:
                k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
            start = max(0, k.shape[2] - (window - 1))
            cache[0], cache[1] = k[:, :, start:], v[:, :, start:]
        y = banded_attention(q, k, v, window)
        return self.wo(y.transpose(1, 2).contiguous().view(bsz, n, width))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden, bias=False)
        self.w3 = nn.Linear(dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, n_head: int, hidden: int):
        super().__init__()
        self.attention = Attention(dim, n_head)
        self.feed_forward = FeedForward(dim, hidden)
        self.ffn_norm = RMSNorm(dim)
        self.attention_norm = RMSNorm(dim)
        self.attention_layer_scale = LayerScale(dim)
        self.ffn_layer_scale = LayerScale(dim)

    def forward(self, x, table, window: int, cache=None) -> torch.Tensor:
        h = x + self.attention_layer_scale(self.attention(self.attention_norm(x), table, window, cache))
        return h + self.ffn_layer_scale(self.feed_forward(self.ffn_norm(h)))


@dataclass
class WindowCache:
    """Per-layer [keys, values] of the last window - 1 positions, and the next position."""

    layers: list = field(default_factory=list)
    position: int = 0


class WindowTransformer(nn.Module):
    """Channels-first [B, C, T] in and out; no residual around the whole module."""

    def __init__(self, dim: int, n_layer: int, window: int):
        super().__init__()
        self.window = int(window)
        self.layers = nn.ModuleList(TransformerBlock(dim, dim // HEAD_DIM, 3 * dim) for _ in range(n_layer))
        self.norm = RMSNorm(dim)

    def _rope(self, needed: int, device: torch.device) -> torch.Tensor:
        """Rows 0..needed-1 of the RoPE table, grown by doubling so streaming rarely recomputes it."""
        table = getattr(self, "_rope_table", None)
        if table is None or table.shape[0] < needed or table.device != device:
            size = max(ROPE_GROW_FROM, 1 << (needed - 1).bit_length())
            table = rope_table(0, size).to(device)
            self._rope_table = table
        return table

    def new_cache(self) -> WindowCache:
        return WindowCache([[None, None] for _ in self.layers])

    def forward(self, x: torch.Tensor, cache: WindowCache | None = None) -> torch.Tensor:
        x = x.transpose(1, 2)
        start = 0 if cache is None else cache.position
        table = self._rope(start + x.shape[1], x.device)[start : start + x.shape[1]]
        for i, layer in enumerate(self.layers):
            x = layer(x, table, self.window, None if cache is None else cache.layers[i])
        if cache is not None:
            cache.position += x.shape[1]
        return self.norm(x).transpose(1, 2)
