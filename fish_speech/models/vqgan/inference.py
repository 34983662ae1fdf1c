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

from fish_speech.models.codec_cli import CodecCli
from fish_speech.models.codec_cli import main as codec_main
from fish_speech.models.vqgan.codec import CHECKPOINT_FILE
from fish_speech.settings import DEFAULT_CHECKPOINT as DEFAULT_MODEL_FOLDER

CLI = CodecCli(
    description="Fish Speech 1.5 codec (firefly-gan-vq-fsq-8x1024-21hz)",
    default_checkpoint=f"{DEFAULT_MODEL_FOLDER}/{CHECKPOINT_FILE}",
    config_name="firefly_gan_vq",
    kind="firefly",
    codebook_sizes=(1000,) * 8,
    other_tool="fish_speech/models/dac/inference.py (OpenAudio S1-mini / Fish Audio S2-Pro codec.pth)",
)


def main(argv=None) -> int:
    return codec_main(CLI, argv)


if __name__ == "__main__":
    sys.exit(main())
