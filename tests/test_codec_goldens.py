"""Codec constants derived in the test from their published definitions, not read from the code:

- FSQ (shared/spec/codec.md §6.2): code = round(bound(bound(p))), bound(x) = tanh(x + shift) * half_l
  - offset, half_l = (L - 1)(1 + 1e-3)/2, offset = 0.5 for even L, shift = atanh(offset / half_l),
  id = sum((code + L // 2) * [1, 8, 40, 200]). Each level boundary is solved for in float64 by inverting
  bound twice; points just either side must get the two neighbouring ids. Their distance to the boundary
  is a quarter of how far the 1e-3 epsilon moves it, so a wrong epsilon is caught.
- Mel filterbank: Slaney's Auditory Toolbox scale (linear 200/3 Hz per mel below 1 kHz, log step
  ln(6.4)/27 above) with triangular filters and area normalisation 2 / (f[m+2] - f[m]) — what
  librosa's `filters.mel(htk=False, norm="slaney")` and torchaudio's `melscale_fbanks(norm="slaney",
  mel_scale="slaney")` compute (codec.md §4), written here as plain loops.
- Log-mel of one frame by a naive float64 DFT: reflect padding 768, periodic Hann 2048,
  magnitude sqrt(re^2 + im^2 + 1e-6), natural log of max(fb . mag, 1e-5) (codec.md §4).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fish_speech.models.vqgan.fsq import GroupedFSQ
from fish_speech.models.vqgan.mel import LogMelSpectrogram, slaney_mel_filterbank

LEVELS = [8, 5, 5, 5]
BASIS = [1, 8, 40, 200]


def fsq_consts(level: int, eps: float):
    half_l = (level - 1) * (1 + eps) / 2
    offset = 0.5 if level % 2 == 0 else 0.0
    return half_l, offset, math.atanh(offset / half_l)


def bound_inverse(y: float, level: int, eps: float) -> float:
    half_l, offset, shift = fsq_consts(level, eps)
    return math.atanh((y + offset) / half_l) - shift


def boundary(level: int, y: float, eps: float = 1e-3) -> float:
    """The p where round(bound(bound(p))) steps across y (= k + 0.5)."""
    return bound_inverse(bound_inverse(y, level, eps), level, eps)


def boundary_rows():
    """(4-vector p, expected id) just below and above every level boundary of every dimension."""
    rows = []
    for d, level in enumerate(LEVELS):
        half = level // 2
        lowest = -half
        for k in range(lowest, lowest + level - 1):  # boundary between codes k and k + 1
            at = boundary(level, k + 0.5)
            delta = abs(at - boundary(level, k + 0.5, eps=0.0)) / 4
            for p_d, code in ((at - delta, k), (at + delta, k + 1)):
                p = [0.0] * 4  # bound(bound(0)) = 0: the other dimensions stay at code 0
                p[d] = p_d
                digits = [LEVELS[i] // 2 for i in range(4)]
                digits[d] = code + half
                rows.append((p, sum(dg * b for dg, b in zip(digits, BASIS))))
    return rows


def test_fsq_ids_either_side_of_every_level_boundary():
    rows = boundary_rows()
    assert len(rows) == 2 * (7 + 4 + 4 + 4)
    fsq = GroupedFSQ(8, 2)
    ids = fsq.quantize_projected(torch.tensor([p for p, _ in rows], dtype=torch.float32))
    assert ids.tolist() == [want for _, want in rows]


# ---- mel -------------------------------------------------------------------------------------


def hz_to_mel(f: float) -> float:
    return f / (200 / 3) if f < 1000 else 15 + math.log(f / 1000) / (math.log(6.4) / 27)


def mel_to_hz(m: float) -> float:
    return m * (200 / 3) if m < 15 else 1000 * math.exp((m - 15) * math.log(6.4) / 27)


def slaney_filterbank_loops(sr=44100, n_fft=2048, n_mels=160) -> np.ndarray:
    top = hz_to_mel(sr / 2)
    edges = [mel_to_hz(top * i / (n_mels + 1)) for i in range(n_mels + 2)]
    fb = np.zeros((n_fft // 2 + 1, n_mels))
    for m in range(n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        for b in range(n_fft // 2 + 1):
            f = b * sr / n_fft
            weight = max(0.0, min((f - lo) / (mid - lo), (hi - f) / (hi - mid)))
            fb[b, m] = weight * 2 / (hi - lo)
    return fb


def test_filterbank_is_slaneys():
    ref = slaney_filterbank_loops()
    assert np.abs(slaney_mel_filterbank() - ref).max() < 1e-9
    # codec.md §4's figures for librosa/torchaudio: band 0 covers bins 1-2, column sums in [0.04344, 0.05088]
    assert list(np.nonzero(ref[:, 0])[0]) == [1, 2] and 0.04343 < ref.sum(0).min() < ref.sum(0).max() < 0.05089


@pytest.mark.parametrize("frame", [0, 40, 85])
def test_log_mel_of_a_sine_by_a_naive_dft(frame):
    n = np.arange(44100)
    x = (0.5 * np.sin(2 * np.pi * 440 * n / 44100)).astype(np.float32)
    got = LogMelSpectrogram()(torch.from_numpy(x)[None])[0, :, frame].double().numpy()
    padded = np.pad(x.astype(np.float64), 768, mode="reflect")
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2048) / 2048)  # periodic Hann
    seg = padded[512 * frame : 512 * frame + 2048] * window
    k = np.arange(1025)[:, None]
    angle = -2 * np.pi * k * np.arange(2048)[None, :] / 2048
    re, im = (seg * np.cos(angle)).sum(1), (seg * np.sin(angle)).sum(1)
    mag = np.sqrt(re**2 + im**2 + 1e-6)
    want = np.log(np.maximum(slaney_filterbank_loops().T @ mag, 1e-5))
    assert int(want.argmax()) == 17  # 440 Hz sits in band 17
    assert np.abs(got - want).max() < 2e-3
