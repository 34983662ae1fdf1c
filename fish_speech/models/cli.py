"""Shared bits of the command-line tools: one clear error line and a non-zero exit, .npy checks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import numpy as np

from fish_speech.errors import FishError
from fish_speech.models.codes import check_code_array

FIREFLY_CODES = 1000  # the 1.5 codec's FSQ has 8*5*5*5 ids


def run_cli(work: Callable[[], object]) -> int:
    """Run `work`; turn expected failures into `error: ...` on stderr and exit status 1."""
    try:
        work()
    except FishError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def load_codes(path: Path, field: str = "codes", num_codebooks: int = 8, codebook_sizes=None) -> np.ndarray:
    """Read an int [num_codebooks, T] codes file written by a codec.

    Values must be 0..999 (the firefly codec), or 0..size-1 per row when `codebook_sizes`
    is given (a codec's `codebook_sizes`, e.g. 4096 then nine 1024 for the modded DAC)."""
    path = Path(path)
    if not path.is_file():
        raise FishError(404, field, f"file not found: {path}")
    try:
        codes = np.load(path, allow_pickle=False)
    except Exception as e:
        raise FishError(400, field, f"{path} is not a .npy array: {e}") from None
    sizes = tuple(codebook_sizes) if codebook_sizes is not None else (FIREFLY_CODES,) * num_codebooks
    return check_code_array(codes, sizes, field, what=str(path)).astype(codes.dtype)
    for row, size in enumerate(codebook_sizes):
        if codes.shape[1] and (codes[row].min() < 0 or codes[row].max() >= size):
            raise FishError(
                400,
                field,
                f"{path} row {row} has codes outside 0..{size - 1} (min {codes[row].min()}, max {codes[row].max()})",
            )
    return codes
