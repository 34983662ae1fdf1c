"""Plain data that crosses the engine boundary: requests in, segments out.

Surfaces (RunPod handler, CLI, HTTP server) build these; engines consume them. No tensors here:
codes are numpy int arrays [num_codebooks, T] (8 for 1.5, 10 for S1-mini / S2-Pro) and audio is numpy float32 mono at the codec's 44.1 kHz.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Sampling:
    """Sampling knobs shared by tts and agent. temperature 0 means greedy argmax."""

    temperature: float = 0.7
    top_p: float = 0.7
    repetition_penalty: float = 1.2
    max_new_tokens: int = 0  # 0 = until the model stops or the context is full
    seed: int | None = None
    top_k: int | None = None  # S2-Pro only; None = the family's default (30)


@dataclass
class Reference:
    """A voice prompt: what was said, and the codec codes of how it sounded."""

    codes: np.ndarray  # int, [num_codebooks, frames], values below the codec's codebook sizes
    text: str


@dataclass
class TTSRequest:
    text: str
    references: list[Reference] = field(default_factory=list)
    sampling: Sampling = field(default_factory=Sampling)
    chunk_length: int = 200  # UTF-8 bytes per text chunk; 0 = one chunk, no iterative prompt
    normalize: bool = False  # spell out numbers, dates, currency (English) before cleaning
    # Emit audio every `stream_frames` generated frames (0 = once per text chunk); the first piece
    # comes sooner (after at most 8 frames). The codec is causal, so pieces join seamlessly.
    stream_frames: int = 0


@dataclass
class Segment:
    """A piece of speech, yielded as soon as it is decoded."""

    audio: np.ndarray  # float32 mono at `sample_rate`
    sample_rate: int
    text: str  # the text chunk this audio belongs to
    codes: np.ndarray  # int [num_codebooks, frames] that produced `audio`
    chunk_index: int  # which text chunk
    chunk_done: bool  # True on the last segment of a chunk
    timings: dict = field(default_factory=dict)  # seconds: first_audio_s, generate_s, decode_s ...
