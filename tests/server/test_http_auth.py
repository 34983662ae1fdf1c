"""The keyed server (`locked`: --api-key, 1 MiB bodies, 40-character texts): keys checked on every
client (httpx, the openai client, the api_client command), oversized bodies and texts refused."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys

import httpx
import openai
import pytest
import soundfile as sf

from tests.server.conftest import API_KEY as KEY
from tests.server.helpers import ROOT


def test_routes_need_the_key(locked):
    body = {"text": "Hello.", "max_new_tokens": 8}
    r = httpx.post(f"{locked.url}/v1/tts", json=body)
    assert r.status_code == 401 and r.json()["field"] == "authorization"
    assert r.headers["www-authenticate"] == "Bearer"
    r = httpx.post(f"{locked.url}/v1/tts", json=body, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and "wrong" in r.json()["message"]
    r = httpx.post(f"{locked.url}/v1/tts", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=120)
    assert r.status_code == 200 and r.content[:4] == b"RIFF"
    for method, path in (
        ("GET", "/v1/references"),
        ("POST", "/v1/references"),
        ("DELETE", "/v1/references/narrator"),
        ("POST", "/v1/audio/speech"),
        ("POST", "/v1/vqgan/encode"),
        ("POST", "/v1/vqgan/decode"),
        ("GET", "/v1/ref_data"),
        ("POST", "/v1/chat"),
        ("POST", "/v1/tts/"),
    ):
        r = httpx.request(method, f"{locked.url}{path}", json={})
        assert r.status_code == 401, (method, path, r.status_code)
    # the scheme word is case-insensitive (RFC 7235)
    assert httpx.get(f"{locked.url}/v1/references", headers={"Authorization": f"bearer {KEY}"}).status_code == 200


def test_page_docs_and_health_stay_open(locked):
    for path in ("/", "/docs", "/openapi.json", "/v1/health", "/v1/info", "/static/app.js", "/static/docs.js"):
        assert httpx.get(f"{locked.url}{path}").status_code == 200, path
    assert httpx.get(f"{locked.url}/v1/info").json()["auth"] is True


def test_openai_client_sends_the_key_unchanged(locked):
    good = openai.OpenAI(base_url=f"{locked.url}/v1", api_key=KEY, max_retries=0, timeout=120)
    r = good.audio.speech.create(
        model="tts-1",
        voice="narrator",
        input="With a key.",
        response_format="wav",
        extra_body={"max_new_tokens": 8, "seed": 3},
    )
    assert r.content[:4] == b"RIFF"
    bad = openai.OpenAI(base_url=f"{locked.url}/v1", api_key="nope", max_retries=0, timeout=30)
    with pytest.raises(openai.AuthenticationError):
        bad.audio.speech.create(model="tts-1", voice="alloy", input="x")


def test_api_client_key_from_flag_or_environment(locked, tmp_path):
    def client(*extra, env=None):
        args = [
            sys.executable,
            "-m",
            "tools.api_client",
            "--url",
            f"{locked.url}/v1/tts",
            "--text",
            "Keyed.",
            "--max_new_tokens",
            "8",
            "--play",
            "False",
            *extra,
        ]
        full_env = {k: v for k, v in os.environ.items() if k != "FISH_API_KEY"}
        full_env.update(PYTHONPATH=str(ROOT), **(env or {}))
        return subprocess.run(args, cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=120)

    r = client()
    assert r.returncode == 1 and r.stderr.startswith("error: 401 authorization")
    r = client("--api_key", KEY, "-o", "flag.wav")
    assert r.returncode == 0, r.stderr
    assert sf.info(tmp_path / "flag.wav").frames > 0
    r = client("-o", "env.wav", env={"FISH_API_KEY": KEY})
    assert r.returncode == 0, r.stderr


def test_text_length_limit(locked):
    headers = {"Authorization": f"Bearer {KEY}"}
    r = httpx.post(f"{locked.url}/v1/tts", json={"text": "x" * 41}, headers=headers)
    assert r.status_code == 400 and r.json()["field"] == "text" and "40" in r.json()["message"]
    r = httpx.post(f"{locked.url}/v1/audio/speech", json={"input": "x" * 41, "voice": "alloy"}, headers=headers)
    assert r.status_code == 400 and r.json()["field"] == "input"
    assert httpx.get(f"{locked.url}/v1/info").json()["limits"]["max_text_length"] == 40


def test_oversized_bodies_are_refused(locked):
    headers = {"Authorization": f"Bearer {KEY}", "content-type": "application/json"}
    big = b'{"text": "' + b"a" * (1024 * 1024 + 10) + b'"}'
    for path in ("/v1/tts", "/v1/references", "/v1/vqgan/encode"):
        r = httpx.post(f"{locked.url}{path}", content=big, headers=headers)
        assert r.status_code == 413 and r.json()["code"] == 413, path
    # without the key the answer is 401 before any size check: nothing is read from strangers
    r = httpx.post(f"{locked.url}/v1/tts", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 401

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
