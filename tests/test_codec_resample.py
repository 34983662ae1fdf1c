"""Windowed-sinc resampler: kinds, lengths, frequency preservation and anti-aliasing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fish_speech.audio.resample import _direct, _polyphase, resample


def sine(freq, sr, seconds=1.0, amp=0.5):
    n = np.arange(int(sr * seconds))
    return (amp * np.sin(2 * np.pi * freq * n / sr)).astype(np.float32)


def peak_hz(x, sr):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spec) * sr / len(x)


def test_upsample_keeps_frequency_and_length():
    x = sine(1000, 22050)
    y = resample(x, 22050, 44100)
    assert isinstance(y, np.ndarray) and y.dtype == np.float32
    assert len(y) == 2 * len(x)
    assert abs(peak_hz(y, 44100) - 1000) < 2
    # interior samples follow the continuous sine closely
    ref = sine(1000, 44100)
    assert np.max(np.abs(y[200:-200] - ref[200:-200])) < 5e-3


@pytest.mark.parametrize("orig,new", [(48000, 44100), (16000, 44100), (44100, 16000), (8000, 44100)])
def test_lengths_and_peak(orig, new):
    x = sine(440, orig, 0.5)
    y = resample(x, orig, new)
    assert len(y) == math.ceil(len(x) * new / orig)
    assert abs(peak_hz(y, new) - 440) < 4


def test_downsampling_removes_content_above_new_nyquist():
    x = sine(10000, 44100)  # above 8 kHz, the Nyquist of 16 kHz
    y = resample(x, 44100, 16000)
    assert np.sqrt(np.mean(y[100:-100] ** 2)) < 1e-2


def test_kinds_shapes_and_identity():
    x = np.random.default_rng(0).standard_normal((2, 3, 1000)).astype(np.float64)
    same = resample(x, 44100, 44100)
    assert same.dtype == np.float32 and np.array_equal(same, x.astype(np.float32))
    t = torch.from_numpy(x)
    y = resample(t, 22050, 44100)
    assert isinstance(y, torch.Tensor) and y.dtype == torch.float32 and y.shape == (2, 3, 2000)
    assert np.allclose(resample(x, 22050, 44100), y.numpy(), atol=1e-6)


def test_direct_path_matches_polyphase():
    x = torch.from_numpy(np.random.default_rng(1).standard_normal((1, 3000)).astype(np.float32))
    for orig, new in ((160, 147), (1, 2), (160, 441)):
        n = math.ceil(new * x.shape[-1] / orig)
        assert torch.allclose(_polyphase(x, orig, new)[:, :n], _direct(x, orig, new, n), atol=1e-4)


def test_awkward_rate_pair():
    x = sine(300, 44101, 0.3)
    y = resample(x, 44101, 44100)
    assert len(y) == math.ceil(len(x) * 44100 / 44101)
    assert abs(peak_hz(y, 44100) - 300) < 5
