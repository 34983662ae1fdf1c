"""The CPU linear-layer kernels behind a decode step, against the machine's read bandwidth.

    python benchmarks/bench_gemv.py [--threads N] [--rows 1,2,4,30,200]

For each weight shape of the 1.5-size model (wqkv, wo, w1/w3, w2, main head), times `F.linear` over
the official [N, K] layout and `SplitLinear` (transposed storage: a blocked batched product for few
rows, oneDNN for prompts) on enough distinct matrices that nothing stays in cache. Prints one JSON
object: GB/s of weights read for one-row products next to a large `sum`'s GB/s (the bound a decode
step is measured against), and GFLOP/s for the multi-row products of a prompt. Random weights.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F

from fish_speech.models.text2semantic.split_linear import SplitLinear

SHAPES = {"wqkv": (1280, 1024), "wo": (1024, 1024), "w1/w3": (4096, 1024), "w2": (1024, 4096), "head": (1001, 1024)}
WORKING_SET = 256 << 20  # bytes of distinct weights per timing: far beyond any cache


def best_seconds(fn, reps: int = 5) -> float:
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def per_call(layers, x) -> float:
    """Seconds per product of `x` by each of `layers` (callables), best of 5 sweeps."""
    return best_seconds(lambda: [f(x) for f in layers]) / len(layers)


def read_bandwidth() -> float:
    x = torch.ones(WORKING_SET // 4)
    return x.nbytes / best_seconds(x.sum)


@torch.inference_mode()
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--rows", default="1,2,4,30,200", help="rows per product (1 = a decode step)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    rows = [int(r) for r in a.rows.split(",")]
    torch.manual_seed(0)
    out = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
        "sum_gb_per_s": round(read_bandwidth() / 1e9, 2),
        "shapes": {},
    }
    for name, (n, k) in SHAPES.items():
        count = max(4, WORKING_SET // (n * k * 4))
        weights = [torch.randn(n, k) for _ in range(count)]
        plain = [lambda x, w=w: F.linear(x, w) for w in weights]
        split = [SplitLinear(w) for w in weights]
        row = {}
        for m in rows:
            x = torch.randn(m, k)
            t_plain, t_split = per_call(plain, x), per_call(split, x)
            if m == 1:
                row["1 row GB/s"] = {
                    "F.linear": round(n * k * 4 / t_plain / 1e9, 2),
                    "split": round(n * k * 4 / t_split / 1e9, 2),
                }
            else:
                flops = 2 * m * n * k
                row[f"{m} rows GFLOP/s"] = {
                    "F.linear": round(flops / t_plain / 1e9, 1),
                    "split": round(flops / t_split / 1e9, 1),
                }
        out["shapes"][f"{name} {n}x{k}"] = row
    out["sum_gb_per_s_at_end"] = round(read_bandwidth() / 1e9, 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
