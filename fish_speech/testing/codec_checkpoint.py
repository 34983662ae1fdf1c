"""Random-weight codec checkpoints in the official key layout, for tests and smoke runs.

`tiny=True` keeps every key name and tensor rank of the real file but uses small channel
counts (well under 2 MB); `tiny=False` gives the real 547-tensor / 47,065,218-parameter shapes.
Weights are scaled by fan-in so activations stay O(1), codes spread over the whole 0..999 range,
and the tanh output stays clear of +-1.
"""

from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

import torch

from fish_speech.models.random_weights import write_marker
from fish_speech.models.skeleton import skeleton
from fish_speech.models.vqgan.codec import Codec
from fish_speech.models.vqgan.config import CodecConfig

_LAYOUTS = {
    "parametrizations": (".parametrizations.weight.original0", ".parametrizations.weight.original1"),
    "legacy": (".weight_g", ".weight_v"),
}


def module_shapes(tiny: bool = False) -> dict[str, tuple[int, ...]]:
    """Shapes of the module tree's own parameters (weight norm fused), built on the meta device."""
    return dict(_module_shapes(tiny))


@lru_cache(maxsize=2)
def _module_shapes(tiny: bool) -> tuple[tuple[str, tuple[int, ...]], ...]:
    with skeleton():
        model = Codec(CodecConfig.tiny() if tiny else CodecConfig.full())
    return tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())


def _is_weight_normed(key: str) -> bool:
    return key.startswith("head.") and key.endswith(".conv.weight")


def official_shapes(tiny: bool = False, layout: str = "parametrizations") -> dict[str, tuple[int, ...]]:
    """Checkpoint key -> shape, in the order the official file lists them."""
    g_suffix, v_suffix = _LAYOUTS[layout]
    out: dict[str, tuple[int, ...]] = {}
    pending: dict[str, tuple[int, ...]] = {}
    for key, shape in module_shapes(tiny).items():
        if _is_weight_normed(key):
            pending[key] = shape  # the parametrized weight comes after the bias
            continue
        out[key] = shape
        wkey = key[: -len("bias")] + "weight"
        if key.endswith(".conv.bias") and wkey in pending:
            base = wkey[: -len(".weight")]
            w = pending.pop(wkey)
            out[base + g_suffix] = (w[0],) + (1,) * (len(w) - 1)
            out[base + v_suffix] = w
    assert not pending, pending
    return out


def _fan_in(key: str, shape: tuple[int, ...]) -> float:
    """Taps feeding one output sample (transposed convs are [in, out, k] with stride k // 2 or k)."""
    if key.startswith("head.ups."):
        return shape[0] * shape[2] / (shape[2] // 2)
    if key.startswith("quantizer.upsample.") and key.endswith(".0.conv.weight"):
        return float(shape[0])
    return float(math.prod(shape[1:]))


def _gain(key: str) -> float:
    if key.startswith("head.conv_post"):
        return 0.15  # keeps tanh well inside (-1, 1)
    if key.startswith("head.ups."):
        return 2.0  # the SiLU in front roughly halves the signal
    if key.startswith("head.resblocks"):
        return 0.6
    return 1.0


def codec_state_dict(tiny: bool = True, layout: str = "parametrizations", seed: int = 0) -> dict[str, torch.Tensor]:
    if layout not in _LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(_LAYOUTS)}, got {layout!r}")
    g_suffix, v_suffix = _LAYOUTS[layout]
    gen = torch.Generator().manual_seed(seed)
    shapes = module_shapes(tiny)

    def randn(*shape):
        return torch.randn(*shape, generator=gen)

    def rand(*shape):
        return torch.rand(*shape, generator=gen)

    sd: dict[str, torch.Tensor] = {}
    for key, shape in shapes.items():
        if key.endswith("gamma"):
            value = torch.exp(rand(*shape) * math.log(1e-1 / 1e-3)) * 1e-3  # log-uniform 1e-3..1e-1
        elif len(shape) == 1 and key.endswith("weight"):
            value = 1.0 + 0.1 * randn(*shape)  # layer norm scale
        elif len(shape) == 1:
            value = 0.02 * randn(*shape)
        else:
            value = randn(*shape) * (_gain(key) / math.sqrt(_fan_in(key, shape)))
        sd[key] = value.float().contiguous()

    out: dict[str, torch.Tensor] = {}
    for key, shape in official_shapes(tiny).items():  # walk in official order, then rename
        if key.endswith(".parametrizations.weight.original0"):
            base = key[: -len(".parametrizations.weight.original0")]
            w = sd[base + ".weight"]
            stretch = 0.5 + 1.5 * rand(w.shape[0], *(1,) * (w.dim() - 1))  # v need not be unit-norm
            out[base + g_suffix] = torch.linalg.vector_norm(w.reshape(w.shape[0], -1), dim=1).reshape(
                (w.shape[0],) + (1,) * (w.dim() - 1)
            )
            out[base + v_suffix] = (w * stretch).contiguous()
        elif key.endswith(".parametrizations.weight.original1"):
            continue
        else:
            out[key] = sd[key]
    return out


def write_codec_checkpoint(
    path, tiny: bool = True, layout: str = "parametrizations", prefix: str = "", wrap: bool = False, seed: int = 0
) -> Path:
    """Write a random codec state dict with `torch.save`; returns the path."""
    sd = codec_state_dict(tiny=tiny, layout=layout, seed=seed)
    if prefix:
        sd = {prefix + k: v for k, v in sd.items()}
        if "generator" in prefix:  # what a full GAN training checkpoint would also carry
            gen = torch.Generator().manual_seed(seed + 1)
            sd["discriminator.convs.0.weight"] = torch.randn(4, 1, 5, generator=gen)
            sd["discriminator.convs.0.bias"] = torch.zeros(4)
    obj = {"state_dict": sd} if wrap else sd
    path = Path(path)
    if path.parent and not path.parent.exists():
        os.makedirs(path.parent, exist_ok=True)
    torch.save(obj, path)
    write_marker(path.parent)
    return path
