"""Audio as JSON chunk objects: sizes, numbering, and one valid file from the pieces."""

import asyncio
import base64
import io

import numpy as np
import soundfile as sf

from fish_speech.audio import decode_audio
from fish_speech.audio.chunks import AudioChunks, audio_chunks


def test_split_sizes_and_numbering():
    parts = audio_chunks(bytes(range(256)) * 10, "wav", 1000, first_index=3)
    assert [p["index"] for p in parts] == [3, 4, 5]
    assert b"".join(base64.b64decode(p["audio"]) for p in parts) == bytes(range(256)) * 10
    assert all(len(base64.b64decode(p["audio"])) <= 1000 for p in parts)


def test_streamed_chunks_form_one_file_and_whole_file_matches():
    tone = (0.3 * np.sin(np.arange(44100) * 2 * np.pi * 330 / 44100)).astype(np.float32)

    async def run(streaming):
        out = AudioChunks("flac", 44100, streaming, chunk_bytes=4000)
        chunks = []
        for piece in np.array_split(tone, 5):
            chunks += await out.add(piece)
        last, whole = await out.finish()
        out.close()
        return out, chunks + last, whole

    out, chunks, whole = asyncio.run(run(True))
    assert whole is None and out.chunks == len(chunks) > 1 and abs(out.duration - 1.0) < 1e-9
    data = b"".join(base64.b64decode(c["audio"]) for c in chunks)
    decoded, sr = decode_audio(data)  # streamed flac: length unknown in the header
    assert sr == 44100
    assert len(decoded) == len(tone) and np.abs(decoded - tone).max() < 1e-3
    out, chunks, whole = asyncio.run(run(False))
    assert chunks == [] and np.abs(sf.read(io.BytesIO(whole), dtype="float32")[0] - tone).max() < 1e-3
