"""Issue 12, item 6: whole-file requests dropped by their client stop using the model.

Three long non-streaming syntheses are sent on raw sockets and the sockets closed; a small request
sent right after must not wait for them (before the fix it waited for all three to finish).
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlparse

LONG = {"text": "A long synthesis that keeps the model busy.", "chunk_length": 0, "max_new_tokens": 400, "seed": 4}
SMALL = {"text": "Quick one.", "max_new_tokens": 8, "seed": 1}


def _send(url, path: str, body: dict) -> socket.socket:
    data = json.dumps(body).encode()
    s = socket.create_connection((url.hostname, url.port), timeout=30)
    s.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n".encode()
        + data
    )
    return s


def _timed(client, path, body) -> tuple[int, float]:
    t0 = time.perf_counter()
    r = client.post(path, json=body)
    return r.status_code, time.perf_counter() - t0


def test_dropped_whole_file_requests_are_cancelled(server, client):
    url = urlparse(server.url)
    status, small_alone = _timed(client, "/v1/tts", SMALL)
    assert status == 200
    cancelled_before = server.output().count("its job was cancelled")

    # one long job alone, for scale: how long the model stays busy with each dropped request
    t0 = time.perf_counter()
    assert client.post("/v1/tts", json={**LONG, "max_new_tokens": 100}).status_code == 200
    long_s = (time.perf_counter() - t0) * 4  # max_new_tokens 400 is about four times as long

    dropped = [_send(url, "/v1/tts", LONG), _send(url, "/v1/audio/speech", {**LONG, "input": LONG["text"]})]
    dropped.append(_send(url, "/v1/tts", LONG))
    time.sleep(0.5)  # the first one is generating, the others queued
    for s in dropped:
        s.close()
    status, small_after = _timed(client, "/v1/tts", SMALL)
    assert status == 200
    assert small_after < small_alone + min(long_s / 2, 10.0), (small_after, small_alone, long_s)
    deadline = time.monotonic() + 10
    while server.output().count("its job was cancelled") < cancelled_before + 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.output().count("its job was cancelled") == cancelled_before + 3, server.output()[-2000:]
    assert client.get("/v1/health").status_code == 200


def test_a_dropped_chat_turn_is_cancelled(server, client):
    url = urlparse(server.url)
    cancelled_before = server.output().count("its job was cancelled")
    s = _send(
        url, "/v1/chat", {"message": "Talk for a long while.", "streaming": False, "max_new_tokens": 600, "seed": 2}
    )
    time.sleep(0.5)
    s.close()
    deadline = time.monotonic() + 10
    while server.output().count("its job was cancelled") == cancelled_before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.output().count("its job was cancelled") == cancelled_before + 1
    status, _ = _timed(client, "/v1/tts", SMALL)
    assert status == 200
