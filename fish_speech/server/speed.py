"""Tempo change without pitch change (OpenAI's `speed`), by waveform-similarity overlap-add.

Plain resampling would turn a faster voice into a chipmunk. WSOLA instead re-spaces short
windows of the input, nudging each one (within a few ms) to where it lines up best with the
natural continuation of the previous window, so periodic speech joins without phase clicks.
"""

from __future__ import annotations

import numpy as np


def change_speed(audio: np.ndarray, sample_rate: int, speed: float) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    if abs(speed - 1.0) < 1e-6 or len(audio) == 0:
        return audio
    frame = max(64, int(0.040 * sample_rate)) // 2 * 2
    hop_out = frame // 2
    hop_in = hop_out * speed
    seek = max(8, int(0.010 * sample_rate))
    window = np.hanning(frame).astype(np.float32)

    padded = np.concatenate([audio, np.zeros(frame + 2 * seek + int(hop_in) + 1, np.float32)])
    n_out = int(round(len(audio) / speed))
    out = np.zeros(n_out + frame, np.float32)
    weight = np.zeros(n_out + frame, np.float32)

    prev = 0  # input start of the previous window
    for k, at in enumerate(range(0, n_out, hop_out)):
        nominal = int(k * hop_in)
        if k == 0:
            start = 0
        else:
            target = padded[prev + hop_out : prev + hop_out + frame]  # what would follow naturally
            lo = max(0, nominal - seek)
            region = padded[lo : nominal + seek + frame]
            score = np.correlate(region, target, mode="valid")
            start = lo + int(np.argmax(score))
        out[at : at + frame] += padded[start : start + frame] * window
        weight[at : at + frame] += window
        prev = start
    weight[weight < 1e-3] = 1.0
    return (out / weight)[:n_out]
