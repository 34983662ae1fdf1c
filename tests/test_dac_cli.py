"""Modded DAC CLI end to end on espeak-ng speech, through both entry points, plus one-line errors."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from fish_speech.models.dac.inference import main
from fish_speech.testing.dac_checkpoint import write_dac_checkpoint

REPO = Path(__file__).resolve().parents[1]
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    root = tmp_path_factory.mktemp("dac_cli")
    wav = root / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(wav), "Ten codebooks a frame, one of them semantic."], check=True, capture_output=True
    )
    return root, wav, write_dac_checkpoint(root / "codec.pth")


def run_cli(args, cwd, module=None, script=None):
    cmd = [sys.executable] + (["-m", module] if module else [str(script)]) + [str(a) for a in args]
    return subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=120)


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def test_speech_to_codes_and_wav_as_script(files, tmp_path):
    _, wav, ckpt = files
    script = REPO / "fish_speech/models/dac/inference.py"
    proc = run_cli(["-i", wav, "--checkpoint-path", ckpt, "--device", "cpu"], cwd=tmp_path, script=script)
    assert proc.returncode == 0, proc.stderr
    info = sf.info(str(wav))
    assert info.samplerate == 22050
    codes = np.load(tmp_path / "fake.npy")
    frames = math.ceil(2 * info.frames / 2048)  # resampled to 44.1 kHz, then 2048 samples a frame
    assert codes.dtype == np.int32 and codes.shape == (10, frames)
    assert codes[0].max() < 4096 and codes[1:].max() < 1024 and codes.min() >= 0
    assert len(np.unique(codes[0])) > 5  # speech moves through the semantic codebook
    out, sr = sf.read(str(tmp_path / "fake.wav"), dtype="float32")
    assert sr == 44100 and out.shape == (2048 * frames,) and 0 < np.abs(out).max() < 1


def test_codes_to_wav_as_module(files, tmp_path):
    _, _, ckpt = files
    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.integers(0, 4096, (1, 7)), rng.integers(0, 1024, (9, 7))]).astype(np.int64)
    np.save(tmp_path / "codes_0.npy", codes)
    args = ["-i", tmp_path / "codes_0.npy", "-o", tmp_path / "out.wav", "--checkpoint-path", ckpt]
    proc = run_cli(args, cwd=REPO, module="fish_speech.models.dac.inference")
    assert proc.returncode == 0, proc.stderr
    out, sr = sf.read(str(tmp_path / "out.wav"), dtype="float32")
    assert sr == 44100 and out.shape == (2048 * 7,)
    assert not (tmp_path / "out.npy").exists()


def test_output_path_puts_npy_beside_wav(files, tmp_path):
    _, wav, ckpt = files
    assert main(["-i", str(wav), "-o", str(tmp_path / "o" / "x.wav"), "--checkpoint-path", str(ckpt)]) == 0
    codes = np.load(tmp_path / "o" / "x.npy")
    assert codes.shape[0] == 10 and sf.info(str(tmp_path / "o" / "x.wav")).frames == 2048 * codes.shape[1]


@pytest.mark.parametrize(
    "bad,needle",
    [
        (np.zeros((8, 5), np.int32), "[10, T]"),
        (np.zeros((10, 5), np.float32), "integer"),
        (np.full((10, 5), 4096, np.int64), "row 0 has codes outside 0..4095"),
        (np.concatenate([np.zeros((1, 5)), np.full((9, 5), 1024)]).astype(np.int64), "row 1 has codes outside 0..1023"),
    ],
)
def test_bad_codes_files(files, tmp_path, capsys, bad, needle):
    _, _, ckpt = files
    np.save(tmp_path / "bad.npy", bad)
    assert main(["-i", str(tmp_path / "bad.npy"), "-o", str(tmp_path / "o.wav"), "--checkpoint-path", str(ckpt)]) == 1
    assert needle in one_error_line(capsys.readouterr().err)


def test_bad_checkpoint_and_inputs(files, tmp_path, capsys):
    _, wav, ckpt = files
    out = str(tmp_path / "o.wav")
    firefly = tmp_path / "firefly.pth"
    from fish_speech.testing.codec_checkpoint import write_codec_checkpoint

    write_codec_checkpoint(firefly)
    assert main(["-i", str(wav), "-o", out, "--checkpoint-path", str(firefly)]) == 1
    assert "vqgan/inference.py" in one_error_line(capsys.readouterr().err)
    assert main(["-i", str(wav), "-o", out, "--checkpoint-path", str(tmp_path / "none.pth")]) == 1
    assert "not found" in one_error_line(capsys.readouterr().err)
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all")
    assert main(["-i", str(text), "-o", out, "--checkpoint-path", str(ckpt)]) == 1
    assert "notes.wav" in one_error_line(capsys.readouterr().err)
    assert main(["-i", str(tmp_path / "absent.wav"), "-o", out, "--checkpoint-path", str(ckpt)]) == 1
    assert "absent.wav" in one_error_line(capsys.readouterr().err)
    assert main(["-i", str(wav), "--config-name", "firefly_gan_vq", "--checkpoint-path", str(ckpt)]) == 1
    assert "modded_dac_vq" in one_error_line(capsys.readouterr().err)
