"""The worker's voice reaches the prompt: a job with `system_audio` or `reference_id` gives exactly the
audio the engine gives when called directly with that voice, and another voice (or none) gives
other audio for the same seeded request."""

from __future__ import annotations

import base64

import numpy as np
import pytest
import soundfile as sf
from runpod_testkit import audio_bytes, error_of, run_job

from fish_speech.engine.types import Sampling, TTSRequest
from tests.server.helpers import voice_wav

TEXT = "Hello there. Nice to meet you."
# greedy: the tiny random model's distributions are nearly flat, so at 0.7 the seeded noise would pick
# the same codes whatever the prompt; the argmax follows every change of the prompt
SEED, FRAMES, TEMPERATURE = 5, 12, 0.0
LSB = 2 / 32767  # 16-bit output: equal audio differs by rounding only


def job(**fields):
    base = {
        "text": TEXT,
        "tts": True,
        "max_new_tokens": FRAMES,
        "seed": SEED,
        "streaming": False,
        "temperature": TEMPERATURE,
    }
    return {**base, "format": "pcm", "normalize": False, **fields}


def worker_audio(handler_module, fields) -> np.ndarray:
    chunks = run_job(handler_module, job(**fields))
    assert error_of(chunks) is None, chunks[-1]
    return np.frombuffer(audio_bytes(chunks), dtype="<i2").astype(np.float64) / 32767


def direct_audio(engine, voices: list[tuple[str, str]]) -> np.ndarray:
    """The engine called directly with the voices [(wav path, transcript)], read with soundfile."""
    refs = []
    for path, text in voices:
        audio, sr = sf.read(path, dtype="float32")
        refs.append(engine.encode_reference(audio, sr, text))
    request = TTSRequest(
        text=TEXT,
        references=refs,
        sampling=Sampling(temperature=TEMPERATURE, max_new_tokens=FRAMES, seed=SEED),
        normalize=False,
    )
    audio = np.concatenate([s.audio for s in engine.synthesize(request)])
    return np.clip(audio, -1, 1).astype(np.float64)


def same(a, b) -> bool:
    return a.shape == b.shape and float(np.abs(a - b).max()) <= LSB


@pytest.fixture(scope="module")
def other_voice(tmp_path_factory):
    return voice_wav(tmp_path_factory.mktemp("other") / "tone.wav", pitch=180)


def test_system_audio_is_the_voice(handler_module, worker, speech_wav, speech_text, other_voice):
    b64 = base64.b64encode(speech_wav.read_bytes()).decode()
    got = worker_audio(handler_module, {"system_audio": b64, "reference_text": speech_text})
    assert same(got, direct_audio(worker.engine, [(speech_wav, speech_text)]))
    tone = base64.b64encode(other_voice.read_bytes()).decode()
    other = worker_audio(handler_module, {"system_audio": tone, "reference_text": "a tone"})
    assert same(other, direct_audio(worker.engine, [(other_voice, "a tone")]))
    none = worker_audio(handler_module, {})
    assert same(none, direct_audio(worker.engine, []))
    assert not same(got, other) and not same(got, none) and not same(other, none)


def test_reference_id_is_the_voice(handler_module, worker, references_dir):
    lab = (references_dir / "alice" / "alice.lab").read_text()
    got = worker_audio(handler_module, {"reference_id": "alice"})
    assert same(got, direct_audio(worker.engine, [(references_dir / "alice" / "alice.wav", lab)]))
    assert not same(got, worker_audio(handler_module, {}))
