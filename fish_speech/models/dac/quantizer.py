"""Downsample x4, pre transformer, semantic VQ + residual VQs; and the way back.

The lookups follow dac's VectorQuantize to the letter (L2-normalised vectors, the expanded
squared distance, first max of its negation, the straight-through sum) so that ties and
near-ties resolve to the same codes as upstream.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import DacConfig
from .layers import CausalConv, CausalTransConv, ConvNeXtBlock
from .transformer import WindowTransformer


class VectorQuantize(nn.Module):
    def __init__(self, dim: int, size: int, code_dim: int):
        super().__init__()
        self.in_proj = nn.Conv1d(dim, code_dim, 1)
        self.out_proj = nn.Conv1d(code_dim, dim, 1)
        self.codebook = nn.Embedding(size, code_dim)

    def quantize(self, r: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """r [B, dim, T] -> (ids [B, T], contribution out_proj(codebook[ids]) [B, dim, T])."""
        z_e = self.in_proj(r)
        enc = F.normalize(z_e.permute(0, 2, 1).reshape(-1, z_e.shape[1]))
        cb = F.normalize(self.codebook.weight)
        dist = enc.pow(2).sum(1, keepdim=True) - 2 * enc @ cb.t() + cb.pow(2).sum(1, keepdim=True).t()
        ids = (-dist).max(1)[1].reshape(z_e.shape[0], -1)
        z_q = F.embedding(ids, self.codebook.weight).transpose(1, 2)
        return ids, self.out_proj(z_e + (z_q - z_e))

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out_proj(F.embedding(ids, self.codebook.weight).transpose(1, 2))


class ResidualVQ(nn.Module):
    def __init__(self, n: int, dim: int, size: int, code_dim: int):
        super().__init__()
        self.quantizers = nn.ModuleList(VectorQuantize(dim, size, code_dim) for _ in range(n))

    def encode(self, z: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        ids, total, residual = [], None, z
        for q in self.quantizers:
            i, part = q.quantize(residual)
            ids.append(i)
            total = part if total is None else total + part
            residual = residual - part
        return ids, total

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        total = None
        for i, q in enumerate(self.quantizers):
            part = q.lookup(codes[:, i])
            total = part if total is None else total + part
        return total


class DownsampleQuantizer(nn.Module):
    def __init__(self, cfg: DacConfig):
        super().__init__()
        dim = cfg.latent_dim
        self.semantic_quantizer = ResidualVQ(1, dim, cfg.semantic_codebook_size, cfg.codebook_dim)
        self.quantizer = ResidualVQ(cfg.n_codebooks, dim, cfg.codebook_size, cfg.codebook_dim)
        self.downsample = nn.Sequential(
            *(nn.Sequential(CausalConv(dim, dim, f, stride=f), ConvNeXtBlock(dim)) for f in cfg.downsample_factor)
        )
        self.upsample = nn.Sequential(
            *(
                nn.Sequential(CausalTransConv(dim, dim, f, f), ConvNeXtBlock(dim))
                for f in reversed(cfg.downsample_factor)
            )
        )
        self.pre_module = WindowTransformer(dim, cfg.quantizer_layers, cfg.quantizer_window)
        self.post_module = WindowTransformer(dim, cfg.quantizer_layers, cfg.quantizer_window)

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """Output of pre_module [B, dim, T] -> codes [B, 1 + n, T] (semantic row first)."""
        sem, sem_part = self.semantic_quantizer.encode(z)
        res, _ = self.quantizer.encode(z - sem_part)
        return torch.stack(sem + res, dim=1)

    def latent(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [B, 1 + n, T] (already in range) -> summed codebook vectors, before post_module."""
        return self.semantic_quantizer.decode(codes[:, :1]) + self.quantizer.decode(codes[:, 1:])
