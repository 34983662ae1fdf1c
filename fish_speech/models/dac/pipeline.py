"""Run a causal module chain piece by piece so that the pieces concatenate to one full pass.

Conv runs are re-run over a short carried-over history (their left context, rounded to whole
output steps) and the outputs that belong to the history are dropped; windowed transformers
keep a `WindowCache`. Memory therefore depends on the piece size, never on the total length.
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch
from torch import nn

from .layers import left_context
from .transformer import WindowTransformer


class _ConvRun:
    def __init__(self, modules: list[nn.Module]):
        self.modules = modules
        ctx, scale = left_context(modules)  # input steps; input steps per output step
        step = scale.numerator  # history must hold whole output steps
        self.history_len = math.ceil(ctx / step) * step
        self.out_per_in = 1 / Fraction(scale)
        self.history: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        inp = x if self.history is None else torch.cat([self.history, x], dim=-1)
        y = inp
        for m in self.modules:
            y = m(y)
        if self.history_len:
            self.history = inp[..., max(0, inp.shape[-1] - self.history_len) :]
        drop = int((inp.shape[-1] - x.shape[-1]) * self.out_per_in)
        return y[..., drop:] if drop else y


class _TransformerRun:
    def __init__(self, module: WindowTransformer):
        self.module = module
        self.cache = module.new_cache()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x, self.cache)


class CausalPipeline:
    """Feed inputs whose lengths are multiples of `alignment` (the chain's total stride)."""

    def __init__(self, modules: list[nn.Module]):
        self.parts: list = []
        run: list[nn.Module] = []
        for m in modules:
            if isinstance(m, WindowTransformer):
                if run:
                    self.parts.append(_ConvRun(run))
                    run = []
                self.parts.append(_TransformerRun(m))
            else:
                run.append(m)
        if run:
            self.parts.append(_ConvRun(run))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for part in self.parts:
            x = part(x)
        return x


def context_frames(modules: list[nn.Module]) -> int:
    """Input steps before an output's own inputs that can change it (transformers: all layers' windows)."""
    total = Fraction(0)
    scale = Fraction(1)
    for m in modules:
        if isinstance(m, WindowTransformer):
            c, s = Fraction(len(m.layers) * (m.window - 1)), Fraction(1)
        else:
            c, s = left_context(m)
        total += c * scale
        scale *= s
    return math.ceil(total)
