"""Band-limited resampling (Hann-windowed sinc), numerically in line with torchaudio's defaults.

The filter is the same family torchaudio uses by default (lowpass width 6 zero crossings,
rolloff 0.99, Hann window), so codes computed from resampled audio match upstream closely.
After reducing the two rates by their gcd, every output phase has its own short kernel and one
strided conv1d computes all phases at once (polyphase). For rate pairs whose reduced form is
huge (e.g. 44101 -> 44100) that kernel bank would not fit, and a chunked direct evaluation of
the same formula is used instead.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

LOWPASS_WIDTH = 6
ROLLOFF = 0.99
_MAX_BANK = 1 << 22  # kernel-bank elements above which the direct path is used


def _windowed_sinc(t: torch.Tensor, base: float, orig: int) -> torch.Tensor:
    """Kernel value at offsets `t` (in reduced-rate time units, i.e. input periods / orig)."""
    t = (t * base).clamp(-LOWPASS_WIDTH, LOWPASS_WIDTH)
    window = torch.cos(t * math.pi / LOWPASS_WIDTH / 2) ** 2
    t = t * math.pi
    safe = torch.where(t == 0, torch.ones_like(t), t)
    sinc = torch.where(t == 0, torch.ones_like(t), torch.sin(safe) / safe)
    return sinc * window * (base / orig)


def _width(orig: int, new: int) -> tuple[float, int]:
    base = min(orig, new) * ROLLOFF
    return base, math.ceil(LOWPASS_WIDTH * orig / base)


@lru_cache(maxsize=16)
def _kernel_bank(orig: int, new: int, dtype: torch.dtype, device: str) -> torch.Tensor:
    """[new, 1, 2*width + orig] kernels, one per output phase (computed once per rate pair)."""
    base, width = _width(orig, new)
    idx = torch.arange(-width, width + orig, dtype=dtype)[None, None] / orig
    t = torch.arange(0, -new, -1, dtype=dtype)[:, None, None] / new + idx
    return _windowed_sinc(t, base, orig).to(device)


def _polyphase(x: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    _, width = _width(orig, new)
    kernel = _kernel_bank(orig, new, x.dtype, str(x.device))
    padded = F.pad(x[:, None], (width, width + orig))
    y = F.conv1d(padded, kernel, stride=orig)  # [N, new, frames]
    return y.transpose(1, 2).reshape(x.shape[0], -1)


def _direct(x: torch.Tensor, orig: int, new: int, out_len: int) -> torch.Tensor:
    """Same formula evaluated per output sample, in chunks (for awkward rate pairs)."""
    base, width = _width(orig, new)
    length = x.shape[-1]
    padded = F.pad(x, (width, width + orig + 1))
    taps = torch.arange(-width, width + 2, device=x.device)
    out = []
    for start in range(0, out_len, 8192):
        o = torch.arange(start, min(start + 8192, out_len), device=x.device, dtype=torch.int64)
        first = (o * orig) // new  # input sample at or before the output instant
        n = first[:, None] + taps[None]  # [chunk, taps] input indices
        t = (n.to(torch.float64) / orig) - (o.to(torch.float64) / new)[:, None]
        w = _windowed_sinc(t, base, orig).to(x.dtype)
        valid = (n >= 0) & (n < length)
        w = w * valid
        out.append(torch.einsum("bct,ct->bc", padded[:, n + width], w))
    return torch.cat(out, dim=-1) if out else x.new_zeros(x.shape[0], 0)


def _resample_tensor(x: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    g = math.gcd(orig_sr, new_sr)
    orig, new = orig_sr // g, new_sr // g
    shape = x.shape
    flat = x.reshape(-1, shape[-1])
    out_len = math.ceil(new * shape[-1] / orig)
    _, width = _width(orig, new)
    if new * (2 * width + orig) <= _MAX_BANK:
        y = _polyphase(flat, orig, new)[:, :out_len]
    else:
        y = _direct(flat, orig, new, out_len)
    return y.reshape(*shape[:-1], out_len)


def resample(audio, orig_sr: int, new_sr: int):
    """Resample along the last axis. numpy in -> numpy float32 out; tensor in -> float32 tensor out."""
    orig_sr, new_sr = int(orig_sr), int(new_sr)
    if orig_sr <= 0 or new_sr <= 0:
        raise ValueError(f"sample rates must be positive, got {orig_sr} and {new_sr}")
    if isinstance(audio, torch.Tensor):
        x = audio if audio.dtype == torch.float32 else audio.float()
        if orig_sr == new_sr:
            return x
        return _resample_tensor(x, orig_sr, new_sr)
    x = np.asarray(audio, dtype=np.float32)
    if orig_sr == new_sr:
        return x
    with torch.inference_mode():
        return _resample_tensor(torch.from_numpy(np.ascontiguousarray(x)), orig_sr, new_sr).numpy()
