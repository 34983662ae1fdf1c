"""Causal convolution blocks of the modded DAC, in the official module order.

Weight norm is fused at load time, so every conv here holds a plain `weight`. Each block also
reports `left_context()`: how many input steps before its first "own" input step an output can
see, which is what chunked encoding and streaming decoding must carry over between calls.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import nn


class Snake1d(nn.Module):
    """x + sin^2(alpha x) / (alpha + 1e-9), alpha per channel (the same op order as dac's)."""

    def __init__(self, channels: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(shape[0], shape[1], -1)
        x = x + (self.alpha + 1e-9).reciprocal() * torch.sin(self.alpha * x).pow(2)
        return x.reshape(shape)


class CausalConv(nn.Module):
    """Conv1d padded on the left by (effective kernel - stride) and on the right just enough to
    complete the last frame, so a stride-s conv maps L steps to ceil(L / s)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1, groups: int = 1):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, kernel, stride=stride, dilation=dilation, groups=groups)
        self.stride = stride
        self.span = (kernel - 1) * dilation + 1
        self.pad = self.span - stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[-1]
        frames = math.ceil((length - self.span + self.pad) / self.stride + 1)
        extra = (frames - 1) * self.stride + (self.span - self.pad) - length
        return self.conv(F.pad(x, (self.pad, extra))).contiguous()

    def left_context(self) -> tuple[Fraction, Fraction]:
        return Fraction(self.pad), Fraction(self.stride)


class CausalTransConv(nn.Module):
    """ConvTranspose1d with the (kernel - stride) overhanging samples dropped on the right: L -> L * s."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int):
        super().__init__()
        self.conv = nn.ConvTranspose1d(cin, cout, kernel, stride=stride)
        self.stride = stride
        self.trim = kernel - stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y[..., : y.shape[-1] - self.trim].contiguous()

    def left_context(self) -> tuple[Fraction, Fraction]:
        # output block j sums inputs j, j-1, ... back to ceil(trim / stride) steps
        return Fraction(math.ceil(self.trim / self.stride)), Fraction(1, self.stride)


class ResidualUnit(nn.Module):
    def __init__(self, dim: int, dilation: int):
        super().__init__()
        self.block = nn.Sequential(
            Snake1d(dim), CausalConv(dim, dim, 7, dilation=dilation), Snake1d(dim), CausalConv(dim, dim, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)  # causal convs keep the length, nothing to trim


class ConvNeXtBlock(nn.Module):
    """Depthwise causal conv k7 -> LayerNorm -> Linear x4 -> GELU -> Linear -> * gamma, residual."""

    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))
        self.dwconv = CausalConv(dim, dim, 7, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 1)
        y = self.pwconv2(F.gelu(self.pwconv1(self.norm(y))))
        return x + (self.gamma * y).permute(0, 2, 1)


def left_context(module: nn.Module) -> tuple[Fraction, Fraction]:
    """(context, scale) of a causal module chain, both in its input steps.

    context: how many input steps before an output step's own inputs it depends on;
    scale: input steps per output step (a stride, or 1/stride when upsampling).
    """
    if hasattr(module, "left_context") and not isinstance(module, nn.Sequential):
        return module.left_context()
    if isinstance(getattr(module, "block", None), nn.Sequential):  # residual units, encoder/decoder blocks
        return left_context(module.block)
    if isinstance(module, ConvNeXtBlock):
        return left_context(module.dwconv)
    if isinstance(module, (Snake1d, nn.Identity, nn.Tanh)):
        return Fraction(0), Fraction(1)
    if isinstance(module, nn.Sequential) or isinstance(module, (list, tuple)):
        ctx, scale = Fraction(0), Fraction(1)
        for child in module:
            c, s = left_context(child)
            ctx += c * scale
            scale *= s
        return ctx, scale
    raise TypeError(f"no causal context rule for {type(module).__name__}")
