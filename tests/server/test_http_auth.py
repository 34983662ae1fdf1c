"""A server started with --api-key and a 1 MiB body limit: keys checked, oversized bodies refused."""

from __future__ import annotations

import http.client

import httpx
import pytest

from tests.server.helpers import ServerProcess, free_port, model_args

KEY = "s3cret-key"


@pytest.fixture(scope="module")
def locked(workdir):
    port = free_port()  # `tools.api` is the 1.2-era name of the server
    proc = ServerProcess("tools.api", ["--listen", f"127.0.0.1:{port}", *model_args(workdir), "--api-key", KEY,
                                       "--max-request-mb", "1"], cwd=workdir, port=port)
    yield proc
    proc.stop()


def test_routes_need_the_key(locked):
    body = {"text": "Hello.", "max_new_tokens": 8}
    r = httpx.post(f"{locked.url}/v1/tts", json=body)
    assert r.status_code == 401 and r.json()["field"] == "authorization"
    assert r.headers["www-authenticate"] == "Bearer"
    r = httpx.post(f"{locked.url}/v1/tts", json=body, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and "wrong" in r.json()["message"]
    r = httpx.post(f"{locked.url}/v1/tts", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
    assert r.status_code == 200 and r.content[:4] == b"RIFF"
    assert httpx.get(f"{locked.url}/v1/references").status_code == 401


def test_page_docs_and_health_stay_open(locked):
    for path in ("/", "/docs", "/openapi.json", "/v1/health", "/v1/info", "/static/app.js"):
        assert httpx.get(f"{locked.url}{path}").status_code == 200, path
    assert httpx.get(f"{locked.url}/v1/info").json()["auth"] is True


def test_oversized_bodies_are_refused(locked):
    headers = {"Authorization": f"Bearer {KEY}", "content-type": "application/json"}
    big = b'{"text": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    r = httpx.post(f"{locked.url}/v1/tts", content=big, headers=headers)
    assert r.status_code == 413 and r.json()["code"] == 413

    # chunked upload without Content-Length: counted while it arrives
    conn = http.client.HTTPConnection("127.0.0.1", locked.port, timeout=60)
    conn.putrequest("POST", "/v1/tts")
    for k, v in {**headers, "Transfer-Encoding": "chunked"}.items():
        conn.putheader(k, v)
    conn.endheaders()
    piece = b"a" * 65536
    try:
        for _ in range(20):
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before we finish sending
    response = conn.getresponse()
    assert response.status == 413
    conn.close()
