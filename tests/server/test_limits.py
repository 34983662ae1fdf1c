"""The HTTP server's documented limits and defaults at their real values (docs/http.md), on the
shared server started without limit flags: every bound just inside passes, just outside is a 400
naming the field; /v1/info (what the page and /docs show) carries the documented defaults."""

from __future__ import annotations

import pytest

# (field, just inside, just outside), from the /v1/tts table of docs/http.md
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
    ("text", "a" * 3000, "a" * 3001),  # --max-text-length
]

# the /v1/tts table's defaults
DEFAULTS = {
    "format": "wav",
    "streaming": False,
    "stream_frames": None,  # null: the server's STREAM_FRAMES (early first audio)
    "chunk_length": 200,
    "max_new_tokens": 1024,
    "temperature": 0.7,
    "top_p": 0.7,
    "repetition_penalty": 1.2,
    "seed": None,
    "normalize": True,
    "reference_id": None,
}


@pytest.mark.parametrize("field, inside, outside", BOUNDS, ids=lambda v: str(v)[:12])
def test_bounds(client, field, inside, outside):
    body = {"text": "Hi.", "max_new_tokens": 2, field: inside}
    # just inside: every field check passes and the request reaches the (unknown) voice: a 404
    r = client.post("/v1/tts", json={**body, "reference_id": "nobody-here"})
    assert (r.status_code, r.json()["field"]) == (404, "reference_id"), r.text
    r = client.post("/v1/tts", json={**body, field: outside})
    assert (r.status_code, r.json()["field"]) == (400, field), r.text
    if field != "text":  # the OpenAI route shares the Fish fields' bounds
        oai = {"input": "Hi.", "voice": "alloy", "max_new_tokens": 2, field: outside}
        r = client.post("/v1/audio/speech", json=oai)
        assert (r.status_code, r.json()["field"]) == (400, field), r.text


def test_info_carries_the_documented_defaults(client):
    fields = client.get("/v1/info").json()["tts_fields"]
    assert {name: fields[name].get("default") for name in DEFAULTS} == DEFAULTS
