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
    passes = result["prompt_pass"]
    assert 0 < passes["columns"]["warm"] < passes["columns"]["cold"] and passes["cold_s"] > 0
    decode = result["decode"]
    assert decode["short"]["frames"] == decode["long"]["frames"] == 8
    assert decode["long"]["context_tokens"] < 1024  # asked for 2,000, clamped to the tiny model's context
    assert result["bandwidth"]["weight_bytes_per_frame"] > 0 and result["bandwidth"]["fraction_of_bound"] > 0
