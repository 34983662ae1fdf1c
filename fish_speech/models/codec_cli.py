"""The codec command line, shared by the firefly (1.5) and modded DAC (S1-mini/S2-Pro) CLIs at their
upstream paths: audio -> codes (.npy beside the output) + reconstruction (.wav), or codes -> .wav.
Input is read before the weights load, so bad input fails fast; every failure is one `error:` line."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fish_speech.errors import FishError
from fish_speech.models.cli import flag_names, load_codes, run_cli
from fish_speech.models.random_weights import WARNING as RANDOM_WARNING
from fish_speech.models.random_weights import is_random


@dataclass(frozen=True)
class CodecCli:
    description: str
    default_checkpoint: str
    config_name: str  # the only --config-name this codec has (upstream's name)
    kind: str  # fish_speech.models.codecs.codec_kind of this codec's files
    codebook_sizes: Sequence[int]  # valid ids per row of a codes file
    other_tool: str  # the CLI to point at when given the other family's codec


def parser(cli: CodecCli) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=cli.description)
    p.add_argument("-i", "--input-path", required=True, help="audio file to encode, or .npy codes to decode")
    p.add_argument("-o", "--output-path", default="fake.wav", help="output wav; codes go beside it as .npy")
    p.add_argument("--checkpoint-path", default=cli.default_checkpoint)
    p.add_argument("--config-name", default=cli.config_name)
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
        raise FishError(400, "input_path", f"cannot read audio {path}: {first_error}")
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "decoded.wav")
        proc = subprocess.run(
            [ffmpeg, "-nostdin", "-v", "error", "-y", "-i", str(path), "-vn", "-c:a", "pcm_f32le", wav],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not os.path.exists(wav):
            raise FishError(400, "input_path", f"cannot read audio {path}: not a supported audio file")
        data, sr = sf.read(wav, dtype="float32", always_2d=True)
    return data.T, int(sr)


def run(cli: CodecCli, args) -> None:
    import soundfile as sf

    from fish_speech.models.codecs import codec_kind, load_codec
    from fish_speech.models.text2semantic.loader import pick_device

    if args.config_name != cli.config_name:
        raise FishError(400, "config_name", f"unknown --config-name {args.config_name!r}; supported: {cli.config_name}")
    src, out = Path(args.input_path), Path(args.output_path)
    if not src.is_file():
        raise FishError(404, "input_path", f"input file not found: {src}")
    device = pick_device(args.device)
    if src.suffix.lower() == ".npy":
        codes, audio, sr = load_codes(src, "input_path", len(cli.codebook_sizes), cli.codebook_sizes), None, None
    else:
        codes, (audio, sr) = None, read_audio(src)
    if Path(args.checkpoint_path).is_file() and codec_kind(args.checkpoint_path) != cli.kind:
        raise FishError(
            400, "checkpoint_path", f"{args.checkpoint_path} is not a {cli.description} file; use {cli.other_tool}"
        )
    codec = load_codec(args.checkpoint_path, device=device)
    if is_random(args.checkpoint_path):
        print(f"warning: {RANDOM_WARNING} ({args.checkpoint_path})", file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    if codes is None:
        codes = codec.encode(audio, sr).numpy().astype(np.int32)
        npy = out.with_suffix(".npy")
        np.save(npy, codes)
        print(f"wrote {npy} codes {list(codes.shape)} int32", file=sys.stderr)
    wav = codec.decode(codes).numpy()
    sf.write(str(out), wav, codec.sample_rate)
    print(f"wrote {out} ({len(wav)} samples at {codec.sample_rate} Hz)", file=sys.stderr)


def main(cli: CodecCli, argv=None) -> int:
    ap = parser(cli)
    args = ap.parse_args(argv)

    def work():
        try:
            run(cli, args)
        except (FishError, KeyboardInterrupt):
            raise
        except Exception as exc:  # unreadable audio, a corrupt file and the like: still one line
            raise FishError(400, None, " ".join(str(exc).split()) or type(exc).__name__) from None

    return run_cli(work, flag_names(ap))
