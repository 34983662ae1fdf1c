"""Saving a voice under an id that exists is a 409 unless `overwrite` is set (HTTP and the service path)."""

from __future__ import annotations

import asyncio
import base64

from tests.server.helpers import REF_TEXT


def test_http_add_of_an_existing_id_is_409_unless_overwrite(client, ref_wav, workdir):
    b64 = base64.b64encode(ref_wav.read_bytes()).decode()
    lab = workdir / "references" / "twice" / "twice.lab"
    assert client.post("/v1/references", json={"id": "twice", "audio": b64, "text": "first"}).status_code == 201
    r = client.post("/v1/references", json={"id": "twice", "audio": b64, "text": "second"})
    assert r.status_code == 409 and r.json()["field"] == "id" and "overwrite" in r.json()["message"]
    assert lab.read_text() == "first"  # untouched
    with open(ref_wav, "rb") as f:  # multipart: the flag arrives as text
        r = client.post(
            "/v1/references/add",
            data={"id": "twice", "text": "third", "overwrite": "true"},
            files={"audio": ("v.wav", f, "audio/wav")},
        )
    assert r.status_code == 201, r.text
    assert lab.read_text() == "third"
    r = client.post("/v1/references", json={"id": "twice", "audio": b64, "text": "x", "overwrite": "yes"})
    assert r.status_code == 400 and r.json()["field"] == "overwrite"
    assert client.delete("/v1/references/twice").status_code == 200


def test_service_add_voice_refuses_an_existing_id(tiny_engine, ref_wav, tmp_path):
    from fish_speech.errors import FishError
    from fish_speech.service.runtime import Runtime
    from fish_speech.service.voices import add_voice
    from fish_speech.settings import Settings

    rt = Runtime(Settings(references_dir=str(tmp_path / "refs")), engine=tiny_engine)
    data = ref_wav.read_bytes()

    async def scenario():
        await add_voice(rt, "alice", data, REF_TEXT, "a.wav")
        try:
            await add_voice(rt, "alice", data, "other words", "a.wav")
        except FishError as err:
            refused = err
        else:
            refused = None
        await add_voice(rt, "alice", data, "replaced", "a.wav", overwrite=True)
        return refused

    refused = asyncio.run(scenario())
    assert refused is not None and (refused.code, refused.field) == (409, "id")
    assert (tmp_path / "refs" / "alice" / "alice.lab").read_text() == "replaced"
