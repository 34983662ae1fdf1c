"""`codec.pth` -> plain state dict the module tree accepts with `load_state_dict(strict=True)`.

Reuses the firefly loader's file reading, `state_dict` unwrapping, `generator.` filtering and key
checks. Weight norm (parametrized `original0/1` or legacy `weight_g/_v`) is fused here with the
same kernel the parametrization calls at every upstream forward, so the fused weights are
bit-identical to upstream's. The S1-era derived buffers (RoPE tables, causal masks) are dropped
unread: they are constants, and the masks alone are 300 MB.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from fish_speech.models.vqgan.loading import check_keys, read_checkpoint, select_generator

from .config import checkpoint_error as _fail

__all__ = ["check_keys", "normalize_state_dict", "read_checkpoint", "DERIVED_BUFFERS"]

DERIVED_BUFFERS = (".freqs_cis", ".causal_mask")
_WN_PAIRS = (
    (".parametrizations.weight.original0", ".parametrizations.weight.original1"),
    (".weight_g", ".weight_v"),
)


def fuse_weight_norm(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    consumed: set[str] = set()
    for g_suffix, v_suffix in _WN_PAIRS:
        for key in sd:
            if key in consumed or not key.endswith((g_suffix, v_suffix)):
                continue
            base = key[: -len(g_suffix)] if key.endswith(g_suffix) else key[: -len(v_suffix)]
            g_key, v_key, w_key = base + g_suffix, base + v_suffix, base + ".weight"
            if g_key not in sd or v_key not in sd:
                raise _fail(f"checkpoint is missing key {v_key if key == g_key else g_key} (weight-norm pair of {key})")
            if w_key in sd or w_key in out:
                raise _fail(f"checkpoint holds {w_key} twice (plain and weight-normed)")
            g, v = sd[g_key], sd[v_key]
            if g.dim() != v.dim() or g.shape[0] != v.shape[0] or g.numel() != v.shape[0]:
                raise _fail(f"checkpoint key {g_key} has shape {list(g.shape)}, expected [{v.shape[0]}, 1, 1]")
            out[w_key] = torch._weight_norm(v, g, 0)  # g * v / |v|, norm over every dim but 0
            consumed.update((g_key, v_key))
    for key, value in sd.items():
        if key not in consumed:
            out[key] = value
    return out


def normalize_state_dict(obj) -> dict[str, torch.Tensor]:
    sd = select_generator(obj)
    sd = {k: v for k, v in sd.items() if not k.endswith(DERIVED_BUFFERS)}
    return fuse_weight_norm(sd)
