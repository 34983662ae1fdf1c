"""POST /v1/tts against the running server: JSON and msgpack, whole files and streams, voices."""

from __future__ import annotations

import base64
import io
import json
import threading
import time

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
    assert client.get("/v1/health").json() == {"status": "ok"}
    assert client.post("/v1/health").json() == {"status": "ok"}


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
    body = {"text": "One sentence here. And another one there.", "streaming": True, "chunk_length": 100,
            "stream_frames": 4, "max_new_tokens": 16, "seed": 2}
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


@pytest.mark.parametrize("fmt, magic", [("mp3", None), ("flac", b"fLaC"), ("pcm", None)])
def test_streaming_other_formats(client, fmt, magic):
    r = client.post("/v1/tts", json={"text": "Stream me.", "streaming": True, "format": fmt, **SMALL})
    assert r.status_code == 200, r.text
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
        ({"text": "x", "references": [{"audio": base64.b64encode(b"not audio at all").decode()}]}, 400, "references[0].audio"),
        ({"text": "x", "reference_id": "nobody"}, 404, "reference_id"),
    ],
)
def test_bad_requests_get_clear_json_errors(client, body, status, field):
    r = client.post("/v1/tts", json=body)
    assert r.status_code == status, r.text
    err = r.json()
    assert set(err) == {"code", "field", "message"}
    assert err["code"] == status and err["field"] == field and err["message"]


@pytest.mark.parametrize("ref_id", ["../references/narrator", "..", "a/b", "/etc/passwd", "narrator/../narrator", "..\\x", ".hidden", "x\x00y"])
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


def test_concurrent_requests_share_the_model_without_blocking_io(base_url):
    """Three syntheses at once all finish; a health probe meanwhile answers at once."""
    results, errors = [], []

    def speak(i):
        try:
            r = httpx.post(f"{base_url}/v1/tts", json={"text": f"Request number {i}.", "max_new_tokens": 24}, timeout=120)
            results.append(r.status_code)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    assert httpx.get(f"{base_url}/v1/health", timeout=10).status_code == 200
    probe = time.perf_counter() - t0
    for t in threads:
        t.join()
    assert not errors and results == [200, 200, 200]
    assert probe < 2.0


def test_client_leaving_mid_stream_does_not_hurt_the_server(base_url, client):
    body = {"text": "A long stream that the client abandons.", "streaming": True, "stream_frames": 2, "max_new_tokens": 24}
    with httpx.stream("POST", f"{base_url}/v1/tts", json=body, timeout=120) as r:
        assert r.status_code == 200
        next(r.iter_raw())
    assert client.post("/v1/tts", json={"text": "Still here.", **SMALL}).status_code == 200


def test_page_docs_and_info(client):
    page = client.get("/")
    assert page.status_code == 200 and "<title>Fish Speech</title>" in page.text
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/tts"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/msgpack"} <= set(body)
    assert body["application/json"]["schema"]["required"] == ["text"]
    assert {"/v1/audio/speech", "/v1/vqgan/encode", "/v1/vqgan/decode", "/v1/references", "/v1/chat"} <= set(spec["paths"])
    info = client.get("/v1/info").json()
    assert info["sample_rate"] == 44100 and "mp3" in info["formats"] and info["agent"] is True
    assert info["tts_fields"]["max_new_tokens"]["default"] == 1024
