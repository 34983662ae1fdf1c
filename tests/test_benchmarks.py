"""The benchmark scripts still run end to end (tiny checkpoints): the README's figures come from them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_prefix_runs_on_tiny_checkpoints():
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_prefix.py"), "--tiny", "--rounds", "1", "--frames", "8"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    voice = result["voice"]
    assert voice["cold"]["prefix_cached"] is False and voice["warm"]["prefix_cached"] is True
    assert voice["cold"]["prefill_s"] > 0 and len(voice["rounds"]) == 1
    by_columns = result["prefill_by_columns"]
    columns, best = by_columns["columns"], by_columns["best_s"]
    assert 0 < columns["warm_real"] < columns["warm"] < columns["cold"]
    assert set(best) == {f"{c}_{k}" for c in columns for k in ("pass", "prefill")} and min(best.values()) > 0
    assert all(best[f"{c}_pass"] < best[f"{c}_prefill"] for c in columns)  # + the first frame's fast steps
    assert result["packed_bytes"] > 0  # the default PACKED_WEIGHT_BYTES holds the tiny model
    decode = result["decode"]
    assert decode["short"]["frames"] == decode["long"]["frames"] == 8
    assert decode["long"]["context_tokens"] < 1024  # asked for 2,000, clamped to the tiny model's context
    assert result["bandwidth"]["weight_bytes_per_frame"] > 0 and result["bandwidth"]["fraction_of_bound"] > 0


def test_bytes_per_frame_is_what_one_decode_step_reads(tiny_lm):
    """The bandwidth bound's numerator: every weight a frame's modules read, counted by hooks on
    the modules that run (a feed-forward reads all its weights; embeddings are row lookups)."""
    import importlib.util

    import torch
    from torch import nn

    from fish_speech.models.text2semantic.generate import Generator
    from fish_speech.models.text2semantic.model import FeedForward, RMSNorm

    spec = importlib.util.spec_from_file_location("bench_prefix", ROOT / "benchmarks" / "bench_prefix.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    gen = Generator(tiny_lm)
    read = []

    def count(module, args, out):
        read.append(sum(p.nbytes for p in module.parameters()))

    model = gen.model
    in_feed_forward = {id(c) for f in model.modules() if isinstance(f, FeedForward) for c in f.children()}
    hooked = [gen.head.linear] + [
        m
        for m in model.modules()
        if isinstance(m, (FeedForward, RMSNorm, nn.RMSNorm))
        or (isinstance(m, nn.Linear) and id(m) not in in_feed_forward)
    ]
    handles = [m.register_forward_hook(count) for m in hooked]
    prompt = torch.zeros(tiny_lm.args.num_codebooks + 1, 40, dtype=torch.int32)
    prompt[0] = 72
    frames = iter(gen.generate(prompt, 3, sync_every=1))
    next(frames)  # the prefill's frame
    read.clear()
    next(frames)  # one decode step
    for h in handles:
        h.remove()
    assert sum(read) == bench.bytes_per_frame(gen)
