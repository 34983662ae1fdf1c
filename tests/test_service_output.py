"""Encoded audio and service events as JSON chunk objects: sizes, numbering, one valid file, `done`."""

import asyncio
import base64
import io

import numpy as np
import soundfile as sf

from fish_speech.audio import decode_audio
from fish_speech.audio.sink import AudioSink
from fish_speech.service.events import AudioBytes, JobDone, TextOut
from fish_speech.service.output import MAX_CHUNK_BYTES, as_chunks, audio_chunks


def test_split_sizes_and_numbering():
    parts = audio_chunks(bytes(range(256)) * 10, "wav", 1000, first_index=3)
    assert [p["index"] for p in parts] == [3, 4, 5]
    assert b"".join(base64.b64decode(p["audio"]) for p in parts) == bytes(range(256)) * 10
    assert all(len(base64.b64decode(p["audio"])) <= 1000 for p in parts)


def test_streamed_pieces_form_one_file_and_whole_file_matches():
    tone = (0.3 * np.sin(np.arange(44100) * 2 * np.pi * 330 / 44100)).astype(np.float32)

    async def run(streaming):
        sink = AudioSink("flac", 44100, streaming)
        pieces = [await sink.add(piece) for piece in np.array_split(tone, 5)]
        tail = await sink.finish()
        sink.close()
        return sink, pieces, tail

    sink, pieces, tail = asyncio.run(run(True))
    assert abs(sink.duration - 1.0) < 1e-9 and sum(bool(p) for p in pieces) > 1
    decoded, sr = decode_audio(b"".join(pieces) + tail)  # streamed flac: length unknown in the header
    assert sr == 44100
    assert len(decoded) == len(tone) and np.abs(decoded - tone).max() < 1e-3
    sink, pieces, whole = asyncio.run(run(False))
    assert pieces == [b""] * 5 and np.abs(sf.read(io.BytesIO(whole), dtype="float32")[0] - tone).max() < 1e-3


def shape(events, **kwargs) -> list[dict]:
    async def gen():
        for e in events:
            yield e

    async def run():
        return [c async for c in as_chunks(gen(), **kwargs)]

    return asyncio.run(run())


def test_events_become_text_audio_and_done_chunks():
    data = bytes(range(256)) * 40  # 10240 bytes
    streamed = shape([TextOut("hi"), AudioBytes(data[:6000], "wav"), AudioBytes(data[6000:], "wav"), JobDone({"x": 1})],
                     chunk_bytes=4096)  # fmt: skip
    assert [c["type"] for c in streamed] == ["text", "audio", "audio", "audio", "audio", "done"]
    assert [c["index"] for c in streamed[1:5]] == [0, 1, 2, 3] and streamed[-1] == {"type": "done", "x": 1, "chunks": 4}
    assert b"".join(base64.b64decode(c["audio"]) for c in streamed[1:5]) == data
    # a whole file rides in `done` while it fits the inline limit, else it comes as chunks first
    whole = [AudioBytes(data, "flac", whole=True), JobDone({})]
    inline = shape(whole, chunk_bytes=4096, inline_limit=None)
    assert len(inline) == 1 and base64.b64decode(inline[0]["audio"]) == data and inline[0]["bytes"] == len(data)
    split = shape(whole, chunk_bytes=4096, inline_limit=4096)
    assert [c["type"] for c in split] == ["audio"] * 3 + ["done"] and "audio" not in split[-1]
    assert split[-1]["chunks"] == 3 and split[0]["format"] == "flac"


def test_no_chunk_exceeds_the_runpod_item_limit_whatever_the_setting():
    big = bytes(2_000_000)
    chunks = shape([AudioBytes(big, "wav", whole=True), JobDone({})], chunk_bytes=10**9, inline_limit=10**9)
    assert max(len(base64.b64decode(c["audio"])) for c in chunks if c["type"] == "audio") == MAX_CHUNK_BYTES
    assert "audio" not in chunks[-1]
