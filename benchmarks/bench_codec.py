"""Codec benchmark: the modded DAC (S1-mini / S2-Pro `codec.pth`) beside the firefly codec (1.5).

    python benchmarks/bench_codec.py [--full] [--seconds 10] [--device cpu|cuda] [--codecs dac,firefly]
                                     [--dac-checkpoint PATH]

Writes random checkpoints in the official layouts (tiny, or the real shapes with `--full`; the
full DAC file is 1.87 GB, reused from `--dac-checkpoint` when given), then measures each codec
in its own process so peak memory is its own: load time and peak RSS right after loading, encode
and decode real-time factors on `--seconds` of audio (after a short warm-up), and the peak RSS
(plus CUDA peak allocation on a GPU). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def measure(kind: str, ckpt: str, seconds: float, device: str) -> dict:
    import numpy as np
    import torch

    from fish_speech.models.codecs import load_codec

    dev = torch.device(device)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    t = time.perf_counter()
    codec = load_codec(ckpt, device=device)
    sync()
    out = {"codec": kind, "checkpoint_bytes": os.path.getsize(ckpt), "load_s": round(time.perf_counter() - t, 2)}
    out["rss_after_load_mb"] = round(rss_mb())
    rng = np.random.default_rng(0)
    n = int(seconds * codec.sample_rate)
    tt = np.arange(n) / codec.sample_rate
    audio = (0.3 * np.sin(2 * np.pi * 150 * tt) * (1 + np.sin(2 * np.pi * 3 * tt)) / 2).astype(np.float32)
    audio += 0.02 * rng.standard_normal(n).astype(np.float32)
    codec.decode(codec.encode(audio[: codec.frame_length * 2], codec.sample_rate))  # warm-up
    t = time.perf_counter()
    codes = codec.encode(audio, codec.sample_rate)
    sync()
    enc = time.perf_counter() - t
    t = time.perf_counter()
    wav = codec.decode(codes)
    sync()
    dec = time.perf_counter() - t
    out.update(
        audio_s=round(seconds, 2),
        frames=int(codes.shape[1]),
        encode_s=round(enc, 2),
        encode_rtf=round(enc / seconds, 3),
        decode_s=round(dec, 2),
        decode_rtf=round(dec / (len(wav) / codec.sample_rate), 3),
        peak_rss_mb=round(rss_mb()),
    )
    if dev.type == "cuda":
        out["cuda_peak_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="real-size checkpoints (default: tiny)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--codecs", default="dac,firefly")
    p.add_argument("--dac-checkpoint", default=None, help="reuse a written (or real) codec.pth")
    p.add_argument("--worker", nargs=2, metavar=("KIND", "CKPT"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        import torch

        torch.set_num_threads(int(os.environ.get("BENCH_THREADS", torch.get_num_threads())))
        print(json.dumps(measure(a.worker[0], a.worker[1], a.seconds, a.device)))
        return 0

    from fish_speech.testing.codec_checkpoint import write_codec_checkpoint
    from fish_speech.testing.dac_checkpoint import write_dac_checkpoint

    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in a.codecs.split(","):
            if kind == "dac":
                ckpt = a.dac_checkpoint or write_dac_checkpoint(Path(tmp) / "codec.pth", tiny=not a.full)
            elif kind == "firefly":
                ckpt = write_codec_checkpoint(Path(tmp) / "firefly.pth", tiny=not a.full)
            else:
                raise SystemExit(f"unknown codec {kind!r} (dac, firefly)")
            cmd = [sys.executable, __file__, "--worker", kind, str(ckpt), "--seconds", str(a.seconds)]
            proc = subprocess.run(cmd + ["--device", a.device], capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "worker failed")
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    import torch

    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "torch": torch.__version__}
    print(json.dumps({"size": "full" if a.full else "tiny", "machine": machine, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
