"""Prefix KV cache: the slow layers' keys/values of a prompt's shared head, kept and reused.

Most traffic reuses a few voices, and every prompt of a voice starts with the same columns (system
message + reference turns; see each family's `generate_long` and the agent's system turn). A caller
passes `prefix`, the number of leading prompt columns that do not depend on the text; `prefill` then
either copies that head's K/V from the store into the static cache and runs the slow model on the
remaining columns only (attending over the copied keys), or prefills the whole prompt as before and
stores the head's K/V. Entries are keyed by the head's content (its token and code values), so the
same voice hits whatever request, surface or batch row it comes from; a store belongs to one loaded
model. LRU by bytes: `budget` caps the K/V kept (0 = off; then prefill is exactly the uncached one).

The fast layers' cache is per frame and never part of a prefix.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import Tensor

from fish_speech.models.text2semantic.model import key_span


def bytes_per_token(args, dtype: torch.dtype) -> int:
    """K and V of every slow layer for one position."""
    return 2 * args.n_layer * args.n_local_heads * args.head_dim * torch.empty(0, dtype=dtype).element_size()


class PrefixCache:
    """LRU of prefix K/V (per slow layer: k, v [H_kv, P, hd] on the model's device), capped in bytes."""

    def __init__(self, budget: int = 0):
        self.budget = max(0, int(budget))
        self.entries: OrderedDict[str, list[tuple[Tensor, Tensor]]] = OrderedDict()
        self.sizes: dict[str, int] = {}
        self.used = 0
        self.hits = self.misses = 0

    @staticmethod
    def key(head: Tensor) -> str:
        """Content key of prompt columns [N+1, P] (host tensor)."""
        a = head.to(torch.int32).contiguous().numpy()
        return hashlib.sha256(str(a.shape).encode() + a.tobytes()).hexdigest()

    def get(self, key: str) -> list[tuple[Tensor, Tensor]] | None:
        entry = self.entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.entries.move_to_end(key)
        self.hits += 1
        return entry

    def put(self, key: str, kv: list[tuple[Tensor, Tensor]]):
        size = sum(k.nbytes + v.nbytes for k, v in kv)
        if size > self.budget or key in self.entries:
            return
        while self.used + size > self.budget:  # evict the least recently used
            old, _ = self.entries.popitem(last=False)
            self.used -= self.sizes.pop(old)
        self.entries[key] = kv
        self.sizes[key] = size
        self.used += size

    def clear(self):
        self.entries.clear()
        self.sizes.clear()
        self.used = 0


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Prefill:
    """What the last prefill did: `cached` (the prefix came from the store) and `seconds`."""

    def __init__(self):
        self.cached = False
        self.seconds = 0.0


def prefill(
    model,
    prompt: Tensor,
    prefix: int,
    store: PrefixCache | None,
    frame: Callable[[Tensor, Tensor, bool, int], Tensor],
    row: int = 0,
    record: Prefill | None = None,
) -> Tensor:
    """The prefill frame of `prompt` [N+1, T] (host tensor) into cache row `row`.

    `frame(inp [1, N+1, S], input_pos [S], full, span)` runs the family's frame function (B=1, into
    `row`). With a store and `prefix` > 0, the first min(prefix, T-1) columns are the shared head."""
    dev = model.embeddings.weight.device
    t0 = time.perf_counter()
    t = prompt.shape[1]
    p = min(prefix, t - 1) if store is not None and store.budget > 0 else 0
    key = store.key(prompt[:, :p]) if p > 0 else None
    entry = store.get(key) if key is not None else None
    slow = model.caches()[: len(model.layers)]
    if entry is not None:
        for cache, (k, v) in zip(slow, entry):
            cache.k_cache[row, :, :p].copy_(k)
            cache.v_cache[row, :, :p].copy_(v)
        rest = prompt[:, p:].to(dev).unsqueeze(0)
        out = frame(rest, torch.arange(p, t, device=dev), False, key_span(t, model.cache_len))
    else:
        out = frame(prompt.to(dev).unsqueeze(0), torch.arange(t, device=dev), True, 0)
        if key is not None:
            store.put(key, [(c.k_cache[row, :, :p].clone(), c.v_cache[row, :, :p].clone()) for c in slow])
    if record is not None:
        _sync(dev)
        record.cached, record.seconds = entry is not None, time.perf_counter() - t0
    return out
