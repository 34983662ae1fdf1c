"""Shared bits of the command-line tools: one clear error line and a non-zero exit, .npy checks."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from fish_speech.errors import FishError
from fish_speech.models.codes import check_code_array
from fish_speech.models.file_kind import check_npy_file

FIREFLY_CODES = 1000  # the 1.5 codec's FSQ has 8*5*5*5 ids


# FishError fields that are not an argparse dest, as the flag a user passes.
FIELD_FLAGS = {"checkpoint": "--checkpoint-path", "codec": "--checkpoint-path"}


def flag_names(parser) -> dict[str, str]:
    """field -> the flag that sets it (`prompt_tokens` -> `--prompt-tokens`), from the parser itself."""
    flags = {a.dest: a.option_strings[-1] for a in parser._actions if a.option_strings}
    return {**flags, **{k: flags.get(v.lstrip("-").replace("-", "_"), v) for k, v in FIELD_FLAGS.items()}}


def run_cli(work: Callable[[], object], flags: dict[str, str] | None = None) -> int:
    """Run `work`; turn expected failures into `error: ...` on stderr and exit status 1.
    `flags` (see flag_names) names the command-line flag at fault instead of the internal field."""
    try:
        work()
    except FishError as e:
        where = (flags or {}).get(e.field, e.field)
        print(f"error: {where}: {e.message}" if where else f"error: {e.message}", file=sys.stderr)
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
    codes = read_npy(path, field, num_codebooks)
    sizes = tuple(codebook_sizes) if codebook_sizes is not None else (FIREFLY_CODES,) * num_codebooks
    return check_code_array(codes, sizes, field, what=str(path)).astype(codes.dtype)


def read_npy(path: Path, field: str, num_codebooks: int) -> np.ndarray:
    """A codes .npy file with at least one frame; anything else is one error naming what it is."""
    wanted = f"an int [{num_codebooks}, T] codes .npy file, e.g. the fake.npy the codec CLI writes"
    check_npy_file(path, field, wanted)
    try:
        codes = np.load(path, allow_pickle=False)
    except Exception as e:  # a damaged .npy (cut short, object arrays)
        raise FishError(
            400, field, f"{path} is a damaged .npy file ({' '.join(str(e).split()[:12])}); pass {wanted}"
        ) from None
    if codes.ndim >= 2 and codes.shape[-1] == 0:
        raise FishError(400, field, f"{path} holds no frames (shape {list(codes.shape)}); pass {wanted}")
    return codes


class ProgressLine:
    """A one-line progress bar on stderr (`\\r`-rewritten, no dependency): frames generated and frames/s.
    Redrawn at most every `interval` seconds; `close()` ends the line."""

    def __init__(self, label: str, interval: float = 0.25, stream=None):
        self.label, self.interval, self.stream = label, interval, stream or sys.stderr
        self.start = time.perf_counter()
        self.frames, self.shown_at, self.drawn = 0, -1.0, False

    def update(self, frames: int, note: str = "") -> None:
        self.frames += frames
        now = time.perf_counter()
        if now - self.shown_at >= self.interval:
            self.shown_at = now
            self._draw(note)

    def _draw(self, note: str = "") -> None:
        rate = self.frames / max(time.perf_counter() - self.start, 1e-9)
        tail = f", {note}" if note else ""
        self.stream.write(f"\r{self.label}: {self.frames} frames, {rate:.1f} frames/s{tail}   ")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
