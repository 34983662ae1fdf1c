"""HiFi-GAN-style head (keys `head.*`): latent [B, C, N] -> audio [B, 1, N * prod(rates)].

SiLU activations, causal convs, and in each ResBlock both convs of a pair are dilated
(unlike classic HiFi-GAN). Weight norm exists only in the checkpoint; weights are fused at load.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import CausalConv1d, CausalConvTranspose1d, conv_context, trans_conv_context

DILATIONS = (1, 3, 5)


class ResBlock1(nn.Module):
    def __init__(self, channels: int, kernel: int, dilations=DILATIONS):
        super().__init__()
        self.convs1 = nn.ModuleList(CausalConv1d(channels, channels, kernel, dilation=d) for d in dilations)
        self.convs2 = nn.ModuleList(CausalConv1d(channels, channels, kernel, dilation=d) for d in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            x = x + c2(F.silu(c1(F.silu(x))))
        return x

    def context(self) -> int:
        return sum(conv_context(c.conv.kernel_size[0], c.conv.dilation[0]) for c in (*self.convs1, *self.convs2))


class ParallelBlock(nn.Module):
    """Mean of several ResBlock1 branches with different kernel sizes, all fed the same input."""

    def __init__(self, channels: int, kernels: list[int]):
        super().__init__()
        self.blocks = nn.ModuleList(ResBlock1(channels, k) for k in kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([b(x) for b in self.blocks], dim=0).mean(dim=0)


class HiFiGANGenerator(nn.Module):
    def __init__(
        self,
        in_channels: int,
        channels: list[int],
        up_kernels: list[int],
        resblock_kernels: list[int],
        pre_kernel: int = 13,
        post_kernel: int = 13,
    ):
        """channels: [conv_pre out, ups.0 out, ..., ups.-1 out]; upsample rate = kernel // 2."""
        super().__init__()
        self.conv_pre = CausalConv1d(in_channels, channels[0], pre_kernel)
        self.ups = nn.ModuleList(
            CausalConvTranspose1d(channels[i], channels[i + 1], k, stride=k // 2) for i, k in enumerate(up_kernels)
        )
        self.resblocks = nn.ModuleList(ParallelBlock(c, resblock_kernels) for c in channels[1:])
        self.conv_post = CausalConv1d(channels[-1], 1, post_kernel)

    @property
    def hop(self) -> int:
        hop = 1
        for up in self.ups:
            hop *= up.conv.stride[0]
        return hop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(x)
        for up, block in zip(self.ups, self.resblocks):
            x = block(up(F.silu(x)))
        return torch.tanh(self.conv_post(F.silu(x)))

    def context(self) -> int:
        """Past input (latent) samples that influence the current output sample."""
        after = conv_context(self.conv_post.conv.kernel_size[0])
        for up, block in zip(reversed(self.ups), reversed(self.resblocks)):
            after += max(b.context() for b in block.blocks)
            after = trans_conv_context(after, up.conv.kernel_size[0], up.conv.stride[0])
        return after + conv_context(self.conv_pre.conv.kernel_size[0])
