"""Build a module as shapes only, for checkpoint tensors to be assigned into.

On the meta device torch's default initialisers still run, and their meta path imports torch's Python
reference ops: about 4 s once per process, paid by every worker and server start. The values are
thrown away anyway, so the initialisers are skipped while the skeleton is built.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import torch

_INITIALISERS = (
    "normal_",
    "uniform_",
    "trunc_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "xavier_uniform_",
    "xavier_normal_",
    "orthogonal_",
    "zeros_",
    "ones_",
    "constant_",
)
_lock = threading.Lock()  # the initialisers are process-wide: one skeleton at a time


def _keep(tensor, *args, **kwargs):
    return tensor


@contextmanager
def skeleton():
    """`with skeleton(): model = Model(cfg)` → parameters on the meta device, never initialised."""
    with _lock:
        saved = {name: getattr(torch.nn.init, name) for name in _INITIALISERS}
        try:
            for name in _INITIALISERS:
                setattr(torch.nn.init, name, _keep)
            with torch.device("meta"):
                yield
        finally:
            for name, fn in saved.items():
                setattr(torch.nn.init, name, fn)
