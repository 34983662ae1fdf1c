"""Encoded audio as JSON-ready chunk objects: `{"type": "audio", "index", "format", "audio": base64}`.

Surfaces that send audio inside JSON (the RunPod worker's tts and agent modes) stream it as such
chunks; concatenating the decoded `audio` of all chunks, in order, gives one valid file of the
format. A chunk never carries more than `chunk_bytes` raw bytes, which keeps it under RunPod's
1 MB per output item.
"""

from __future__ import annotations

import asyncio
import base64

import numpy as np

from fish_speech import audio as audio_io

CHUNK_BYTES = 512 * 1024  # raw bytes per audio chunk: ~700 kB of base64, under RunPod's 1 MB
MAX_CHUNK_BYTES = 700_000  # 933,336 base64 characters + the chunk's other keys: still under 1 MB


def audio_chunks(data: bytes, fmt: str, size: int, first_index: int = 0) -> list[dict]:
    """`data` cut into chunk objects of at most `size` raw bytes, numbered from `first_index`."""
    return [
        {
            "type": "audio",
            "index": first_index + i,
            "format": fmt,
            "audio": base64.b64encode(data[at : at + size]).decode("ascii"),
        }
        for i, at in enumerate(range(0, len(data), size))
    ]


class AudioChunks:
    """Audio pieces in; chunk objects out as they are encoded (streaming) or one whole file at the end.

    The encoding runs in a worker thread so the event loop stays free.
    """

    def __init__(self, fmt: str, sample_rate: int, streaming: bool, chunk_bytes: int = CHUNK_BYTES):
        self.format, self.sample_rate, self.streaming = fmt, sample_rate, streaming
        self.chunk_bytes = chunk_bytes
        self.file_rate = audio_io.output_rate(fmt, sample_rate)
        self.encoder = audio_io.AudioStreamEncoder(fmt, sample_rate) if streaming else None
        self.pieces: list[np.ndarray] = []
        self.samples = self.chunks = 0

    @property
    def duration(self) -> float:
        return self.samples / self.sample_rate

    def split(self, data: bytes) -> list[dict]:
        """Chunk objects for `data`, numbered on from the last one made."""
        out = audio_chunks(data, self.format, self.chunk_bytes, self.chunks)
        self.chunks += len(out)
        return out

    async def add(self, samples: np.ndarray) -> list[dict]:
        self.samples += samples.size
        if not self.streaming:
            self.pieces.append(samples)
            return []
        return self.split(await asyncio.to_thread(self.encoder.feed, samples))

    async def finish(self) -> tuple[list[dict], bytes | None]:
        """(last chunks, None) when streaming; ([], whole file) when not."""
        if self.streaming:
            return self.split(await asyncio.to_thread(self.encoder.finish)), None
        whole = np.concatenate(self.pieces) if self.pieces else np.zeros(0, np.float32)
        return [], await asyncio.to_thread(audio_io.encode_audio, whole, self.sample_rate, self.format)

    def close(self) -> None:
        if self.encoder is not None:
            self.encoder.close()
