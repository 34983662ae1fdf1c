"""Audio samples in, encoded file bytes out: streamed as they come, or one whole file at the end.

Encoding runs in a worker thread so the event loop stays free. Streamed pieces, concatenated in
order, form one valid file of the format (streaming WAV carries open-ended sizes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from fish_speech import audio as audio_io


class AudioSink:
    def __init__(self, fmt: str, sample_rate: int, streaming: bool):
        self.format, self.sample_rate, self.streaming = fmt, sample_rate, streaming
        self.file_rate = audio_io.output_rate(fmt, sample_rate)
        self.encoder = audio_io.AudioStreamEncoder(fmt, sample_rate) if streaming else None
        self.pieces: list[np.ndarray] = []
        self.samples = 0

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate

    async def add(self, samples: np.ndarray) -> bytes:
        """Encoded bytes ready to send now (always empty when not streaming)."""
        self.samples += samples.size
        if not self.streaming:
            self.pieces.append(samples)
            return b""
        return await asyncio.to_thread(self.encoder.feed, samples)

    async def finish(self, transform: Callable[[np.ndarray, int], np.ndarray] | None = None) -> bytes:
        """The last streamed bytes, or the whole file (after `transform` of the whole waveform)."""
        if self.streaming:
            return await asyncio.to_thread(self.encoder.finish)
        whole = np.concatenate(self.pieces) if self.pieces else np.zeros(0, np.float32)
        if transform is not None:
            whole = await asyncio.to_thread(transform, whole, self.sample_rate)
            self.samples = whole.size
        return await asyncio.to_thread(audio_io.encode_audio, whole, self.sample_rate, self.format)

    def close(self) -> None:
        if self.encoder is not None:
            self.encoder.close()
