"""Modded DAC command line: audio -> codes [10, T] (.npy) + reconstruction (.wav), or codes -> .wav.

    python fish_speech/models/dac/inference.py -i ref.wav --checkpoint-path checkpoints/s2-pro/codec.pth
    python -m fish_speech.models.dac.inference -i fake.npy -o fake.wav

Upstream's flags; audio in any format soundfile or ffmpeg reads, any rate and channel count.
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

import numpy as np

from fish_speech.cli import load_codes, run_cli
from fish_speech.errors import FishError
from fish_speech.models.vqgan.inference import read_audio

DEFAULT_CHECKPOINT = "checkpoints/openaudio-s1-mini/codec.pth"
CONFIGS = ("modded_dac_vq",)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="OpenAudio S1-mini / Fish Audio S2-Pro codec (modded DAC)")
    p.add_argument("-i", "--input-path", required=True, help="audio file to encode, or .npy codes to decode")
    p.add_argument("-o", "--output-path", default="fake.wav", help="output wav; codes go beside it as .npy")
    p.add_argument("--checkpoint-path", default=DEFAULT_CHECKPOINT)
    p.add_argument("--config-name", default="modded_dac_vq")
    p.add_argument("-d", "--device", default=None, help="cpu, cuda, cuda:N (default: cuda if available)")
    return p


def run(args) -> None:
    import soundfile as sf
    import torch

    from fish_speech.models.codecs import codec_kind
    from fish_speech.models.dac.codec import DacCodec
    from fish_speech.models.dac.config import DacConfig

    if args.config_name not in CONFIGS:
        raise FishError(
            400, "config_name", f"unknown --config-name {args.config_name!r}; supported: {', '.join(CONFIGS)}"
        )
    src, out = Path(args.input_path), Path(args.output_path)
    if not src.is_file():
        raise FishError(404, "input_path", f"input file not found: {src}")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        torch.device(device)
    except RuntimeError:
        raise FishError(400, "device", f"unknown device {device!r}") from None
    # read the input before loading weights, so bad input fails fast
    sizes = DacConfig().codebook_sizes
    if src.suffix.lower() == ".npy":
        codes, audio, sr = (
            load_codes(src, "input_path", len(sizes), sizes),
            None,
            None,
        )
    else:
        codes, (audio, sr) = None, read_audio(src)
    if Path(args.checkpoint_path).is_file() and codec_kind(args.checkpoint_path) == "firefly":
        raise FishError(
            400,
            "checkpoint_path",
            f"{args.checkpoint_path} is a Fish Speech 1.5 (firefly) codec; use fish_speech/models/vqgan/inference.py",
        )
    codec = DacCodec.load(args.checkpoint_path, device=device)
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

    def work():
        try:
            run(args)
        except FishError:
            raise
        except Exception as exc:  # unreadable audio and the like: still one line, no traceback
            raise FishError(400, None, " ".join(str(exc).split()) or type(exc).__name__) from None

    return run_cli(work)


if __name__ == "__main__":
    sys.exit(main())
