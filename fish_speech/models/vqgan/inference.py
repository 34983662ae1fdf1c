"""Codec command line: audio -> codes (.npy) + reconstruction (.wav), or codes (.npy) -> .wav.

    python fish_speech/models/vqgan/inference.py -i speech.wav -o fake.wav
    python -m fish_speech.models.vqgan.inference -i fake.npy -o fake.wav

Every failure prints one `error: ...` line on stderr and exits 1.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # run as a script: make the repo root importable instead of this folder (whose module
    # names would otherwise shadow top-level imports)
    _here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(_here)]
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import argparse
import os
import shutil
import subprocess
import tempfile

import numpy as np

from fish_speech.models.vqgan.codec import CHECKPOINT_FILE
from fish_speech.settings import DEFAULT_CHECKPOINT as DEFAULT_MODEL_FOLDER

DEFAULT_CHECKPOINT = f"{DEFAULT_MODEL_FOLDER}/{CHECKPOINT_FILE}"
CONFIGS = ("firefly_gan_vq",)


class CliError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Fish Speech 1.5 codec (firefly-gan-vq-fsq-8x1024-21hz)")
    p.add_argument("-i", "--input-path", required=True, help="audio file to encode, or .npy codes to decode")
    p.add_argument("-o", "--output-path", default="fake.wav", help="output wav; codes go beside it as .npy")
    p.add_argument("--checkpoint-path", default=DEFAULT_CHECKPOINT)
    p.add_argument("--config-name", default="firefly_gan_vq")
    p.add_argument("-d", "--device", default=None, help="cpu, cuda, cuda:N (default: cuda if available)")
    return p


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """[channels, samples] float32 and the sample rate; soundfile first, ffmpeg as a fallback."""
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
        return data.T, int(sr)
    except Exception as exc:  # formats libsndfile lacks (m4a, some mp3): let ffmpeg convert
        first_error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise CliError(f"cannot read audio {path}: {first_error}")
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "decoded.wav")
        proc = subprocess.run(
            [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(path), "-vn", "-c:a", "pcm_f32le", wav],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not os.path.exists(wav):
            raise CliError(f"cannot read audio {path}: not a supported audio file")
        data, sr = sf.read(wav, dtype="float32", always_2d=True)
    return data.T, int(sr)


def read_codes(path: Path) -> np.ndarray:
    try:
        codes = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise CliError(f"cannot read codes {path}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}")
    if codes.ndim == 3 and codes.shape[0] == 1:
        codes = codes[0]
    if codes.ndim != 2 or codes.shape[0] != 8:
        raise CliError(f"codes in {path} must have shape [8, T]; got {list(codes.shape)}")
    if codes.dtype.kind not in "iu":
        raise CliError(f"codes in {path} must be integers; got dtype {codes.dtype}")
    return codes


def run(args) -> None:
    import soundfile as sf
    import torch

    from fish_speech.models.vqgan.codec import Codec

    if args.config_name not in CONFIGS:
        raise CliError(f"unknown --config-name {args.config_name!r}; supported: {', '.join(CONFIGS)}")
    src, out = Path(args.input_path), Path(args.output_path)
    if not src.is_file():
        raise CliError(f"input file not found: {src}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        torch.device(device)
    except RuntimeError:
        raise CliError(f"unknown device {device!r}") from None
    # read the input before loading weights, so bad input fails fast
    if src.suffix.lower() == ".npy":
        codes, audio, sr = read_codes(src), None, None
    else:
        codes, (audio, sr) = None, read_audio(src)
    codec = Codec.load(args.checkpoint_path, device=device)
    out.parent.mkdir(parents=True, exist_ok=True)
    if codes is None:
        codes = codec.encode(audio, sr).numpy().astype(np.int32)
        npy = out.with_suffix(".npy")
        np.save(npy, codes)
        print(f"wrote {npy} codes {list(codes.shape)} int32", file=sys.stderr)
    wav = codec.decode(codes).numpy()
    sf.write(str(out), wav, codec.sample_rate)
    print(f"wrote {out} ({len(wav)} samples at {codec.sample_rate} Hz)", file=sys.stderr)


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        run(args)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, no traceback: FishError, CliError, I/O errors alike
        text = " ".join(str(exc).split()) or type(exc).__name__
        print(f"error: {text}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
