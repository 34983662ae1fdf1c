"""The worker's documented limits and defaults at their real values (runpod/README.md), with no test
override of the settings: every bound just inside passes and just outside is a 400 naming the field,
audio chunks hold 512 KiB, and streamed pieces are 8 frames first, then STREAM_FRAMES = 24."""

from __future__ import annotations

import base64

import pytest
from runpod_testkit import configure, error_of, run_job

from fish_speech.settings import Settings

FRAME_BYTES = 2048 * 2  # one generated frame of 16-bit mono pcm
CHUNK = 512 * 1024  # AUDIO_CHUNK_BYTES' documented default

# (field, just inside, just outside), from the README's request table
BOUNDS = [
    ("chunk_length", 1000, 1001),
    ("chunk_length", 0, -1),
    ("temperature", 2, 2.001),
    ("temperature", 0, -0.001),
    ("top_p", 0.01, 0.0099),
    ("top_p", 1, 1.001),
    ("repetition_penalty", 0.9, 0.899),
    ("repetition_penalty", 2, 2.001),
    ("max_new_tokens", 4096, 4097),  # MAX_NEW_TOKENS_LIMIT
    ("max_new_tokens", 0, -1),
    ("seed", 4294967295, 4294967296),
    ("seed", 0, -1),
    ("text", "a" * 3000, "a" * 3001),  # MAX_TEXT_LENGTH
]


@pytest.fixture()
def defaults(worker, monkeypatch):
    """The shared worker with every setting at its default (the fixture streams every 8 frames)."""
    configure(monkeypatch, worker, **{**vars(Settings()), "references_dir": worker.settings.references_dir})
    return worker


def failure(handler_module, **fields) -> dict:
    job = {"text": "Hi.", "tts": True, "max_new_tokens": 2, **fields}
    return error_of(run_job(handler_module, job))


@pytest.mark.parametrize("field, inside, outside", BOUNDS, ids=lambda v: str(v)[:12])
def test_bounds(handler_module, defaults, field, inside, outside):
    # just inside: the fields pass and the job goes on to the (unknown) voice, a 404 after every field check
    err = failure(handler_module, reference_id="nobody-here", **{field: inside})
    assert (err["code"], err["field"]) == (404, "reference_id"), err
    err = failure(handler_module, **{field: outside})
    assert (err["code"], err["field"]) == (400, field), err


def test_a_whole_file_comes_in_512_kib_chunks(handler_module, defaults):
    frames = CHUNK // FRAME_BYTES + 1  # one frame more than a chunk holds
    job = {"text": "Hi.", "tts": True, "temperature": 0, "max_new_tokens": frames, "format": "pcm"}
    chunks = run_job(handler_module, {**job, "streaming": False})
    assert error_of(chunks) is None, chunks[-1]
    sizes = [len(base64.b64decode(c["audio"])) for c in chunks if c["type"] == "audio"]
    assert sizes == [CHUNK, FRAME_BYTES] and chunks[-1]["chunks"] == 2 and "audio" not in chunks[-1]


def test_streamed_pieces_are_8_frames_then_24(handler_module, defaults):
    job = {"text": "Hi.", "tts": True, "temperature": 0, "max_new_tokens": 60, "format": "pcm", "chunk_length": 0}
    chunks = run_job(handler_module, job)
    assert error_of(chunks) is None, chunks[-1]
    frames = [len(base64.b64decode(c["audio"])) // FRAME_BYTES for c in chunks if c["type"] == "audio"]
    assert frames == [8, 24, 24, 4]
