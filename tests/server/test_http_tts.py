"""POST /v1/tts against the running server: JSON and msgpack, whole files and streams, voices."""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import threading
import time
from urllib.parse import urlparse

import httpx
import ormsgpack
import pytest
import soundfile as sf

from tests.server.helpers import REF_TEXT

SMALL = {"max_new_tokens": 12, "seed": 1}


def read_audio(data: bytes):
    audio, sr = sf.read(io.BytesIO(data))
    return audio, sr


def test_health_answers_get_and_post(client):
    from fish_speech.models.random_weights import WARNING

    # the folder's name; the session's server runs tiny random-weight checkpoints, and health says so
    expected = {
        "status": "ok",
        "family": "fish-speech-1.5",
        "model": "llama",
        "random_weights": True,
        "warning": WARNING,
    }
    assert client.get("/v1/health").json() == expected
    assert client.post("/v1/health").json() == expected
    assert client.get("/v1/info").json()["warning"] == WARNING


def test_json_request_returns_a_whole_wav(client):
    r = client.post("/v1/tts", json={"text": "Hello world.", **SMALL})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/wav"
    assert "chunked" not in r.headers.get("transfer-encoding", "")
    audio, sr = read_audio(r.content)
    assert sr == 44100 and len(audio) > 0
    assert float(r.headers["x-audio-seconds"]) == pytest.approx(len(audio) / sr, abs=1e-3)


def test_msgpack_request_with_reference_bytes(client, ref_wav):
    body = {"text": "Hi there.", "references": [{"audio": ref_wav.read_bytes(), "text": REF_TEXT}], **SMALL}
    r = client.post("/v1/tts", content=ormsgpack.packb(body), headers={"content-type": "application/msgpack"})
    assert r.status_code == 200, r.text
    assert len(read_audio(r.content)[0]) > 0


def test_json_reference_as_base64_and_data_url(client, ref_wav):
    b64 = base64.b64encode(ref_wav.read_bytes()).decode()
    for audio in (b64, "data:audio/wav;base64," + b64):
        r = client.post("/v1/tts", json={"text": "Hi.", "references": [{"audio": audio, "text": REF_TEXT}], **SMALL})
        assert r.status_code == 200, r.text


def test_streaming_wav_arrives_in_pieces_and_forms_one_file(base_url):
    body = {
        "text": "One sentence here. And another one there.",
        "streaming": True,
        "chunk_length": 100,
        "stream_frames": 4,
        "max_new_tokens": 16,
        "seed": 2,
    }
    pieces = []
    with httpx.stream("POST", f"{base_url}/v1/tts", json=body, timeout=120) as r:
        assert r.status_code == 200
        assert r.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in r.headers
        for piece in r.iter_raw():
            pieces.append(piece)
    data = b"".join(pieces)
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert len(pieces) >= 3  # header with the first audio, then more audio as it is generated
    pcm = data[44:]
    assert len(pcm) > 0 and len(pcm) % 2 == 0


def test_streamed_audio_arrives_while_it_is_generated(base_url):
    """Three text chunks: the first audio must be here long before the last chunk is generated."""
    body = {
        "text": "The first sentence is here. The second one follows it. A third one ends it.",
        "streaming": True,
        "chunk_length": 30,
        "stream_frames": 4,
        "max_new_tokens": 24,
        "seed": 3,
    }
    started = time.perf_counter()
    arrivals = []
    with httpx.stream("POST", f"{base_url}/v1/tts", json=body, timeout=120) as r:
        assert r.status_code == 200
        for piece in r.iter_raw():
            arrivals.append((time.perf_counter() - started, len(piece)))
    first, end = arrivals[0][0], arrivals[-1][0]
    assert end > 0.3, arrivals  # enough work for the comparison to mean something
    assert first < 0.5 * end, arrivals
    assert float(r.headers["x-first-audio-seconds"]) < 0.5 * end


