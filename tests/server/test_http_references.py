"""Saved voices over HTTP: add (JSON, msgpack, multipart), list, use, delete; ids cannot escape."""

from __future__ import annotations

import base64
import http.client
from urllib.parse import urlparse

import ormsgpack
import pytest

from tests.server.helpers import REF_TEXT


def ids(client) -> list[str]:
    return client.get("/v1/references").json()["reference_ids"]


def test_add_use_and_delete_a_voice(client, ref_wav, workdir):
    b64 = base64.b64encode(ref_wav.read_bytes()).decode()
    r = client.post("/v1/references", json={"id": "json-voice", "audio": b64, "text": REF_TEXT})
    assert r.status_code == 201 and r.json()["reference_id"] == "json-voice"
    assert (workdir / "references" / "json-voice" / "json-voice.lab").read_text() == REF_TEXT
    assert "json-voice" in ids(client) and "narrator" in ids(client)

    r = client.post("/v1/tts", json={"text": "With the new voice.", "reference_id": "json-voice", "max_new_tokens": 8})
    assert r.status_code == 200

    assert client.delete("/v1/references/json-voice").json()["reference_id"] == "json-voice"
    assert "json-voice" not in ids(client)
    assert client.delete("/v1/references/json-voice").status_code == 404


def test_upstream_spellings_multipart_and_msgpack(client, ref_wav):
    with open(ref_wav, "rb") as f:
        r = client.post(
            "/v1/references/add", data={"id": "form-voice", "text": "hello"}, files={"audio": ("v.wav", f, "audio/wav")}
        )
    assert r.status_code == 201, r.text
    body = ormsgpack.packb({"reference_id": "pack-voice", "audio": ref_wav.read_bytes(), "text": "hi"})
    r = client.post("/v1/references/add", content=body, headers={"content-type": "application/msgpack"})
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/msgpack"
    listed = client.get("/v1/references/list").json()["reference_ids"]
    assert {"form-voice", "pack-voice"} <= set(listed)
    r = client.request("DELETE", "/v1/references/delete", json={"reference_id": "form-voice"})
    assert r.status_code == 200
    assert client.delete("/v1/references/pack-voice").status_code == 200
    assert not {"form-voice", "pack-voice"} & set(ids(client))


@pytest.mark.parametrize("bad", ["../escape", "..", "a/b", "/tmp/x", ".hidden", "x" * 65, ""])
def test_add_rejects_ids_that_could_escape(client, ref_wav, workdir, bad):
    b64 = base64.b64encode(ref_wav.read_bytes()).decode()
    r = client.post("/v1/references", json={"id": bad, "audio": b64, "text": "x"})
    assert r.status_code == 400, r.text
    assert not (workdir / "escape").exists()


def test_delete_rejects_traversal_in_the_raw_path(base_url, workdir):
    """Paths sent byte for byte (no client-side normalising of '..' or %2F)."""
    (workdir / "keep-me").mkdir(exist_ok=True)
    url = urlparse(base_url)
    for path in (
        "/v1/references/..%2Fkeep-me",
        "/v1/references/../keep-me",
        "/v1/references/%2e%2e",
        "/v1/references/narrator%2F..%2F..%2Fkeep-me",
    ):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.request("DELETE", path)
        response = conn.getresponse()
        body = response.read()
        conn.close()
        assert response.status in (400, 404), (path, response.status, body)
    assert (workdir / "keep-me").is_dir()
    assert (workdir / "references" / "narrator").is_dir()


def test_add_needs_audio_that_decodes(client):
    r = client.post("/v1/references", json={"id": "silent", "text": "x"})
    assert r.status_code == 400 and r.json()["field"] == "audio"
    r = client.post("/v1/references", json={"id": "junk", "audio": base64.b64encode(b"junk").decode()})
    assert r.status_code == 400
    assert "junk" not in ids(client)


def test_every_voice_route_refuses_escaping_ids(client, ref_wav, workdir):
    """The upstream delete spelling, msgpack adds and the file name of an upload cannot leave the folder."""
    for bad in ("../narrator", "narrator/..", "/etc", ".."):
        r = client.request("DELETE", "/v1/references/delete", json={"reference_id": bad})
        assert r.status_code == 400 and r.json()["field"] == "reference_id", bad
        body = ormsgpack.packb({"reference_id": bad, "audio": ref_wav.read_bytes(), "text": "x"})
        r = client.post("/v1/references/add", content=body, headers={"content-type": "application/msgpack"})
        assert r.status_code == 400, bad
    assert (workdir / "references" / "narrator").is_dir()

    b64 = base64.b64encode(ref_wav.read_bytes()).decode()
    r = client.post(
        "/v1/references", json={"id": "named-file", "audio": b64, "text": "x", "filename": "../../evil.wav"}
    )
    assert r.status_code == 201
    files = sorted(p.name for p in (workdir / "references" / "named-file").iterdir())
    assert files == ["named-file.lab", "named-file.wav"]
    assert not (workdir / "evil.wav").exists() and not (workdir / "references" / "evil.wav").exists()
    assert client.delete("/v1/references/named-file").status_code == 200
