"""POST /v1/chat (agent mode): server-sent events for JSON, length-prefixed msgpack frames, one reply without streaming."""

from __future__ import annotations

import json
import struct

import httpx
import ormsgpack


def events(text: str) -> list[dict]:
    return [json.loads(block[6:]) for block in text.split("\n\n") if block.startswith("data: ")]


def test_streaming_json_is_server_sent_events(base_url):
    body = {"message": "Hello there", "max_new_tokens": 12, "conversation_id": "http-test-1", "seed": 3}
    with httpx.stream("POST", f"{base_url}/v1/chat", json=body, timeout=120) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        chunks = events(r.read().decode())
    assert chunks[-1]["type"] == "done"
    assert chunks[-1]["conversation_id"] == "http-test-1"
    assert {c["type"] for c in chunks} <= {"text", "audio", "done"}
    # the second turn sees the first one (server-side memory); it presents the first turn's token
    token = chunks[-1]["conversation_token"]
    again = {**body, "message": "And again", "streaming": False, "conversation_token": token}
    r = httpx.post(f"{base_url}/v1/chat", json=again, timeout=120)
    roles = [m["role"] for m in r.json()["history"]]
    assert roles.count("user") == 2


def test_msgpack_frames(base_url):
    body = ormsgpack.packb({"message": "Hi", "max_new_tokens": 8})
    r = httpx.post(f"{base_url}/v1/chat", content=body, headers={"content-type": "application/msgpack"}, timeout=120)
    assert r.status_code == 200
    data, frames = r.content, []
    while data:
        (size,) = struct.unpack("<I", data[:4])
        frames.append(ormsgpack.unpackb(data[4 : 4 + size]))
        data = data[4 + size :]
    assert frames[-1]["type"] == "done"


def test_errors_before_streaming_are_statuses(client):
    r = client.post("/v1/chat", json={"message": ""})
    assert r.status_code == 400 and r.json()["field"] == "message"
    r = client.post("/v1/chat", json={"message": "x", "conversation_id": "../x"})
    assert r.status_code == 400 and r.json()["field"] == "conversation_id"