@pytest.mark.parametrize("fmt, magic", [("mp3", None), ("flac", b"fLaC"), ("pcm", None)])
def test_streaming_other_formats(client, fmt, magic):
    r = client.post("/v1/tts", json={"text": "Stream me.", "streaming": True, "format": fmt, **SMALL})
    assert r.status_code == 200, r.text
    assert r.headers["transfer-encoding"] == "chunked"
    assert r.headers["x-sample-rate"] == "44100"
    if magic:
        assert r.content.startswith(magic)
    if fmt == "mp3":
        assert r.headers["content-type"] == "audio/mpeg"
        assert r.content[:3] == b"ID3" or r.content[0] == 0xFF
    if fmt == "pcm":
        assert len(r.content) % 2 == 0 and len(r.content) > 0


def test_saved_voice_by_id(client):
    r = client.post("/v1/tts", json={"text": "As the narrator.", "reference_id": "narrator", **SMALL})
    assert r.status_code == 200, r.text


def test_ref_data_speaker_and_emotion(client):
    r = client.post("/v1/tts", json={"text": "Happy words.", "speaker": "SPEAKER1", "emotion": "HAPPY", **SMALL})
    assert r.status_code == 200, r.text
    r = client.post("/v1/tts", json={"text": "x", "speaker": "NOBODY", **SMALL})
    assert r.status_code == 404 and r.json()["field"] == "speaker"
    r = client.post("/v1/tts", json={"text": "x", "speaker": "SPEAKER1", "emotion": "../CALM", **SMALL})
    assert r.status_code == 400 and r.json()["field"] == "emotion"
    for speaker in ("..", "../ref_data/SPEAKER1", "SPEAKER1/HAPPY"):
        r = client.post("/v1/tts", json={"text": "x", "speaker": speaker, **SMALL})
        assert r.status_code == 400 and r.json()["field"] == "speaker", speaker
    assert client.get("/v1/ref_data").json() == {"speakers": {"SPEAKER1": ["CALM", "HAPPY"]}}


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({"text": ""}, 400, "text"),
        ({"text": "   "}, 400, "text"),
        ({}, 400, "text"),
        ({"text": "x", "top_p": "0.5"}, 400, "top_p"),
        ({"text": "x", "temperature": 5}, 400, "temperature"),
        ({"text": "x", "streaming": "yes"}, 400, "streaming"),
        ({"text": "x", "format": "aiff"}, 400, "format"),
        ({"text": "x", "max_new_tokens": -1}, 400, "max_new_tokens"),
        ({"text": "x", "references": "nope"}, 400, "references"),
        ({"text": "x", "references": [{"audio": "!!notbase64!!", "text": ""}]}, 400, "references[0].audio"),
        (
            {"text": "x", "references": [{"audio": base64.b64encode(b"not audio at all").decode()}]},
            400,
            "references[0].audio",
        ),
        ({"text": "x", "reference_id": "nobody"}, 404, "reference_id"),
    ],
)
def test_bad_requests_get_clear_json_errors(client, body, status, field):
    r = client.post("/v1/tts", json=body)
    assert r.status_code == status, r.text
    err = r.json()
    assert set(err) == {"code", "field", "message"}
    assert err["code"] == status and err["field"] == field and err["message"]


@pytest.mark.parametrize(
    "ref_id",
    ["../references/narrator", "..", "a/b", "/etc/passwd", "narrator/../narrator", "..\\x", ".hidden", "x\x00y"],
)
def test_reference_id_traversal_is_rejected(client, ref_id):
    r = client.post("/v1/tts", json={"text": "x", "reference_id": ref_id, **SMALL})
    assert r.status_code == 400, r.text
    assert r.json()["field"] == "reference_id"


