"""Codec CLI end to end on espeak-ng speech, through each entry point, plus its one-line errors."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from fish_speech.models.vqgan.inference import main
from fish_speech.testing.codec_checkpoint import write_codec_checkpoint
from tests.requires import need_tool

REPO = Path(__file__).resolve().parents[1]
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    need_tool("espeak-ng")
    root = tmp_path_factory.mktemp("vqgan_cli")
    wav = root / "speech.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(wav), "Codes in, speech out, twenty one frames a second."],
        check=True,
        capture_output=True,
    )
    return root, wav, write_codec_checkpoint(root / "tiny.pth")


def run_cli(args, cwd, module=None, script=None):
    cmd = [sys.executable] + (["-m", module] if module else [str(script)]) + [str(a) for a in args]
    return subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=120)


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_audio_to_codes_and_wav_as_script(files, tmp_path):
    _, wav, ckpt = files
    proc = run_cli(
        ["-i", wav, "--checkpoint-path", ckpt], cwd=tmp_path, script=REPO / "fish_speech/models/vqgan/inference.py"
    )
    assert proc.returncode == 0, proc.stderr
    info = sf.info(str(wav))
    assert info.samplerate == 22050
    codes = np.load(tmp_path / "fake.npy")
    frames = math.ceil((2 * info.frames // 512) / 4)
    assert codes.dtype == np.int32 and codes.shape == (8, frames)
    assert codes.min() >= 0 and codes.max() <= 999
    out, sr = sf.read(str(tmp_path / "fake.wav"), dtype="float32")
    assert sr == 44100 and out.shape == (2048 * frames,)


def test_codes_to_wav_through_the_old_alias(files, tmp_path):
    _, _, ckpt = files
    codes = np.random.default_rng(0).integers(0, 1000, (8, 9)).astype(np.int32)
    np.save(tmp_path / "in.npy", codes)
    proc = run_cli(
        ["-i", tmp_path / "in.npy", "-o", tmp_path / "dec.wav", "--checkpoint-path", ckpt],
        cwd=REPO,
        module="tools.vqgan.inference",
    )
    assert proc.returncode == 0, proc.stderr
    out, sr = sf.read(str(tmp_path / "dec.wav"), dtype="float32")
    assert sr == 44100 and out.shape == (2048 * 9,)
    assert not (tmp_path / "dec.npy").exists()


def test_missing_input_exits_with_one_line(files, tmp_path):
    _, _, ckpt = files
    proc = run_cli(
        ["-i", tmp_path / "absent.wav", "--checkpoint-path", ckpt],
        cwd=REPO,
        module="fish_speech.models.vqgan.inference",
    )
    assert proc.returncode == 1
    assert "absent.wav" in one_error_line(proc.stderr)


def test_output_dir_gets_npy_beside_wav(files, tmp_path, monkeypatch):
    _, wav, ckpt = files
    monkeypatch.chdir(tmp_path)
    assert main(["-i", str(wav), "-o", "out/x.wav", "--checkpoint-path", str(ckpt), "-d", "cpu"]) == 0
    codes = np.load(tmp_path / "out" / "x.npy")
    assert codes.shape[0] == 8 and codes.dtype == np.int32
    assert sf.info(str(tmp_path / "out" / "x.wav")).frames == 2048 * codes.shape[1]


def test_ffmpeg_fallback_for_formats_soundfile_lacks(files, tmp_path):
    root, wav, ckpt = files
    need_tool("ffmpeg")
    m4a = tmp_path / "speech.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "aac", str(m4a)], check=True)
    assert main(["-i", str(m4a), "-o", str(tmp_path / "m.wav"), "--checkpoint-path", str(ckpt)]) == 0
    assert np.load(tmp_path / "m.npy").shape[0] == 8


@pytest.mark.parametrize(
    "bad,needle",
    [
        (np.zeros((7, 5), np.int32), "[8, T]"),
        (np.zeros((8, 5), np.float32), "integers"),
        (np.full((8, 5), 1000, np.int64), "0..999"),
    ],
)
def test_bad_codes_files(files, tmp_path, capsys, bad, needle):
    _, _, ckpt = files
    np.save(tmp_path / "bad.npy", bad)
    assert main(["-i", str(tmp_path / "bad.npy"), "-o", str(tmp_path / "o.wav"), "--checkpoint-path", str(ckpt)]) == 1
    assert needle in one_error_line(capsys.readouterr().err)


def test_bad_checkpoint_and_audio(files, tmp_path, capsys):
    _, wav, ckpt = files
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"\x00not a checkpoint")
    assert main(["-i", str(wav), "-o", str(tmp_path / "o.wav"), "--checkpoint-path", str(junk)]) == 1
    assert "junk.pth" in one_error_line(capsys.readouterr().err)
    assert main(["-i", str(wav), "-o", str(tmp_path / "o.wav"), "--checkpoint-path", str(tmp_path / "none.pth")]) == 1
    assert "not found" in one_error_line(capsys.readouterr().err)
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all")
    assert main(["-i", str(text), "-o", str(tmp_path / "o.wav"), "--checkpoint-path", str(ckpt)]) == 1
    assert "notes.wav" in one_error_line(capsys.readouterr().err)
    assert main(["-i", str(wav), "--config-name", "other", "--checkpoint-path", str(ckpt)]) == 1
    assert "firefly_gan_vq" in one_error_line(capsys.readouterr().err)
