"""The HTTP server's voice reaches the prompt: `/v1/tts` with `references` or `reference_id` and
`/v1/audio/speech` with `voice` give exactly the audio the engine gives when called directly with
that voice (the same tiny checkpoint, loaded in this process), and no voice gives other audio."""

from __future__ import annotations

import base64

import numpy as np
import soundfile as sf

from fish_speech.engine.types import Sampling, TTSRequest
from tests.server.helpers import REF_TEXT

TEXT = "Hello there. Nice to meet you."
FRAMES = 12
# greedy: the tiny random model's distributions are nearly flat, so sampled codes barely depend on
# the prompt; the argmax follows every change of it
FISH = {"max_new_tokens": FRAMES, "seed": 3, "temperature": 0.0, "normalize": False, "chunk_length": 200}
LSB = 2 / 32767


def pcm(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.frombuffer(response.content, dtype="<i2").astype(np.float64) / 32767


def direct(engine, voices) -> np.ndarray:
    refs = []
    for path, text in voices:
        audio, sr = sf.read(path, dtype="float32")
        refs.append(engine.encode_reference(audio, sr, text))
    request = TTSRequest(
        text=TEXT,
        references=refs,
        sampling=Sampling(temperature=0.0, max_new_tokens=FRAMES, seed=3),
        chunk_length=200,
        normalize=False,
    )
    return np.clip(np.concatenate([s.audio for s in engine.synthesize(request)]), -1, 1).astype(np.float64)


def same(a, b) -> bool:
    return a.shape == b.shape and float(np.abs(a - b).max()) <= LSB


def test_tts_references_and_reference_id_are_the_voice(client, tiny_engine, ref_wav, workdir):
    b64 = base64.b64encode(ref_wav.read_bytes()).decode()
    body = {"text": TEXT, "format": "pcm", **FISH}
    uploaded = pcm(client.post("/v1/tts", json={**body, "references": [{"audio": b64, "text": REF_TEXT}]}))
    assert same(uploaded, direct(tiny_engine, [(ref_wav, REF_TEXT)]))
    narrator = workdir / "references" / "narrator"
    saved = pcm(client.post("/v1/tts", json={**body, "reference_id": "narrator"}))
    assert same(saved, direct(tiny_engine, [(narrator / "narrator.wav", (narrator / "narrator.lab").read_text())]))
    none = pcm(client.post("/v1/tts", json=body))
    assert same(none, direct(tiny_engine, []))
    assert not same(uploaded, none) and not same(saved, none) and not same(uploaded, saved)


def test_openai_voice_is_the_voice(client, tiny_engine, workdir):
    body = {"model": "tts-1", "input": TEXT, "response_format": "pcm", **FISH}
    narrator = workdir / "references" / "narrator"
    saved = pcm(client.post("/v1/audio/speech", json={**body, "voice": "narrator"}))
    assert same(saved, direct(tiny_engine, [(narrator / "narrator.wav", (narrator / "narrator.lab").read_text())]))
    preset = pcm(client.post("/v1/audio/speech", json={**body, "voice": "alloy"}))  # a preset: no reference
    assert same(preset, direct(tiny_engine, [])) and not same(saved, preset)
