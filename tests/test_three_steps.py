"""The seed's three-step command line, end to end on real espeak-ng speech and tiny checkpoints."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]


def run(args, cwd):
    r = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    return r


def test_three_commands(tiny_checkpoints, speech_wav, speech_text, tmp_path):
    llama, codec = tiny_checkpoints
    vq = str(ROOT / "fish_speech/models/vqgan/inference.py")
    t2s = str(ROOT / "fish_speech/models/text2semantic/inference.py")
    wav = tmp_path / "paimon.wav"
    wav.write_bytes(speech_wav.read_bytes())

    run([vq, "-i", "paimon.wav", "--checkpoint-path", str(codec)], tmp_path)
    ref = np.load(tmp_path / "fake.npy")
    assert ref.shape[0] == 8 and ref.dtype == np.int32 and 0 <= ref.min() and ref.max() <= 999
    info = sf.info(tmp_path / "fake.wav")
    assert info.samplerate == 44100 and info.frames == 2048 * ref.shape[1]

    run(
        [
            t2s,
            "--text",
            "The quick brown fox.",
            "--prompt-text",
            speech_text,
            "--prompt-tokens",
            "fake.npy",
            "--checkpoint-path",
            str(llama),
            "--num-samples",
            "2",
            "--max-new-tokens",
            "10",
        ],
        tmp_path,
    )
    codes = np.load(tmp_path / "codes_0.npy")
    assert codes.shape == (8, 10) and codes.dtype == np.int32
    assert (tmp_path / "codes_1.npy").is_file()

    (tmp_path / "fake.wav").unlink()
    run([vq, "-i", "codes_0.npy", "--checkpoint-path", str(codec)], tmp_path)
    audio, sr = sf.read(tmp_path / "fake.wav")
    assert sr == 44100 and len(audio) == 2048 * 10 and np.abs(audio).max() < 1
