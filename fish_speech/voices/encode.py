"""The one voice path: audio file bytes (+ transcript) -> reference codes, with the loaded codec.

Every surface and engine turns uploaded audio into codes through a `VoiceEncoder`: decode the file
(any format ffmpeg or libsndfile reads) within the audio limits, then `codec.encode`. Errors name the
request field the audio came from.
"""

from __future__ import annotations

import numpy as np

from fish_speech.audio import decode_audio
from fish_speech.engine.types import Reference


def codec_key(codec) -> str:
    """Which codes a codec makes: its class, codebook sizes and rates. Part of every cache key of
    encoded voices, so codes of the 1.5 codec (8 x 1000) are never fed to the modded DAC (4096 + 9 x 1024)
    or the other way round."""
    sizes = "x".join(str(int(n)) for n in getattr(codec, "codebook_sizes", ()))
    rate = getattr(codec, "sample_rate", "?")
    return f"{type(codec).__name__}:{sizes}:{rate}:{getattr(codec, 'frame_length', '?')}"


class VoiceEncoder:
    def __init__(self, codec, max_bytes: int = 0, max_seconds: float = 0.0):
        self.codec = codec
        self.key = codec_key(codec)
        self.max_bytes, self.max_seconds = int(max_bytes), float(max_seconds)
        self.encodes = 0  # how many files were encoded (the library's cache avoids most)

    def decode(self, data: bytes, field: str = "audio") -> tuple[np.ndarray, int]:
        """Audio file bytes -> (mono float32 samples, sample rate), within the limits."""
        return decode_audio(data, field, max_bytes=self.max_bytes or None, max_seconds=self.max_seconds or None)

    def codes(self, data: bytes, field: str = "audio") -> np.ndarray:
        """Audio file bytes -> int32 codes [num_codebooks, frames]."""
        samples, sr = self.decode(data, field)
        self.encodes += 1
        return np.asarray(self.codec.encode(samples, sr), dtype=np.int32)

    def __call__(self, data: bytes, text: str, field: str = "audio") -> Reference:
        return Reference(codes=self.codes(data, field), text=text)
