"""Log-mel front end of the codec (44.1 kHz, 160 slaney mel bands, hop 512)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fish_speech.errors import FishError

SAMPLE_RATE = 44100
N_FFT = 2048
HOP = 512
N_MELS = 160
PAD = (N_FFT - HOP) // 2  # 768 each side, so frame t is centred on sample 512t + 256
MIN_SAMPLES = PAD + 1  # reflect padding needs strictly more samples than the pad


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(f >= 1000.0, log_part, mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    lin = m * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
    return np.where(m >= 15.0, log_part, lin)


def slaney_mel_filterbank(
    sample_rate: int = SAMPLE_RATE,
    n_fft: int = N_FFT,
    n_mels: int = N_MELS,
    f_min: float = 0.0,
    f_max: float | None = None,
) -> np.ndarray:
    """Triangular filters on the slaney mel scale with slaney area normalisation, [n_fft//2+1, n_mels]."""
    f_max = sample_rate // 2 if f_max is None else f_max
    freqs = np.linspace(0, sample_rate // 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(f_min), _hz_to_mel(f_max), n_mels + 2))
    edges[0], edges[-1] = f_min, f_max  # undo mel round-trip error so the band edges hit exactly 0
    widths = np.diff(edges)
    slopes = edges[None, :] - freqs[:, None]  # [freqs, n_mels + 2]
    rising = -slopes[:, :-2] / widths[:-1]
    falling = slopes[:, 2:] / widths[1:]
    fb = np.maximum(0.0, np.minimum(rising, falling))
    return fb * (2.0 / (edges[2:] - edges[:-2]))[None, :]


class LogMelSpectrogram(nn.Module):
    """audio [B, L] or [B, 1, L] (float, 44.1 kHz) -> natural-log mel [B, 160, floor(L/512)]."""

    def __init__(self):
        super().__init__()
        # periodic Hann; both constants are derived, never stored in checkpoints
        window = torch.hann_window(N_FFT, periodic=True, dtype=torch.float32, device="cpu")
        self.register_buffer("window", window, persistent=False)
        fb = torch.from_numpy(slaney_mel_filterbank()).float()
        self.register_buffer("fb", fb, persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        if audio.dim() == 3:
            audio = audio.squeeze(1)
        if audio.shape[-1] < MIN_SAMPLES:
            raise FishError(
                400,
                "audio",
                f"audio too short: {audio.shape[-1]} samples at 44100 Hz, need at least {MIN_SAMPLES}",
            )
        audio = audio.float()
        padded = torch.nn.functional.pad(audio[:, None], (PAD, PAD), mode="reflect")[:, 0]
        spec = torch.stft(
            padded,
            N_FFT,
            hop_length=HOP,
            win_length=N_FFT,
            window=self.window,
            center=False,
            normalized=False,
            onesided=True,
            return_complex=True,
        )
        mag = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-6)
        mel = torch.matmul(self.fb.T, mag)
        return torch.log(torch.clamp(mel, min=1e-5))
