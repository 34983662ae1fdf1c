"""The model-family seam: one loader for every family's folder, and what it hands the engines."""

import shutil

import numpy as np
import pytest

from fish_speech.errors import FishError
from fish_speech.models.family import load_family


def test_every_family_loads_from_its_folder(tiny_checkpoints, tiny_s1_dir, tiny_s2_dir):
    llama, codec = tiny_checkpoints
    f15 = load_family(llama, device="cpu")
    assert f15.name == "fish-speech-1.5" and f15.codec_path == codec and f15.num_codebooks == 8
    assert f15.codec.sample_rate == 44100
    assert "top_k" not in f15.sampling_fields and f15.prompts.reference is not None
    s1 = load_family(tiny_s1_dir, device="cpu")
    assert s1.name == "openaudio-s1-mini" and s1.codec_path.name == "codec.pth"
    assert s1.sampling_defaults["temperature"] == 0.8
    s2 = load_family(tiny_s2_dir, device="cpu")
    assert s2.name == "fish-audio-s2-pro" and "top_k" in s2.sampling_fields and s2.num_codebooks == 10
    assert s2.rule.window == 10 and s2.lm.dtype.is_floating_point


def test_missing_codec_is_a_clear_error_only_when_used(tiny_s2_dir, tmp_path):
    s2 = load_family(shutil.copytree(tiny_s2_dir, tmp_path / "s2"), device="cpu")
    with pytest.raises(FishError, match="codec file not found"):
        s2.codec  # noqa: B018


def test_engine_speaks_with_every_new_family(tmp_path):
    """Tiny S1-mini / S2-Pro folders with their codec.pth: the tts engine end to end, streamed."""
    from fish_speech.engine.tts import TTSEngine
    from fish_speech.engine.types import Sampling, TTSRequest
    from fish_speech.testing.new_checkpoints import write_s1_mini, write_s2_pro

    for name, write in (("openaudio-s1-mini", write_s1_mini), ("fish-audio-s2-pro", write_s2_pro)):
        engine = TTSEngine.load(write(tmp_path / name, codec=True), device="cpu")
        assert engine.family.name == name and engine.sample_rate == 44100
        ref = engine.encode_reference(np.sin(np.arange(8192) / 9).astype(np.float32), 44100, "a hum")
        assert ref.codes.shape[0] == 10
        req = TTSRequest(text="<|speaker:0|>Hi.", references=[ref], sampling=Sampling(max_new_tokens=6, seed=1))
        req.stream_frames = 4
        segments = list(engine.synthesize(req))
        frames = sum(s.codes.shape[1] for s in segments)
        assert 1 <= frames <= 6 and segments[-1].chunk_done
        assert sum(len(s.audio) for s in segments) == 2048 * frames  # one codec frame = 2048 samples


def test_family_generation_runs_the_family_rules(tiny_s2_dir):
    fam = load_family(tiny_s2_dir, device="cpu")
    gen = fam.generator()
    gen.set_sampling(0.7, 0.9, 1.0, 30)
    gen.seed(1)
    refs = [("ref", np.random.default_rng(0).integers(0, 1024, (10, 4)))]
    blocks = list(fam.generate_long(gen, "<|speaker:0|>Hi.", refs, max_new_tokens=6))
    codes = np.concatenate([b.codes for b in blocks], axis=1)
    assert codes.shape[0] == 10 and 1 <= codes.shape[1] <= 6 and blocks[-1].chunk_done
