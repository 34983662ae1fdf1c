"""The worker's streamed WAV read by a hand parser: header fields right, sizes "unknown", and exactly
the samples of the same job's whole file (read by the standard library's `wave`)."""

from __future__ import annotations

import io
import wave

import numpy as np
from runpod_testkit import audio_bytes, error_of, run_job
from wav_fields import UNKNOWN, check_pcm16_mono, parse_wav

JOB = {"text": "Hello there.", "tts": True, "max_new_tokens": 20, "temperature": 0, "format": "wav"}


def test_streamed_wav_is_the_whole_file(handler_module, worker):
    whole = run_job(handler_module, {**JOB, "streaming": False})
    streamed = run_job(handler_module, {**JOB, "streaming": True})
    assert error_of(whole) is None and error_of(streamed) is None
    with wave.open(io.BytesIO(audio_bytes(whole))) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 44100)
        want = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64) / 32767
    assert len(want) == 20 * 2048
    info = parse_wav(audio_bytes(streamed))
    check_pcm16_mono(info)
    assert info["riff_size"] == info["data_size"] == UNKNOWN
    assert info["samples"].shape == want.shape and np.abs(info["samples"] - want).max() <= 1.5 / 32767
