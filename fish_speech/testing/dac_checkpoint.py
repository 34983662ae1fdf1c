"""Random-weight modded DAC `codec.pth` in the official layout, for tests, benchmarks and smoke runs.

    python -m fish_speech.testing.dac_checkpoint OUT_PATH [--full] [--seed N]

Official layout: conv weights of the encoder and decoder as parametrized weight norm
(`….conv.bias`, `….parametrizations.weight.original0` (g), `original1` (v)), the VQ projections in
the legacy spelling (`weight_g`, `weight_v`), and the six S1-era derived buffers (bf16 RoPE tables,
bool causal masks) at the head of each transformer. `tiny` keeps every key and rank but uses
small widths (about 10 MB); `--full` writes the real 391,430,530-parameter shapes (1.87 GB).
Weights are scaled by fan-in (residual branches damped) so activations stay O(1), the codes
spread over their codebooks and the decoded audio is audible but clear of the tanh rails.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from pathlib import Path

import torch

from fish_speech.models.dac.config import HEAD_DIM, DacConfig
from fish_speech.models.dac.model import DAC
from fish_speech.models.dac.transformer import rope_table
from fish_speech.models.random_weights import write_marker
from fish_speech.models.skeleton import skeleton

LAYOUTS = {
    "official": "parametrizations",  # VQ projections stay legacy, as in the released file
    "legacy": "legacy",  # every weight-normed conv as weight_g / weight_v
}
_PARAM = (".parametrizations.weight.original0", ".parametrizations.weight.original1")
_LEGACY = (".weight_g", ".weight_v")
_TRANSFORMERS = ("encoder.block.4.block.5.", "quantizer.pre_module.", "quantizer.post_module.")
_S1_BLOCK = {"full": (16384, 4096), "tiny": (64, 32)}  # buffer lengths (encoder, quantizer)


def _weight_normed(key: str) -> bool:
    if key.startswith(("encoder.", "decoder.")) and key.endswith(".conv.weight"):
        return True
    return key.startswith("quantizer.") and key.endswith(("in_proj.weight", "out_proj.weight"))


def _last_conv(key: str) -> str:
    """Index of the conv feeding tanh: the decoder's conv with one output channel is the last plain one."""
    m = re.fullmatch(r"decoder\.model\.(\d+)\.conv\.weight", key)
    return m.group(1) if m and m.group(1) != "0" else "-"


def _draw(key: str, shape: tuple[int, ...], gen: torch.Generator) -> torch.Tensor:
    randn = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    rand = lambda *s: torch.rand(*s, generator=gen)  # noqa: E731
    if key.endswith("alpha"):
        return 0.5 + rand(*shape)  # Snake frequencies around 1
    if key.endswith("gamma"):
        return torch.exp(rand(*shape) * math.log(10.0)) * 0.02  # layer scales 0.02..0.2
    if key.endswith("codebook.weight"):
        return randn(*shape)
    if len(shape) == 1:
        return (1.0 + 0.1 * randn(*shape)) if key.endswith(("norm.weight",)) else 0.02 * randn(*shape)
    if re.fullmatch(r"decoder\.model\.\d+\.block\.1\.conv\.weight", key):
        fan_in = shape[0] * 2  # transposed conv [in, out, 2s]: two input steps feed each output
    elif key.startswith("quantizer.upsample"):
        fan_in = shape[0]  # transposed conv with kernel = stride
    else:
        fan_in = math.prod(shape[1:])
    gain = 1.0
    if key.endswith(".block.3.conv.weight"):
        gain = 0.3  # the k1 conv closing a residual unit: keep residual sums from growing
    elif key == f"decoder.model.{_last_conv(key)}.conv.weight":
        gain = 0.12  # the final conv into tanh: audible, clear of the rails
    return randn(*shape) * (gain / math.sqrt(fan_in))


def module_shapes(tiny: bool = True) -> dict[str, tuple[int, ...]]:
    """Shapes of the module tree's own parameters (weight norm fused), built on the meta device."""
    with skeleton():
        return {k: tuple(v.shape) for k, v in DAC(DacConfig.tiny() if tiny else DacConfig.full()).state_dict().items()}


