"""Causal ConvNeXt encoder: log-mel [B, 160, M] -> latent [B, dims[-1], M] (keys under `backbone.`)."""

from __future__ import annotations

import torch
from torch import nn

from .layers import CausalConv1d, ChannelsFirstLayerNorm, ConvNeXtBlock


class ConvNeXtEncoder(nn.Module):
    def __init__(self, input_channels: int, dims: list[int], depths: list[int], kernel: int = 7, stem_kernel: int = 7):
        super().__init__()
        # stem: conv then norm; later levels: norm then a plain 1x1 conv (no `.conv.` infix in keys)
        self.downsample_layers = nn.ModuleList(
            [nn.Sequential(CausalConv1d(input_channels, dims[0], stem_kernel), ChannelsFirstLayerNorm(dims[0]))]
        )
        for i in range(1, len(dims)):
            self.downsample_layers.append(
                nn.Sequential(ChannelsFirstLayerNorm(dims[i - 1]), nn.Conv1d(dims[i - 1], dims[i], 1))
            )
        self.stages = nn.ModuleList(
            nn.Sequential(*(ConvNeXtBlock(dim, kernel) for _ in range(depth))) for dim, depth in zip(dims, depths)
        )
        self.norm = ChannelsFirstLayerNorm(dims[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for down, stage in zip(self.downsample_layers, self.stages):
            x = stage(down(x))
        return self.norm(x)
