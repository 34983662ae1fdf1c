"""Issue 12 probes replayed over HTTP against a keyless server with small limits (set by environment)."""

from __future__ import annotations

import base64
import os

import httpx
import numpy as np
import pytest

from tests.server.helpers import REF_TEXT, ServerProcess, free_port, model_args, voice_wav

LIMITS = {
    "MAX_CODEC_FRAMES": "40",
    "MAX_REFERENCES": "2",
    "MAX_REFERENCE_TEXT_LENGTH": "50",
    "MAX_SAVED_VOICES": "3",
    "MAX_TEXT_LENGTH": "300",
    "CONVERSATION_STORE": "memory",
}


@pytest.fixture(scope="module")
def hard(tmp_path_factory, tiny_checkpoints, agent_checkpoint):
    agent = str(agent_checkpoint)
    root = tmp_path_factory.mktemp("hard")
    llama, codec = tiny_checkpoints
    (root / "llama").symlink_to(llama)
    (root / "codec.pth").symlink_to(codec)
    voice_wav(root / "references" / "narrator" / "narrator.wav")
    (root / "references" / "narrator" / "narrator.lab").write_text(REF_TEXT)
    port = free_port()
    args = ["--listen", f"127.0.0.1:{port}", *model_args(root), "--mode", "agent", "--agent-checkpoint-path", agent]
    proc = ServerProcess("tools.api_server", args, cwd=root, env=LIMITS, port=port)
    yield proc, root
    proc.stop()


@pytest.fixture()
def http(hard):
    with httpx.Client(base_url=hard[0].url, timeout=60.0) as c:
        yield c


