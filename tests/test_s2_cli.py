"""The text2semantic command line on S2-Pro and S1-mini folders (upstream's flags), end to end."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fish_speech.models.text2semantic.inference import main

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "fish_speech/models/text2semantic/inference.py"


@pytest.fixture()
def fake_npy(tmp_path):
    codes = np.random.default_rng(0).integers(0, 1024, (10, 12))
    codes[0] = np.random.default_rng(1).integers(0, 4096, 12)
    path = tmp_path / "fake.npy"
    np.save(path, codes)
    return path


def test_s2_upstream_command_as_a_script(tiny_s2_dir, fake_npy, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, str(SCRIPT), "--text", "<|speaker:0|>Hello world.", "--prompt-text", "Reference words."]
    cmd += ["--prompt-tokens", str(fake_npy), "--checkpoint-path", str(tiny_s2_dir), "--num-samples", "2"]
    cmd += ["--temperature", "0.8", "--top-p", "0.9", "--top-k", "30", "--max-new-tokens", "12"]
    cmd += ["--chunk-length", "300", "--seed", "42", "--device", "cpu", "--output-dir", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for i in range(2):
        codes = np.load(out / f"codes_{i}.npy")
        assert codes.shape[0] == 10 and 1 <= codes.shape[1] <= 12
        assert codes.min() >= 0 and codes[0].max() < 4096 and codes[1:].max() <= 1023


def test_s1_command_in_process_is_seeded(tiny_s1_dir, fake_npy, tmp_path):
    args = ["--text", "Hello world.", "--prompt-text", "Reference words.", "--prompt-tokens", str(fake_npy)]
    args += ["--checkpoint-path", str(tiny_s1_dir), "--max-new-tokens", "8", "--device", "cpu"]
    for d in ("a", "b"):
        assert main(args + ["--output-dir", str(tmp_path / d)]) == 0
    a, b = (np.load(tmp_path / d / "codes_0.npy") for d in ("a", "b"))
    assert a.shape == (10, 8) and np.array_equal(a, b)
    assert a[1:].max() <= 1023


def test_wrong_prompt_tokens_are_named(tiny_s2_dir, tmp_path, capsys):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((8, 5), np.int64))  # a 1.5 codes file
    args = ["--text", "hi", "--prompt-text", "x", "--prompt-tokens", str(bad), "--checkpoint-path", str(tiny_s2_dir)]
    assert main(args + ["--device", "cpu", "--output-dir", str(tmp_path)]) != 0
    assert "[10, T]" in capsys.readouterr().err


def test_three_commands_end_to_end(tmp_path, speech_wav):
    """Upstream's S2 steps on a tiny S2-Pro folder: audio -> fake.npy -> codes_0.npy -> wav."""
    import soundfile as sf

    from fish_speech.testing.new_checkpoints import write_s2_pro

    ckpt = write_s2_pro(tmp_path / "s2-pro", codec=True)
    dac = [
        sys.executable,
        str(ROOT / "fish_speech/models/dac/inference.py"),
        "--checkpoint-path",
        str(ckpt / "codec.pth"),
    ]

    def run(cmd):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert r.returncode == 0, r.stderr

    run(dac + ["-i", str(speech_wav), "-o", "fake.wav", "-d", "cpu"])
    ref = np.load(tmp_path / "fake.npy")
    assert ref.shape[0] == 10
    run(
        [sys.executable, str(SCRIPT), "--text", "<|speaker:0|>Hi.", "--prompt-text", "Hello there."]
        + ["--prompt-tokens", "fake.npy", "--checkpoint-path", str(ckpt), "--max-new-tokens", "6", "--device", "cpu"]
    )
    codes = np.load(tmp_path / "codes_0.npy")
    assert codes.shape[0] == 10 and 1 <= codes.shape[1] <= 6
    run(dac + ["-i", "codes_0.npy", "-o", "out.wav", "-d", "cpu"])
    audio, rate = sf.read(tmp_path / "out.wav")
    assert rate == 44100 and len(audio) == 2048 * codes.shape[1]
