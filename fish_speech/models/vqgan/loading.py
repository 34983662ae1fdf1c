"""Reading a codec checkpoint into plain `name -> tensor` form the module tree accepts directly.

Handles a Lightning-style {"state_dict": ...} wrapper, a `generator.` prefix (other sub-models
such as discriminators are dropped), and both weight-norm spellings, which are fused once here
(W = g * v / |v|, norm over every dim but 0) so forward passes never recompute them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch

from fish_speech.errors import FishError
from fish_speech.models.file_kind import check_torch_file

_WN_PAIRS = (
    (".parametrizations.weight.original0", ".parametrizations.weight.original1"),
    (".weight_g", ".weight_v"),
)


def _fail(message: str) -> FishError:
    return FishError(422, "checkpoint", message)


CODEC_FILES = (
    "a codec checkpoint file: firefly-gan-vq-fsq-8x1024-21hz-generator.pth (Fish Speech 1.5) "
    "or codec.pth (S1-mini, S2-Pro)"
)


def read_checkpoint(path) -> Mapping:
    path = os.fspath(path)
    check_torch_file(path, "checkpoint", CODEC_FILES)  # a wrong file says what it is and what to pass
    try:
        return torch.load(path, map_location="cpu", mmap=True, weights_only=True)
    except Exception:
        pass  # old non-zip files cannot be memory-mapped; try again the plain way
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _fail(f"cannot read codec checkpoint {path}: {first}") from None


def select_generator(obj) -> dict[str, torch.Tensor]:
    """Unwrap and filter: the state dict of the generator alone, keys as the module tree names them."""
    if not isinstance(obj, Mapping):
        raise _fail(f"codec checkpoint holds a {type(obj).__name__}, expected a dict of tensors")
    if isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if any("generator" in k for k in obj):
        obj = {k.replace("generator.", ""): v for k, v in obj.items() if "generator." in k}
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise _fail(f"codec checkpoint entries are not tensors: {', '.join(map(str, bad[:5]))}")
    return dict(obj)


def fuse_weight_norm(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    consumed: set[str] = set()
    for g_suffix, v_suffix in _WN_PAIRS:
        for key in sd:
            if key in consumed or not (key.endswith(g_suffix) or key.endswith(v_suffix)):
                continue
            is_g = key.endswith(g_suffix)
            base = key[: -len(g_suffix if is_g else v_suffix)]
            g_key, v_key, w_key = base + g_suffix, base + v_suffix, base + ".weight"
            if g_key not in sd or v_key not in sd:
                raise _fail(f"checkpoint is missing key {v_key if is_g else g_key} (weight-norm pair of {key})")
            if w_key in out or w_key in sd:
                raise _fail(f"checkpoint holds {w_key} twice (plain and weight-normed)")
            g, v = sd[g_key], sd[v_key]
            if g.numel() != v.shape[0]:
                raise _fail(f"checkpoint key {g_key} has shape {list(g.shape)}, expected [{v.shape[0]}, 1, 1]")
            work = torch.promote_types(v.dtype, torch.float32)
            vf = v.to(work)
            norm = torch.linalg.vector_norm(vf.reshape(vf.shape[0], -1), dim=1)
            scale = (g.to(work).reshape(-1) / norm).reshape((-1,) + (1,) * (v.dim() - 1))
            out[w_key] = vf * scale
            consumed.update((g_key, v_key))
    for key, value in sd.items():
        if key not in consumed:
            out[key] = value
    return out


def normalize_state_dict(obj) -> dict[str, torch.Tensor]:
    return fuse_weight_norm(select_generator(obj))


def check_keys(expected: Mapping[str, torch.Size], sd: Mapping[str, torch.Tensor], source: str) -> None:
    """Missing keys, unexpected keys and wrong shapes are errors (upstream would run random weights)."""
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    wrong = [
        f"{k} {list(sd[k].shape)} (expected {list(expected[k])})"
        for k in expected
        if k in sd and tuple(sd[k].shape) != tuple(expected[k])
    ]
    problems = []
    for label, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong)):
        if items:
            more = f" (+{len(items) - 8} more)" if len(items) > 8 else ""
            problems.append(f"{label}: {', '.join(items[:8])}{more}")
    if problems:
        raise _fail(f"codec checkpoint {source} does not match the codec architecture; " + "; ".join(problems))