def b64(path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return voice_wav(tmp_path_factory.mktemp("clip") / "clip.wav")  # 1.2 s: 26 codec frames


def expect(r: httpx.Response, code: int, field: str | None) -> dict:
    assert r.status_code == code, r.text
    body = r.json()
    assert body["field"] == field, body
    return body


# ---- 12: numbers, strings, nesting and silent text are 400s naming the field -------------------------
@pytest.mark.parametrize(
    "route, body, field",
    [
        ("/v1/tts", '{"text": "hi", "temperature": 1' + "0" * 400 + "}", "temperature"),
        ("/v1/tts", '{"text": "hi", "max_new_tokens": 1' + "0" * 400 + "}", "max_new_tokens"),
        ("/v1/audio/speech", '{"input": "hi", "speed": 1' + "0" * 400 + "}", "speed"),
        ("/v1/tts", '{"text": "hi \\ud800"}', "text"),
        ("/v1/tts", '{"text": "hi", "references": [{"audio": "", "text": "\\ud800"}]}', "references[0].text"),
        ("/v1/chat", '{"message": "hi \\ud800"}', "message"),
        ("/v1/tts", '{"text": "\\u200b\\u200d\\ufeff\\u0001"}', "text"),
        ("/v1/tts", '{"text": ' + "[" * 1000 + "]" * 1000 + "}", None),
    ],
)
def test_bad_values_are_400_naming_the_field(http, route, body, field):
    r = http.post(route, content=body, headers={"content-type": "application/json"})
    expect(r, 400, field)
    assert http.get("/v1/health").status_code == 200


# ---- 1: codec frames per request -------------------------------------------------------------------
def test_vqgan_decode_over_the_frame_limit_is_413(http):
    tokens = np.zeros((8, 41), dtype=int).tolist()
    body = expect(http.post("/v1/vqgan/decode", json={"tokens": [tokens]}), 413, "tokens")
    assert "40" in body["message"] and "MAX_CODEC_FRAMES" in body["message"]
    assert http.post("/v1/vqgan/decode", json={"tokens": [np.zeros((8, 40), dtype=int).tolist()]}).status_code == 200


def test_vqgan_encode_over_the_frame_limit_is_413(http, clip):
    assert http.post("/v1/vqgan/encode", json={"audios": [b64(clip)]}).status_code == 200
    expect(http.post("/v1/vqgan/encode", json={"audios": [b64(clip)] * 2}), 413, "audios")


# ---- 2: the text limit after normalisation ---------------------------------------------------------
def test_text_that_normalises_past_the_limit_is_413(http):
    body = expect(http.post("/v1/tts", json={"text": "\ufdfa" * 30}), 413, "text")
    assert "normalisation" in body["message"]


# ---- 3/4: transcripts, reference counts, saved voices ------------------------------------------------
def test_reference_caps_come_before_encoding(http, clip):
    ref = {"audio": b64(clip), "text": "hello"}
    expect(http.post("/v1/tts", json={"text": "hi", "references": [ref] * 3}), 413, "references")
    long = {"audio": b64(clip), "text": "x" * 51}
    expect(http.post("/v1/tts", json={"text": "hi", "references": [long]}), 413, "references[0].text")


def test_saved_voices_are_capped_and_transcripts_too(http, clip):
    expect(http.post("/v1/references", json={"id": "v-long", "audio": b64(clip), "text": "x" * 51}), 413, "text")
    for i in range(2):  # narrator + 2 = the limit of 3
        assert http.post("/v1/references", json={"id": f"v{i}", "audio": b64(clip), "text": "hi"}).status_code == 201
    body = expect(http.post("/v1/references", json={"id": "v9", "audio": b64(clip), "text": "hi"}), 413, "reference_id")
    assert "MAX_SAVED_VOICES" in body["message"]
    # replacing an existing voice (overwrite) is still allowed at the cap
    again = {"id": "v0", "audio": b64(clip), "text": "again", "overwrite": True}
    assert http.post("/v1/references", json=again).status_code == 201
    for i in range(2):
        assert http.delete(f"/v1/references/v{i}").status_code == 200


# ---- 15: exact ids, listings that do not follow links --------------------------------------------------
def test_ids_with_a_trailing_newline_are_refused(http, clip, hard):
    expect(http.post("/v1/references", json={"id": "nl\n", "audio": b64(clip), "text": "hi"}), 400, "reference_id")
    assert not (hard[1] / "references" / "nl\n").exists()
    expect(http.post("/v1/chat", json={"message": "hi", "conversation_id": "c1\n"}), 400, "conversation_id")


def test_symlinked_folders_are_not_listed_or_walked(http, hard, tmp_path):
    outside = tmp_path / "outside"
    voice_wav(outside / "deep" / "x.wav")
    link = hard[1] / "references" / "linked"
    os.symlink(outside, link)
    try:
        ids = http.get("/v1/references").json()["reference_ids"]
        assert "linked" not in ids and "narrator" in ids
        expect(http.post("/v1/tts", json={"text": "hi", "reference_id": "linked"}), 400, "reference_id")
    finally:
        link.unlink()


# ---- 10: a keyless server is not a cross-site target ---------------------------------------------------
def test_keyless_server_refuses_foreign_origins_and_hosts(http, hard, clip):
    before = http.get("/v1/references").json()["reference_ids"]
    with open(clip, "rb") as f:  # the multipart form a page elsewhere can post without a preflight
        r = http.post(
            "/v1/references",
            data={"id": "narrator", "text": "pwned"},
            files={"audio": ("v.wav", f, "audio/wav")},
            headers={"Origin": "http://attacker.example"},
        )
    expect(r, 403, "origin")
    assert (hard[1] / "references" / "narrator" / "narrator.lab").read_text() == REF_TEXT
    expect(http.post("/v1/tts", json={"text": "hi"}, headers={"Host": "attacker.example:80"}), 403, "host")
    expect(http.get("/v1/references", headers={"Host": "rebind.attacker.example"}), 403, "host")
    # no content type (a cross-site fetch without preflight) on a JSON route
    body = b'{"text": "hi", "max_new_tokens": 2}'
    expect(http.post("/v1/tts", content=body, headers={"content-type": ""}), 415, "content-type")
    expect(http.post("/v1/tts", content=body, headers={"content-type": "text/plain"}), 415, "content-type")
    # the server's own page (same origin) and local tools keep working
    own = {"Origin": hard[0].url}
    assert http.post("/v1/tts", json={"text": "hi", "max_new_tokens": 2}, headers=own).status_code == 200
    assert http.get("/v1/health", headers={"Host": f"localhost:{hard[0].port}"}).status_code == 200
    assert http.get("/v1/references").json()["reference_ids"] == before


def test_allow_lists_open_named_hosts_and_origins(hard, tmp_path):
    root = hard[1]
    port = free_port()
    env = {**LIMITS, "ALLOWED_HOSTS": "tts.example.com", "ALLOWED_ORIGINS": "https://app.example.com"}
    proc = ServerProcess(
        "tools.api_server", ["--listen", f"127.0.0.1:{port}", *model_args(root)], cwd=root, env=env, port=port
    )
    try:
        ok = {"Host": "tts.example.com", "Origin": "https://app.example.com"}
        assert httpx.get(f"{proc.url}/v1/references", headers=ok).status_code == 200
        bad = httpx.get(f"{proc.url}/v1/references", headers={"Origin": "https://evil.example.com"})
        assert bad.status_code == 403
    finally:
        proc.stop()
