"""The command lines' wrong-input errors: one `error:` line naming the flag and what to pass (no
traceback, no library advice), the random-weight warning, and step 2's progress line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fish_speech.models.random_weights import MARKER, WARNING
from fish_speech.models.text2semantic.inference import main as t2s_main
from fish_speech.models.vqgan.inference import main as vq_main

REPO = Path(__file__).resolve().parents[1]
T2S = REPO / "fish_speech/models/text2semantic/inference.py"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"OMP_NUM_THREADS": "1"}


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line and not line.startswith("warning: ")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "allow_pickle" not in err and "weights_only" not in err
    return lines[0]


@pytest.fixture(scope="module")
def wrong_files(tmp_path_factory, speech_wav, tiny_checkpoints):
    root = tmp_path_factory.mktemp("wrong")
    (root / "config.json").write_text('{"model_type": "dual_ar"}')
    (root / "notes.npy").write_text("not an array\n")
    full = tiny_checkpoints[1].read_bytes()
    (root / "cut.pth").write_bytes(full[: len(full) // 3])
    np.save(root / "empty.npy", np.zeros((8, 0), np.int32))
    (root / "a-folder").mkdir()
    return root


def run_script(args, cwd):
    """The step-2 script as a user runs it; stderr kept byte-exact (`text=True` would turn \r into \n)."""
    cmd = [sys.executable, str(T2S), *map(str, args)]
    r = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, timeout=120)
    r.stderr = r.stderr.decode()
    return r


@pytest.mark.parametrize(
    "device,needle",
    [("cuda" if not __import__("torch").cuda.is_available() else "cuda:99", "cuda"), ("bogus", "bogus")],
)
def test_unusable_device_is_one_line_naming_the_flag(tiny_checkpoints, tmp_path, device, needle):
    r = run_script(["--text", "hi", "--checkpoint-path", tiny_checkpoints[0], "--device", device], tmp_path)
    line = one_error_line(r.stderr)
    assert r.returncode == 1 and line.startswith("error: --device: ") and needle in line and "cpu" in line


def codec_error(capsys, tmp_path, src, ckpt) -> str:
    assert vq_main(["-i", str(src), "-o", str(tmp_path / "o.wav"), "--checkpoint-path", str(ckpt)]) == 1
    return one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    "name,says",
    [
        ("config.json", "is a JSON file, not a PyTorch checkpoint"),
        ("speech", "is a WAV audio file, not a PyTorch checkpoint"),
        ("a-folder", "is a directory"),
        ("cut.pth", "truncated or damaged"),
    ],
)
def test_wrong_codec_checkpoint_says_what_it_is(capsys, tmp_path, wrong_files, speech_wav, name, says):
    ckpt = speech_wav if name == "speech" else wrong_files / name
    line = codec_error(capsys, tmp_path, speech_wav, ckpt)
    assert line.startswith("error: --checkpoint-path: ") and says in line, line
    if "truncated" not in says:
        assert "firefly-gan-vq-fsq-8x1024-21hz-generator.pth" in line  # what to pass instead


def test_codes_without_frames_are_an_error_not_an_empty_wav(capsys, tmp_path, wrong_files, tiny_checkpoints):
    line = codec_error(capsys, tmp_path, wrong_files / "empty.npy", tiny_checkpoints[1])
    assert line.startswith("error: --input-path: ") and "no frames" in line and "[8, 0]" in line
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("name,says", [("notes.npy", "a text file"), ("speech", "a WAV audio file")])
def test_prompt_tokens_that_are_not_npy(capsys, tmp_path, wrong_files, speech_wav, tiny_checkpoints, name, says):
    bad = speech_wav if name == "speech" else wrong_files / name
    args = ["--text", "hi", "--prompt-text", "x", "--prompt-tokens", str(bad), "--checkpoint-path"]
    assert t2s_main([*args, str(tiny_checkpoints[0]), "--output-dir", str(tmp_path)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("error: --prompt-tokens: ") and says in line and "fake.npy" in line, line


@pytest.mark.parametrize("what,says", [("wav", "a WAV audio file, not a model folder"), ("empty", "config.json")])
def test_model_folder_of_the_wrong_kind(capsys, tmp_path, speech_wav, wrong_files, what, says):
    path = speech_wav if what == "wav" else wrong_files / "a-folder"
    assert t2s_main(["--text", "hi", "--checkpoint-path", str(path), "--output-dir", str(tmp_path)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith("error: --checkpoint-path: ") and says in line and "pass the model folder" in line


def test_random_weights_warn_once_and_progress_shows(tiny_checkpoints, tmp_path):
    assert (tiny_checkpoints[0] / MARKER).is_file() and (tiny_checkpoints[1].parent / MARKER).is_file()
    r = run_script(
        ["--text", "Hello there.", "--checkpoint-path", tiny_checkpoints[0], "--max-new-tokens", "24", "--seed", "1"],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert r.stderr.count(WARNING) == 1 and f"warning: {WARNING}" in r.stderr
    # the progress line: redrawn in place with \r, frames and frames/s, ended by a newline
    bar = [part for part in r.stderr.split("\r") if "frames/s" in part and "sample 0:" in part]
    assert bar and "\rsample 0: " in r.stderr and "frames," in bar[-1]
    frames = np.load(tmp_path / "codes_0.npy").shape[1]
    assert bar[-1].startswith(f"sample 0: {frames} frames")
