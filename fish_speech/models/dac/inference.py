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

from fish_speech.models.codec_cli import CodecCli
from fish_speech.models.codec_cli import main as codec_main
from fish_speech.models.dac.config import DacConfig

CLI = CodecCli(
    description="OpenAudio S1-mini / Fish Audio S2-Pro codec (modded DAC)",
    default_checkpoint="checkpoints/openaudio-s1-mini/codec.pth",
    config_name="modded_dac_vq",
    kind="modded_dac",
    codebook_sizes=DacConfig().codebook_sizes,
    other_tool="fish_speech/models/vqgan/inference.py (Fish Speech 1.5 firefly codec)",
)


def main(argv=None) -> int:
    return codec_main(CLI, argv)


if __name__ == "__main__":
    sys.exit(main())
