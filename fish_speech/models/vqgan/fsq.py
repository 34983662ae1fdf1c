"""Grouped finite scalar quantization (levels [8, 5, 5, 5] -> ids 0..999), keys `residual_fsq.rvqs.{g}.*`.

Each group projects its slice of channels to 4 numbers, squashes each with
bound(x) = tanh(x + shift) * half_l - offset, and rounds. The official model applies the bound
twice before rounding (once in the residual wrapper, once in the quantizer stage); dropping
either changes roughly a quarter of all codes, so both are kept. Constants are built with the
same float32 tensor arithmetic as the reference so rounding boundaries agree bit for bit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LEVELS = (8, 5, 5, 5)
CODEBOOK_SIZE = 1000
BOUND_EPS = 1e-3


class FSQGroup(nn.Module):
    """One group: Linear dim->4 in, Linear 4->dim out (a single residual stage with scale 1)."""

    def __init__(self, dim: int, n_levels: int = len(LEVELS)):
        super().__init__()
        self.project_in = nn.Linear(dim, n_levels)
        self.project_out = nn.Linear(n_levels, dim)


class GroupedFSQ(nn.Module):
    def __init__(self, dim: int, groups: int):
        super().__init__()
        if dim % groups:
            raise ValueError(f"quantizer dim {dim} is not divisible into {groups} groups")
        self.groups = groups
        self.rvqs = nn.ModuleList(FSQGroup(dim // groups) for _ in range(groups))

        levels = torch.tensor(LEVELS, dtype=torch.int32, device="cpu")
        half_l = (levels - 1) * (1 + BOUND_EPS) / 2
        offset = torch.where(levels % 2 == 0, 0.5, 0.0)
        basis = torch.cumprod(torch.tensor((1,) + LEVELS[:-1], device="cpu"), 0).to(torch.int64)
        ids = torch.arange(CODEBOOK_SIZE, device="cpu")[:, None]
        half_width = levels // 2
        digits = (ids // basis) % levels
        codebook = (digits - half_width) / half_width  # [1000, 4] normalised code values
        for name, value in (
            ("half_l", half_l),
            ("offset", offset),
            ("shift", torch.atanh(offset / half_l)),
            ("half_width", half_width),
            ("basis", basis),
            ("levels", levels),
            ("codebook", codebook),
        ):
            self.register_buffer(name, value, persistent=False)

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z + self.shift) * self.half_l - self.offset

    def quantize_projected(self, p: torch.Tensor) -> torch.Tensor:
        """Projected 4-vectors [..., 4] (float32) -> ids [...] int32 (double bound, then round)."""
        q = torch.round(self.bound(self.bound(p))).to(torch.int64)
        return ((q + self.half_width) * self.basis).sum(-1).to(torch.int32)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, T, dim] -> ids [B, groups, T] int32. Runs in float32 whatever the model dtype."""
        chunks = x.float().chunk(self.groups, dim=-1)
        ids = []
        for group, chunk in zip(self.rvqs, chunks):
            lin = group.project_in
            p = F.linear(chunk, lin.weight.float(), lin.bias.float())
            ids.append(self.quantize_projected(p))
        return torch.stack(ids, dim=1)

    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B, groups, T] (valid 0..999) -> latent [B, T, dim] float32."""
        outs = []
        for g, group in enumerate(self.rvqs):
            codes = self.codebook[ids[:, g].long()]
            lin = group.project_out
            outs.append(F.linear(codes, lin.weight.float(), lin.bias.float()))
        return torch.cat(outs, dim=-1)
