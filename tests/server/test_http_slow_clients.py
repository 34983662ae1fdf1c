"""Issue 12, item 8: connections that trickle their headers or their body are closed after the
launcher's timeouts, and the server keeps answering meanwhile."""

from __future__ import annotations

import json
import select
import socket
import time

import httpx
import pytest

from tests.server.helpers import ServerProcess, free_port, model_args

HEADER_TIMEOUT, BODY_TIMEOUT = 1.5, 2.5


@pytest.fixture(scope="module")
def strict(workdir):
    port = free_port()
    args = ["--listen", f"127.0.0.1:{port}", *model_args(workdir), "--header-timeout", str(HEADER_TIMEOUT)]
    args += ["--body-timeout", str(BODY_TIMEOUT), "--keep-alive-timeout", "1", "--max-connections", "200"]
    proc = ServerProcess("tools.api_server", args, cwd=workdir, port=port)
    yield proc
    proc.stop()


def _open(port: int, first: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(first)
    s.setblocking(False)
    return s


def test_trickling_headers_and_bodies_are_cut_off(strict):
    port = int(strict.url.rsplit(":", 1)[1])
    body = json.dumps({"text": "x" * 200}).encode()
    heads = [_open(port, b"POST /v1/tts HTTP/1.1\r\nHost: 127.0.0.1\r\n") for _ in range(50)]
    bodies = [
        _open(
            port,
            b"POST /v1/tts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body) + body[:1],
        )
        for _ in range(10)
    ]
    start = time.monotonic()
    open_socks = {s: b"" for s in heads + bodies}
    closed_at: dict[socket.socket, float] = {}
    replies: dict[socket.socket, bytes] = {}
    health = []
    sent = 1
    while open_socks and time.monotonic() - start < HEADER_TIMEOUT + BODY_TIMEOUT + 5:
        for s in list(open_socks):  # one more byte each, as a slow attacker would
            try:
                s.send(b"X" if s in heads else body[sent : sent + 1])
            except OSError:
                pass
        sent += 1
        readable, _, _ = select.select(list(open_socks), [], [], 0.3)
        for s in readable:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if data:
                open_socks[s] += data
            else:
                replies[s] = open_socks.pop(s)
                closed_at[s] = time.monotonic() - start
        t0 = time.perf_counter()
        health.append((httpx.get(f"{strict.url}/v1/health", timeout=5).status_code, time.perf_counter() - t0))
    for s in heads + bodies:
        s.close()

    assert not open_socks, f"{len(open_socks)} connections still open after {time.monotonic() - start:.1f} s"
    assert max(closed_at[s] for s in heads) < HEADER_TIMEOUT + 1.5, sorted(closed_at[s] for s in heads)
    assert min(closed_at[s] for s in heads) > HEADER_TIMEOUT * 0.8
    assert max(closed_at[s] for s in bodies) < BODY_TIMEOUT + 1.5, sorted(closed_at[s] for s in bodies)
    assert all(replies[s].startswith(b"HTTP/1.1 408") for s in bodies), [replies[s][:40] for s in bodies]
    assert health and all(code == 200 for code, _ in health) and max(t for _, t in health) < 1.0, health


def test_the_timeouts_leave_normal_requests_alone(strict):
    with httpx.Client(base_url=strict.url, timeout=60) as c:
        r = c.post("/v1/tts", json={"text": "Hello there.", "max_new_tokens": 8})
        assert r.status_code == 200 and r.content[:4] == b"RIFF"
        time.sleep(0.5)  # the same keep-alive connection, reused within its idle timeout
        assert c.get("/v1/health").status_code == 200


def test_a_bad_timeout_flag_is_one_error_line(workdir):
    import subprocess
    import sys

    from tests.server.helpers import ROOT

    run = subprocess.run(
        [sys.executable, "-m", "tools.api_server", *model_args(workdir), "--header-timeout", "0"],
        cwd=workdir,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and "--header-timeout must be at least 0.1" in run.stderr, run.stderr[-500:]