def test_body_encoding_errors(client):
    r = client.post("/v1/tts", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["message"]
    r = client.post("/v1/tts", content=b"\xc1", headers={"content-type": "application/msgpack"})
    assert r.status_code == 400 and "msgpack" in r.json()["message"]
    r = client.post("/v1/tts", content=b"text=hi", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    r = client.post("/v1/tts", content=json.dumps(["text"]), headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = client.get("/v1/nothing-here")
    assert r.status_code == 404 and r.json()["code"] == 404


def test_concurrent_requests_all_finish(base_url):
    """Three syntheses at once share the one model (queued) and all succeed."""
    results, errors = [], []

    def speak(i):
        try:
            r = httpx.post(
                f"{base_url}/v1/tts", json={"text": f"Request number {i}.", "max_new_tokens": 12}, timeout=120
            )
            results.append((r.status_code, r.content[:4]))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [(200, b"RIFF")] * 3


def test_other_requests_are_served_while_the_model_is_busy(base_url, client):
    """While one long synthesis holds the model, probes, voice listings and the page answer at once."""
    body = {"text": "A long synthesis that keeps the model busy.", "chunk_length": 0, "max_new_tokens": 120, "seed": 4}
    done = {}

    def long_request():
        r = httpx.post(f"{base_url}/v1/tts", json=body, timeout=120)
        done["status"], done["at"] = r.status_code, time.perf_counter()

    worker = threading.Thread(target=long_request)
    started = time.perf_counter()
    worker.start()
    time.sleep(0.3)  # the request is parsed and on the model thread by now
    t0 = time.perf_counter()
    for path in ("/v1/health", "/v1/references", "/v1/info", "/", "/openapi.json"):
        assert client.get(path).status_code == 200, path
    probes = time.perf_counter() - t0
    still_running = worker.is_alive()
    worker.join()
    total = done["at"] - started
    assert done["status"] == 200
    assert still_running, f"the synthesis ({total:.2f} s) ended before the probes did ({probes:.2f} s)"
    assert probes < 0.25 * total, (probes, total)


def test_a_stalled_upload_does_not_block_other_requests(base_url, client):
    """A client that stops halfway through its body holds nobody up; it is served once it finishes."""
    url = urlparse(base_url)
    body = json.dumps({"text": "The slow client.", **SMALL}).encode()
    with socket.create_connection((url.hostname, url.port), timeout=60) as slow:
        slow.sendall(
            b"POST /v1/tts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10]
        )
        time.sleep(0.2)
        t0 = time.perf_counter()
        r = client.post("/v1/tts", json={"text": "The fast client.", **SMALL})
        assert r.status_code == 200 and r.content[:4] == b"RIFF"
        assert time.perf_counter() - t0 < 30
        slow.sendall(body[10:])
        reply = b""
        while chunk := slow.recv(65536):
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200") and b"RIFF" in reply


def test_client_leaving_mid_stream_stops_its_generation(base_url, client):
    """A 600-frame stream (~10 s of model time here) abandoned after its first piece frees the model:
    the next request does not wait behind it."""
    body = {
        "text": "A long stream that the client abandons.",
        "streaming": True,
        "stream_frames": 2,
        "chunk_length": 0,
        "max_new_tokens": 600,
    }
    with httpx.stream("POST", f"{base_url}/v1/tts", json=body, timeout=120) as r:
        assert r.status_code == 200
        next(r.iter_raw())
    t0 = time.perf_counter()
    assert client.post("/v1/tts", json={"text": "Still here.", **SMALL}).status_code == 200
    assert time.perf_counter() - t0 < 3.0


# anything that would make a browser load from elsewhere: attributes, CSS url()/@import, fetch, script URLs
EXTERNAL = re.compile(
    r"""(?:src|href)\s*=\s*["'`]?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import"""
    r"""|fetch\(\s*["'`](?:https?:)?//|importScripts|["'`]https?://[^"'`]*\.(?:js|css|woff2?)\b"""
)


def test_page_and_docs_need_nothing_from_the_internet(client):
    """/ and /docs and every file they load are served here and name no outside URL (works offline)."""
    for page in ("/", "/docs"):
        r = client.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), page
        assert not EXTERNAL.search(r.text), page
        assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', r.text)
        assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets), page
        for asset in assets:
            a = client.get(asset)
            assert a.status_code == 200, asset
            assert not EXTERNAL.search(a.text), asset
    assert "swagger" not in client.get("/docs").text.lower()
    assert client.get("/redoc", follow_redirects=False).headers["location"] == "/docs"


def test_page_docs_and_info(client):
    page = client.get("/")
    assert page.status_code == 200 and "<title>Fish Speech</title>" in page.text
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/tts"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/msgpack"} <= set(body)
    assert body["application/json"]["schema"]["required"] == ["text"]
    assert {"/v1/audio/speech", "/v1/vqgan/encode", "/v1/vqgan/decode", "/v1/references", "/v1/chat"} <= set(
        spec["paths"]
    )
    info = client.get("/v1/info").json()
    assert info["sample_rate"] == 44100 and "mp3" in info["formats"] and info["agent"] is True
    assert info["tts_fields"]["max_new_tokens"]["default"] == 1024
