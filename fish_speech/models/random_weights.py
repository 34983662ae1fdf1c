"""The mark of a random-weight test checkpoint, defined once.

The writers in fish_speech/testing/ drop `RANDOM_WEIGHTS` (one line saying why) into every folder
they write; every surface that loads a checkpoint asks `is_random(path)` and then says WARNING
plainly (CLI stderr, worker log, `/v1/health`, the page), so noise is never mistaken for a broken
real model. It lives in the models layer so surfaces need not import testing code.
"""

from __future__ import annotations

from pathlib import Path

MARKER = "RANDOM_WEIGHTS"
WARNING = "random-weight test checkpoint: output is noise"


def write_marker(folder: str | Path) -> Path:
    """Mark `folder` (created if needed) as holding random weights."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MARKER
    path.write_text(
        f"{WARNING}. Written by fish_speech.testing to exercise the official file layout; "
        "download the real weights for speech.\n",
        encoding="utf-8",
    )
    return path


def is_random(*paths: str | Path | None) -> bool:
    """True when any of the checkpoint folders (or files: their folder) carries the marker."""
    for p in paths:
        if p is None:
            continue
        p = Path(p)
        folder = p if p.is_dir() else p.parent
        if (folder / MARKER).is_file():
            return True
    return False
