"""Building blocks shared by the encoder, quantizer and generator.

Every conv is causal (padding on the left only), which is what makes the decoder streamable
and the encoder prefix-stable. Conv wrappers keep the torch conv as the child `conv` because
the checkpoint keys carry that `.conv.` infix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CausalConv1d(nn.Module):
    """Conv1d with left padding (k-1)*d + 1 - stride and right padding that completes the last frame.

    Output length is ceil(len / stride).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, dilation: int = 1, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(in_ch, out_ch, kernel, stride=stride, dilation=dilation, groups=groups)
        self.stride = stride
        self.left = (kernel - 1) * dilation + 1 - stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1]
        extra = -n % self.stride
        if self.left or extra:
            x = F.pad(x, (self.left, extra))
        return self.conv(x)


class CausalConvTranspose1d(nn.Module):
    """ConvTranspose1d whose surplus kernel - stride samples are cut from the right: len * stride out."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int):
        super().__init__()
        self.conv = nn.ConvTranspose1d(in_ch, out_ch, kernel, stride=stride)
        self.trim = kernel - stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y[..., : y.shape[-1] - self.trim] if self.trim else y


class ChannelsFirstLayerNorm(nn.Module):
    """LayerNorm over dim 1 of [B, C, T] (eps 1e-6); per time step, so it stays causal."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.transpose(1, 2), self.weight.shape, self.weight, self.bias, self.eps)
        return y.transpose(1, 2)


class ConvNeXtBlock(nn.Module):
    """Causal depthwise conv -> LayerNorm -> MLP (x4, exact GELU) -> layer scale -> residual."""

    def __init__(self, dim: int, kernel: int = 7, mlp_ratio: int = 4):
        super().__init__()
        self.dwconv = CausalConv1d(dim, dim, kernel, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, mlp_ratio * dim)
        self.pwconv2 = nn.Linear(mlp_ratio * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).transpose(1, 2)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


def conv_context(kernel: int, dilation: int = 1) -> int:
    """Past samples a stride-1 causal conv looks at."""
    return (kernel - 1) * dilation


def trans_conv_context(samples_after: int, kernel: int, stride: int) -> int:
    """Past input samples a causal transposed conv needs so that `samples_after` past outputs are exact."""
    return (samples_after + kernel - 1) // stride
