"""Plumbing for streamed encoding: a write-capturing file object and a chunked resampler."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np


class CaptureSink:
    """A seekable-looking binary file that hands over what was written, as it is written.

    libsndfile writes through it; `take()` returns the bytes written since the last call.
    Bytes already taken cannot change any more: a later write over them (a header patched at
    close) is dropped, so formats streamed this way must stay valid without that patch.
    """

    def __init__(self):
        self._pending = bytearray()  # bytes from offset `_base` on, not yet taken
        self._base = 0
        self._pos = 0
        self._end = 0

    def write(self, data) -> int:
        data = bytes(data)
        size, start = len(data), self._pos
        if start < self._base:  # over bytes already sent: keep only the part after them
            data = data[self._base - start :]
            start = self._base
        if data:
            offset = start - self._base
            if offset > len(self._pending):
                self._pending.extend(bytes(offset - len(self._pending)))
            self._pending[offset : offset + len(data)] = data
        self._pos += size
        self._end = max(self._end, self._pos)
        return size

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._pos, self._end)[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def read(self, size: int = -1) -> bytes:
        return b""  # write-only: libsndfile never needs to read back what it wrote here

    def take(self) -> bytes:
        out = bytes(self._pending)
        self._base += len(out)
        self._pending.clear()
        return out


class StreamResampler:
    """Resample a signal that arrives in pieces, matching a one-shot `resample` of the whole.

    The resampler is a finite filter: each output depends only on nearby input. Input is
    processed in blocks of whole rate periods with `context` samples of real signal on both
    sides (zeros before the start, like the one-shot padding), so every output sample sees
    exactly the input it would see in one pass. Latency: `context` input samples.
    """

    def __init__(self, orig_sr: int, new_sr: int, resample: Callable):
        g = math.gcd(orig_sr, new_sr)
        self._orig, self._new = orig_sr, new_sr
        self._step, self._out_step = orig_sr // g, new_sr // g  # input/output samples per period
        # The filter reaches about 6 zero crossings of the lower rate: generous margin here.
        reach = 16 + 8 * math.ceil(orig_sr / new_sr)
        self._context = self._step * math.ceil(reach / self._step)
        self._resample = resample
        self._history = np.zeros(self._context, np.float32)
        self._pending = np.zeros(0, np.float32)

    def _outputs_for(self, n_in: int) -> int:
        return math.ceil(n_in * self._out_step / self._step)

    def push(self, x: np.ndarray) -> np.ndarray:
        self._pending = np.concatenate([self._pending, np.asarray(x, np.float32)])
        ready = (len(self._pending) - self._context) // self._step * self._step
        if ready <= 0:
            return np.zeros(0, np.float32)
        window = np.concatenate([self._history, self._pending[: ready + self._context]])
        y = self._resample(window, self._orig, self._new)
        skip = self._outputs_for(self._context)
        out = y[skip : skip + self._outputs_for(ready)]
        self._history = np.concatenate([self._history, self._pending[:ready]])[-self._context :]
        self._pending = self._pending[ready:]
        return np.asarray(out, np.float32)

    def flush(self) -> np.ndarray:
        if not len(self._pending):
            return np.zeros(0, np.float32)
        window = np.concatenate([self._history, self._pending])
        y = self._resample(window, self._orig, self._new)
        skip = self._outputs_for(self._context)
        out = y[skip : skip + self._outputs_for(len(self._pending))]
        self._pending = np.zeros(0, np.float32)
        return np.asarray(out, np.float32)
