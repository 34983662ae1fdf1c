"""Issue 12, item 13: every yielded item stays under RunPod's 1 MB, however large the done history."""

from __future__ import annotations

import asyncio
import json

import numpy as np

from fish_speech.service.events import AudioBytes, JobDone
from fish_speech.service.output import ITEM_BYTES, as_chunks

RUNPOD_ITEM_LIMIT = 1_000_000


def collect(events) -> list[dict]:
    async def gen():
        for e in events:
            yield e

    async def run():
        return [c async for c in as_chunks(gen(), inline_limit=512 * 1024)]

    return asyncio.run(run())


def rejoined(chunks) -> list:
    pieces = [c for c in chunks if c["type"] == "history"]
    assert [p["index"] for p in pieces] == list(range(len(pieces)))
    assert chunks[-1]["history_chunks"] == len(pieces)
    return json.loads("".join(p["json"] for p in pieces))


def test_history_with_codes_is_split_before_done():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 1024, size=(8, 80000)).tolist()  # ~3.9 MB as JSON, like return_codes
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "<audio>", "parts": [codes]}]
    chunks = collect([JobDone({"mode": "agent", "history": history})])
    assert all(len(json.dumps(c)) < RUNPOD_ITEM_LIMIT for c in chunks)
    assert chunks[-1]["type"] == "done" and chunks[-1]["history"] is None
    assert rejoined(chunks) == history


def test_echoed_non_ascii_history_is_split_and_audio_moves_out():
    history = [{"role": "user", "content": '\u00e9\U0001f600"' * 1_000_000}]  # ~10 MB once escaped
    wav = bytes(range(256)) * 2000  # 512 kB: would be inlined into done
    chunks = collect([AudioBytes(wav, "wav", whole=True), JobDone({"mode": "agent", "history": history})])
    sizes = [len(json.dumps(c)) for c in chunks]
    assert max(sizes) <= ITEM_BYTES < RUNPOD_ITEM_LIMIT
    assert rejoined(chunks) == history
    assert "audio" not in chunks[-1] and chunks[-1]["chunks"] >= 1
    audio = [c for c in chunks if c["type"] == "audio"]
    import base64

    assert b"".join(base64.b64decode(c["audio"]) for c in audio) == wav


def test_small_done_is_unchanged():
    chunks = collect([JobDone({"mode": "agent", "history": [{"role": "user", "content": "hi"}]})])
    assert len(chunks) == 1 and chunks[0]["history"] == [{"role": "user", "content": "hi"}]
