"""1.2-era entry point, kept as an alias of `fish_speech/models/vqgan/inference.py`."""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # run as a script: make the repo root importable instead of this folder
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fish_speech.models.vqgan.inference import main

if __name__ == "__main__":
    sys.exit(main())
