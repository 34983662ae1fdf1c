"""Audio in and out: the one module the surfaces import for formats.

Decoding lives in `audio_decode.py`, encoding in `audio_encode.py`, stream plumbing in
`audio_stream.py`; this module re-exports their public names and adds the codec-rate helper.
"""

from __future__ import annotations

import numpy as np

from fish_speech.audio.decode import SUPPORTED, decode_audio, decode_base64, decode_base64_audio
from fish_speech.audio.encode import (
    FORMATS,
    AudioStreamEncoder,
    check_format,
    content_type,
    encode_audio,
    extension,
    finalize_wav,
    output_rate,
    wav_header,
)

CODEC_SAMPLE_RATE = 44100


def to_codec_rate(audio: np.ndarray, sr: int, target: int = CODEC_SAMPLE_RATE) -> np.ndarray:
    """Resample mono float audio to the codec's rate (a float32 copy-free no-op when equal)."""
    x = np.asarray(audio, dtype=np.float32)
    if int(sr) == int(target):
        return x
    from fish_speech.audio.resample import resample  # torch-backed: imported only when needed

    return np.asarray(resample(x, int(sr), int(target)), dtype=np.float32)


__all__ = [
    "CODEC_SAMPLE_RATE",
    "FORMATS",
    "SUPPORTED",
    "AudioStreamEncoder",
    "check_format",
    "content_type",
    "decode_audio",
    "decode_base64",
    "decode_base64_audio",
    "encode_audio",
    "finalize_wav",
    "extension",
    "output_rate",
    "to_codec_rate",
    "wav_header",
]
