"""The codec-code validator both codec classes share: integer codes [N, T] (or [B, N, T]) whose row r
holds ids 0..codebook_sizes[r]-1. Bad input is a 400 naming the first bad value and where it is."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fish_speech.errors import FishError


def check_code_tensor(codes, codebook_sizes: Sequence[int], field: str = "codes") -> tuple[torch.Tensor, bool]:
    """(int64 [B, N, T] on the CPU, whether the input was batched)."""
    if isinstance(codes, np.ndarray):
        if codes.dtype.kind not in "iu":
            raise FishError(400, field, f"codes must be integers, got dtype {codes.dtype}")
        codes = torch.from_numpy(np.ascontiguousarray(codes).astype(np.int64))
    elif isinstance(codes, torch.Tensor):
        if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
            raise FishError(400, field, f"codes must be integers, got {codes.dtype}")
    else:
        raise FishError(400, field, f"codes must be a numpy array or tensor, got {type(codes).__name__}")
    n = len(codebook_sizes)
    batched = codes.dim() == 3
    if codes.dim() not in (2, 3) or codes.shape[-2] != n:
        raise FishError(400, field, f"codes must have shape [{n}, T] or [B, {n}, T]; got {list(codes.shape)}")
    codes = codes.long().cpu()
    limits = torch.tensor(list(codebook_sizes)).view(n, 1)
    bad = (codes < 0) | (codes >= limits)
    if bool(bad.any()):
        pos = [int(i) for i in torch.nonzero(bad)[0]]
        row = pos[-2]
        where = f"row {row}, frame {pos[-1]}" + (f", item {pos[0]}" if batched else "")
        per_row = f" in row {row}" if len(set(codebook_sizes)) > 1 else ""
        raise FishError(
            400,
            field,
            f"code {int(codes[tuple(pos)])} at {where} is out of range; "
            f"valid codes are 0..{codebook_sizes[row] - 1}{per_row}",
        )
    return (codes if batched else codes[None]), batched


def check_code_array(codes, codebook_sizes: Sequence[int], field: str = "codes", what: str = "codes") -> np.ndarray:
    """A numpy [N, T] code array (a leading batch of 1 is dropped) checked row by row -> int64.
    `what` names the source in messages (a file path, "prompt codes")."""
    codes = np.asarray(codes)
    if codes.ndim == 3 and codes.shape[0] == 1:
        codes = codes[0]
    n = len(codebook_sizes)
    if codes.ndim != 2 or codes.shape[0] != n or not np.issubdtype(codes.dtype, np.integer):
        raise FishError(400, field, f"{what} must be integers of shape [{n}, T], got {codes.dtype} {list(codes.shape)}")
    if codes.shape[1]:
        for row, size in enumerate(codebook_sizes):
            low, high = int(codes[row].min()), int(codes[row].max())
            if low < 0 or high >= size:
                raise FishError(400, field, f"{what} row {row} has codes outside 0..{size - 1} (min {low}, max {high})")
    return codes.astype(np.int64)
