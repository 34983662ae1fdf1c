"""Quantizer wrapper (keys `quantizer.*`): x4 time downsampling around the grouped FSQ, x4 back up."""

from __future__ import annotations

import torch
from torch import nn

from .fsq import GroupedFSQ
from .layers import CausalConv1d, CausalConvTranspose1d, ConvNeXtBlock, conv_context, trans_conv_context


class DownsampleFSQ(nn.Module):
    def __init__(self, input_dim: int, groups: int, factors: list[int], dims: list[int], kernel: int = 7):
        super().__init__()
        chain = [input_dim] + list(dims)
        self.downsample = nn.ModuleList(
            nn.Sequential(CausalConv1d(chain[i], chain[i + 1], f, stride=f), ConvNeXtBlock(chain[i + 1], kernel))
            for i, f in enumerate(factors)
        )
        self.residual_fsq = GroupedFSQ(chain[-1], groups)
        # upsampling mirrors the downsampling stages in reverse order
        self.upsample = nn.ModuleList(
            nn.Sequential(CausalConvTranspose1d(chain[i + 1], chain[i], f, stride=f), ConvNeXtBlock(chain[i], kernel))
            for i, f in reversed(list(enumerate(factors)))
        )
        self.factors = list(factors)

    def encode(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, C, M] -> ids [B, groups, ceil(M / prod(factors))] int32."""
        for stage in self.downsample:
            z = stage(z)
        return self.residual_fsq.encode(z.transpose(1, 2))

    def decode(self, ids: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """ids [B, groups, T] -> latent [B, C, T * prod(factors)]."""
        z = self.residual_fsq.decode(ids).to(dtype).transpose(1, 2)
        for stage in self.upsample:
            z = stage(z)
        return z

    def upsample_context(self, after: int) -> int:
        """Past code frames needed so that `after` past latent samples (at the upsampled rate) are exact."""
        for stage in reversed(self.upsample):
            trans, block = stage[0], stage[1]
            after += conv_context(block.dwconv.conv.kernel_size[0])
            after = trans_conv_context(after, trans.conv.kernel_size[0], trans.conv.stride[0])
        return after