def official_layout(tiny: bool = True, layout: str = "official", buffers: bool = True) -> dict[str, tuple]:
    """Checkpoint key -> (shape, dtype, role, module key), in the order the official file lists them.

    role: "param" (stored as is), "g" / "v" (weight-norm halves of the module key), "rope", "mask".
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
    enc_len, q_len = _S1_BLOCK["tiny" if tiny else "full"]
    out: dict[str, tuple] = {}
    pending: dict[str, tuple[int, ...]] = {}
    for key, shape in module_shapes(tiny).items():
        for prefix in _TRANSFORMERS if buffers else ():
            if key == prefix + "layers.0.attention.wqkv.weight":  # buffers precede the layers
                n = enc_len if prefix.startswith("encoder") else q_len
                out[prefix + "freqs_cis"] = ((n, HEAD_DIM // 2, 2), torch.bfloat16, "rope", None)
                out[prefix + "causal_mask"] = ((n, n), torch.bool, "mask", None)
        if _weight_normed(key):
            pending[key] = shape  # the weight-normed pair follows the bias
            continue
        out[key] = (shape, torch.float32, "param", key)
        wkey = key[: -len("bias")] + "weight"
        if key.endswith(".bias") and wkey in pending:
            w = pending.pop(wkey)
            g_suffix, v_suffix = _LEGACY if layout == "legacy" or "_proj." in wkey else _PARAM
            base = wkey[: -len(".weight")]
            out[base + g_suffix] = ((w[0],) + (1,) * (len(w) - 1), torch.float32, "g", wkey)
            out[base + v_suffix] = (w, torch.float32, "v", wkey)
    assert not pending, list(pending)
    return out


def dac_state_dict(tiny: bool = True, layout: str = "official", seed: int = 0, buffers: bool = True) -> dict:
    gen = torch.Generator().manual_seed(seed)
    weights = {k: _draw(k, s, gen).float().contiguous() for k, s in module_shapes(tiny).items()}
    out: dict[str, torch.Tensor] = {}
    for key, (shape, _dtype, role, src) in official_layout(tiny, layout, buffers).items():
        if role == "param":
            out[key] = weights[src]
        elif role == "g":
            w = weights[src]
            out[key] = torch.linalg.vector_norm(w.reshape(w.shape[0], -1), dim=1).reshape(shape)
        elif role == "v":
            w = weights[src]
            stretch = 0.5 + 1.5 * torch.rand(w.shape[0], *(1,) * (w.dim() - 1), generator=gen)  # v is not unit-norm
            out[key] = (w * stretch).contiguous()
        elif role == "rope":
            out[key] = rope_table(0, shape[0], head_dim=2 * shape[1])
        else:
            out[key] = torch.ones(shape, dtype=torch.bool).tril()
    return out


def write_dac_checkpoint(
    path, tiny: bool = True, layout: str = "official", prefix: str = "", wrap: bool = False, seed: int = 0
) -> Path:
    """Write a random modded DAC state dict with `torch.save`; returns the path."""
    sd = dac_state_dict(tiny=tiny, layout=layout, seed=seed)
    if prefix:
        sd = {prefix + k: v for k, v in sd.items()}
        if "generator" in prefix:  # a GAN training checkpoint also carries its discriminator
            gen = torch.Generator().manual_seed(seed + 1)
            sd["discriminator.convs.0.weight"] = torch.randn(4, 1, 5, generator=gen)
            sd["discriminator.convs.0.bias"] = torch.zeros(4)
    obj = {"state_dict": sd} if wrap else sd
    path = Path(path)
    os.makedirs(path.parent, exist_ok=True)
    torch.save(obj, path)
    write_marker(path.parent)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="write a random-weight modded DAC codec.pth (official layout)")
    p.add_argument("out_path")
    p.add_argument("--full", action="store_true", help="real shapes (1.87 GB) instead of tiny ones")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    path = write_dac_checkpoint(a.out_path, tiny=not a.full, seed=a.seed)
    print(f"wrote {path} ({os.path.getsize(path):,} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
