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
from dataclasses import dataclass

import torch
from torch import Tensor

from fish_speech.models.text2semantic.model import key_span


def bytes_per_token(args, dtype: torch.dtype) -> int:
    """K and V of every slow layer for one position."""
    return 2 * args.n_layer * args.n_local_heads * args.head_dim * torch.empty(0, dtype=dtype).element_size()


@dataclass
class Entry:
    """Prompt columns [N+1, P] (host) and, per slow layer, their keys/values (k, v [H_kv, P, hd])."""

    columns: Tensor
    kv: list[tuple[Tensor, Tensor]]
    whole: bool = False  # a whole prompt (a conversation so far), not a shared head

    @property
    def length(self) -> int:
        return self.columns.shape[1]

    @property
    def nbytes(self) -> int:
        return sum(k.nbytes + v.nbytes for k, v in self.kv)

    def starts(self, prompt: Tensor) -> bool:
        """Whether these columns open `prompt`."""
        return self.length <= prompt.shape[1] and torch.equal(self.columns, prompt[:, : self.length])


class PrefixCache:
    """LRU of prompt prefixes' K/V on the model's device, capped in bytes. A lookup returns the
    longest entry that opens the prompt, so a conversation's next turn reuses its last prompt."""

    def __init__(self, budget: int = 0):
        self.budget = max(0, int(budget))
        self.entries: OrderedDict[str, Entry] = OrderedDict()
        self.used = 0
        self.hits = self.misses = 0

    @staticmethod
    def key(columns: Tensor) -> str:
        """Content key of prompt columns [N+1, P] (host tensor)."""
        a = columns.to(torch.int32).contiguous().numpy()
        return hashlib.sha256(str(a.shape).encode() + a.tobytes()).hexdigest()

    def longest(self, prompt: Tensor, limit: int) -> Entry | None:
        """The longest entry of at most `limit` columns that opens `prompt` (counted as a hit or a miss)."""
        best_key, best = None, None
        for key, entry in self.entries.items():
            if entry.length <= limit and (best is None or entry.length > best.length) and entry.starts(prompt):
                best_key, best = key, entry
        if best is None:
            self.misses += 1
            return None
        self.entries.move_to_end(best_key)
        self.hits += 1
        return best

    def put(self, entry: Entry):
        """Keep `entry` (not if larger than the budget or already kept). A whole prompt replaces the
        whole prompts it extends: the conversation's next turn makes its last one useless."""
        key = self.key(entry.columns)
        if entry.nbytes > self.budget or key in self.entries:
            return
        if entry.whole:
            for old in [
                k for k, e in self.entries.items() if e.whole and e.length < entry.length and e.starts(entry.columns)
            ]:
                self._drop(old)
        while self.used + entry.nbytes > self.budget:  # evict the least recently used
            self._drop(next(iter(self.entries)))
        self.entries[key] = entry
        self.used += entry.nbytes

    def _drop(self, key: str):
        self.used -= self.entries.pop(key).nbytes

    def clear(self):
        self.entries.clear()
        self.used = 0


def _sync(device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Prefill:
    """What the last prefill did: `cached` (a prefix came from the store), `columns` (how many
    prompt columns it held) and `seconds`."""

    def __init__(self):
        self.cached = False
        self.columns = 0
        self.seconds = 0.0


def prefill(
    model,
    prompt: Tensor,
    prefix: int,
    store: PrefixCache | None,
    frame: Callable[[Tensor, Tensor, bool, int], Tensor],
    row: int = 0,
    record: Prefill | None = None,
    keep_whole: bool = False,
) -> Tensor:
    """The prefill frame of `prompt` [N+1, T] (host tensor) into cache row `row`.

    `frame(inp [1, N+1, S], input_pos [S], full, span)` runs the family's frame function (B=1, into
    `row`). With a store, the longest stored prefix of the first T-1 columns is copied in and only
    the rest is run; then the first min(`prefix`, T-1) columns (the shared head) are stored, and
    with `keep_whole` the whole prompt too (a conversation: its next turn starts with it)."""
    dev = model.embeddings.weight.device
    t0 = time.perf_counter()
    t = prompt.shape[1]
    use = store is not None and store.budget > 0
    entry = store.longest(prompt, t - 1) if use and (prefix > 0 or keep_whole) else None
    p = entry.length if entry is not None else 0
    slow = model.caches()[: len(model.layers)]
    if entry is not None:
        for cache, (k, v) in zip(slow, entry.kv):
            cache.k_cache[row, :, :p].copy_(k)
            cache.v_cache[row, :, :p].copy_(v)
        rest = prompt[:, p:].to(dev).unsqueeze(0)
        out = frame(rest, torch.arange(p, t, device=dev), False, key_span(t, model.cache_len))
    else:
        out = frame(prompt.to(dev).unsqueeze(0), torch.arange(t, device=dev), True, 0)
    if use:
        keep = [(min(prefix, t - 1), False)] + ([(t, True)] if keep_whole else [])
        for n, whole in keep:
            if n > p:  # what the store already held is not stored again
                kv = [(c.k_cache[row, :, :n].clone(), c.v_cache[row, :, :n].clone()) for c in slow]
                store.put(Entry(prompt[:, :n].clone(), kv, whole))
    if record is not None:
        _sync(dev)
        record.cached, record.columns, record.seconds = entry is not None, p, time.perf_counter() - t0
    return out
