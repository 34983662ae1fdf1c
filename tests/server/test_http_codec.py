"""POST /v1/vqgan/encode and /v1/vqgan/decode in msgpack (upstream's wire) and JSON."""

from __future__ import annotations

import base64
import io

import numpy as np
import ormsgpack
import soundfile as sf

MSGPACK = {"content-type": "application/msgpack"}


def test_msgpack_round_trip(client, ref_wav):
    r = client.post("/v1/vqgan/encode", content=ormsgpack.packb({"audios": [ref_wav.read_bytes()]}), headers=MSGPACK)
    assert r.status_code == 200 and r.headers["content-type"] == "application/msgpack"
    tokens = np.array(ormsgpack.unpackb(r.content)["tokens"][0])
    assert tokens.shape[0] == 8 and tokens.shape[1] > 10
    assert tokens.min() >= 0 and tokens.max() < 1000

    r = client.post("/v1/vqgan/decode", content=ormsgpack.packb({"tokens": [tokens.tolist()]}), headers=MSGPACK)
    assert r.status_code == 200
    reply = ormsgpack.unpackb(r.content)
    audio = np.frombuffer(reply["audios"][0], dtype="<f2")
    assert reply["sample_rate"] == 44100 and len(audio) == 2048 * tokens.shape[1]


def test_json_round_trip_with_a_wav_file(client, ref_wav):
    b64 = base64.b64encode(ref_wav.read_bytes()).decode()
    r = client.post("/v1/vqgan/encode", json={"audios": [b64, b64]})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    tokens = r.json()["tokens"]
    assert len(tokens) == 2 and tokens[0] == tokens[1]
    r = client.post("/v1/vqgan/decode", json={"tokens": [tokens[0]], "format": "wav"})
    assert r.status_code == 200
    audio, sr = sf.read(io.BytesIO(base64.b64decode(r.json()["audios"][0])))
    assert sr == 44100 and len(audio) == 2048 * len(tokens[0][0])


def test_accept_header_picks_msgpack_for_json_requests(client):
    codes = [[1, 2, 3]] * 8
    r = client.post("/v1/vqgan/decode", json={"tokens": [codes]}, headers={"accept": "application/msgpack"})
    assert r.headers["content-type"] == "application/msgpack"
    assert len(ormsgpack.unpackb(r.content)["audios"][0]) == 2 * 2048 * 3


def test_bad_codec_requests(client):
    cases = [
        ({"audios": []}, "audios"),
        ({"audios": ["%%%"]}, "audios[0]"),
        ({"audios": [base64.b64encode(b"noise").decode()]}, "audios[0]"),
        ({"tokens": [[[1, 2]] * 7]}, "tokens[0]"),
        ({"tokens": [[[1, 2], [3]] * 4]}, "tokens[0]"),
        ({"tokens": [[[5000, 1]] * 8]}, "tokens[0]"),
        ({"tokens": [[[0.5, 1]] * 8]}, "tokens[0]"),
        ({"tokens": [[[1, 2]] * 8], "format": "xyz"}, "format"),
    ]
    for body, field in cases:
        route = "/v1/vqgan/encode" if "audios" in body else "/v1/vqgan/decode"
        r = client.post(route, json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["field"] == field, (body, r.json())
