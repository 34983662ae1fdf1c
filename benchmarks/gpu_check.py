"""The first GPU run in one command: environment, CUDA-marked tests, the three-step CLI on a full-size
random checkpoint, bench.py eager / --compile / --half / batched, time to first audio through the
tts engine. Each step is a subprocess with a time limit; a failed or timed-out step is recorded and
the next one runs. Results go to $OUT/gpu_check.json (rewritten after every step, so a kill keeps
what ran), every step's output to $OUT/gpu_check.log, the tests' report to $OUT/pytest_cuda.xml.

    OUT=/tmp/gpucheck bash benchmarks/gpu_check.sh                 # the real run (CUDA)
    OUT=/tmp/gpucheck bash benchmarks/gpu_check.sh --cpu-dry-run   # same steps on CPU, tiny sizes
    ... --only bench_half,engine    ... --skip pytest_cuda          ... --budget 300

Subcommands used by the steps themselves: `env` (facts + copy bandwidth) and `engine` (first audio).
docs/gpu-check.md says how to read the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gpu_check_steps import FRAME_RATE, MODULES, REF_TEXT, TTS_TEXT, checkpoint_dir, plan, summarize  # noqa: E402


# ---- subcommand: env --------------------------------------------------------------------------------
def env_main(_args) -> dict:
    import importlib

    import torch

    out = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda_available": torch.cuda.is_available()}
    out["torch_cuda"] = torch.version.cuda
    out["modules"] = {}
    for name in MODULES:
        try:
            mod = importlib.import_module(name)
            out["modules"][name] = getattr(mod, "__version__", "ok")
        except Exception as e:  # missing or broken: the steps that need it fail and say so
            out["modules"][name] = f"missing: {type(e).__name__}"
    out["wheels"] = os.environ.get("GPU_CHECK_WHEELS", "not asked")
    out["c_compiler"] = shutil.which("cc") or shutil.which("gcc") or "none (inductor/triton need one to compile)"
    out["tf32"] = {"matmul": torch.backends.cuda.matmul.allow_tf32, "cudnn": torch.backends.cudnn.allow_tf32}
    try:
        q = "name,driver_version,memory.total,clocks.sm,clocks.mem,temperature.gpu,power.draw"
        r = subprocess.run(["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"], capture_output=True, text=True)
        out["nvidia_smi"] = r.stdout.strip() or r.stderr.strip()
    except OSError:
        out["nvidia_smi"] = "not found"
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        out.update(gpu=p.name, capability=f"{p.major}.{p.minor}", gpu_mem_gb=round(p.total_memory / 2**30, 1))
        out["sm_count"] = p.multi_processor_count
        out["copy_bw_bytes_per_s"] = copy_bandwidth(torch)
    return out


def copy_bandwidth(torch, nbytes: int = 2**31, reps: int = 10) -> float:
    """Device-to-device copy of random data, bytes read + written per second (median of `reps`)."""
    a = torch.randn(nbytes // 4, device="cuda")
    b = torch.empty_like(a)
    times = []
    for i in range(reps + 2):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        b.copy_(a)
        e.record()
        e.synchronize()
        if i >= 2:  # warm-up
            times.append(s.elapsed_time(e) / 1e3)
    times.sort()
    return round(2 * nbytes / times[len(times) // 2], -9)


# ---- subcommand: engine (time to first audio) -------------------------------------------------------
def engine_main(a) -> dict:
    import numpy as np
    import torch

    from fish_speech.engine.tts import TTSEngine
    from fish_speech.engine.types import Sampling, TTSRequest

    codec_path = next(Path(a.checkpoint).glob("*generator.pth"))
    out = {}
    ref = None
    for mode in ("eager", "compile") if a.compile else ("eager",):
        t = time.perf_counter()
        engine = TTSEngine.load(a.checkpoint, codec_path, device=a.device, compile=mode == "compile")
        out[f"{mode}_load_s"] = round(time.perf_counter() - t, 2)
        if ref is None:
            ref = engine.encode_reference(chord(5.0), 44100, REF_TEXT)

        def request(frames, seed):
            return TTSRequest(
                text=TTS_TEXT,
                references=[ref],
                chunk_length=0,
                stream_frames=16,
                sampling=Sampling(max_new_tokens=frames, seed=seed),
            )

        t = time.perf_counter()
        [s for s in engine.synthesize(request(32, 0)) if isinstance(s.audio, np.ndarray)]
        out[f"{mode}_warmup_s"] = round(time.perf_counter() - t, 2)  # includes compiling
        segs = list(engine.synthesize(request(a.frames, 1)))
        tm = segs[-1].timings
        frames = sum(s.codes.shape[1] for s in segs)
        out[f"{mode}_first_audio_s"] = round(segs[0].timings["first_audio_s"], 4)
        out[f"{mode}_frames"] = frames
        out[f"{mode}_frames_per_s"] = round(frames / max(tm["generate_s"], 1e-9), 2)
        out[f"{mode}_rtf"] = round(tm["elapsed_s"] / (frames / FRAME_RATE), 4)
        del engine
    if torch.cuda.is_available():
        out["peak_gpu_mem_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return out


def chord(seconds: float, rate: int = 44100):
    """A deterministic voice stand-in: three harmonics with a slow tremolo (float32, mono)."""
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    w = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((180.0, 360.0, 540.0)))
    return (0.3 * w * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def write_wav(path: Path, audio) -> None:
    """16-bit PCM with the standard library: the check needs no audio package to make its input."""
    import numpy as np

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(44100)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] in ("env", "engine"):
    _ap = argparse.ArgumentParser()
    _ap.add_argument("cmd")
    _ap.add_argument("--checkpoint")
    _ap.add_argument("--device", default="cuda")
    _ap.add_argument("--compile", action="store_true")
    _ap.add_argument("--frames", type=int, default=200)
    _a = _ap.parse_args()
    print(json.dumps((env_main if _a.cmd == "env" else engine_main)(_a)))
    sys.exit(0)


# ---- the orchestrator -------------------------------------------------------------------------------
def run_step(step: dict, log, deadline: float, min_s: float = 20) -> dict:
    left = deadline - time.monotonic()
    if left < min_s:
        return {"status": "skipped", "why": f"budget: {left:.0f} s left"}
    limit = min(step["timeout"], left)
    log.write(f"\n===== {step['name']}: {' '.join(map(str, step['cmd']))} (limit {limit:.0f} s)\n")
    log.flush()
    t = time.monotonic()
    proc = subprocess.Popen(
        [str(c) for c in step["cmd"]],
        cwd=step.get("cwd", ROOT),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a timeout also ends compile workers
    )
    try:
        output, _ = proc.communicate(timeout=limit)
        timed_out = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        timed_out = True
    res = {"rc": proc.returncode, "seconds": round(time.monotonic() - t, 1), "timed_out": timed_out}
    log.write(output or "")
    log.flush()
    ok = proc.returncode == 0 and not timed_out
    res["status"] = "ok" if ok else ("timeout" if timed_out else "failed")
    if not ok:
        res["tail"] = (output or "")[-1500:]
    parsed = last_json(output or "")
    if parsed is not None:
        res["result"] = parsed
    m = re.findall(r"\(([\d.]+) frames/s\)", output or "")
    if m:
        res["cli_frames_per_s"] = [float(x) for x in m]
    if "check" in step:
        try:
            res["check"] = step["check"]()
        except Exception as e:  # the output is missing or wrong: say what
            res["check"] = f"failed: {type(e).__name__}: {e}"
            res["status"] = "failed" if ok else res["status"]
    return res


def last_json(text: str):
    """The last JSON object printed (bench.py prints one, indented; env/engine one per line)."""
    start = text.rfind("\n{")
    for cand in (text[start + 1 :] if start >= 0 else None, text.strip()):
        if cand and cand.lstrip().startswith("{"):
            try:
                return json.loads(cand)
            except ValueError:
                pass
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/gpu_check"))
    ap.add_argument("--cpu-dry-run", action="store_true", help="same steps on CPU with tiny sizes, no CUDA-only ones")
    ap.add_argument("--budget", type=float, default=None, help="seconds for all steps (450; dry run 1200)")
    ap.add_argument("--only", default="", help="comma-separated step names")
    ap.add_argument("--skip", default="", help="comma-separated step names")
    ap.add_argument("--work", default=None, help="scratch folder (checkpoints, CLI files)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(a.work or "/tmp/gpu_check_work")
    work.mkdir(parents=True, exist_ok=True)
    # the real run must end inside the device call; the dry run shares 2 slow CPU cores with others
    a.budget = a.budget or (1200 if a.cpu_dry_run else 450)
    deadline = time.monotonic() + a.budget
    steps = plan(a.cpu_dry_run, out, work, sys.executable, write_wav, chord)
    only, skip = {s for s in a.only.split(",") if s}, {s for s in a.skip.split(",") if s}
    report = {"mode": "cpu-dry-run" if a.cpu_dry_run else "cuda", "started": time.strftime("%Y-%m-%dT%H:%M:%SZ")}
    report["budget_s"], report["steps"] = a.budget, {}
    t0 = time.monotonic()
    with open(out / "gpu_check.log", "a") as log:
        for step in steps:
            name = step["name"]
            if (only and name not in only) or name in skip:
                continue
            if "skip" in step:
                res = {"status": "skipped", "why": step["skip"]}
            else:
                if "before" in step:
                    step["before"]()
                res = run_step(step, log, deadline)
            report["steps"][name] = res
            print(f"{name:24s} {res['status']:8s} {res.get('seconds', '')}", flush=True)
            report["total_s"] = round(time.monotonic() - t0, 1)
            (out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    report["summary"] = summarize(report, checkpoint_dir(work, a.cpu_dry_run) / "config.json")
    (out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report["summary"], indent=1))
    failed = [n for n, r in report["steps"].items() if r["status"] in ("failed", "timeout")]
    print(f"failed: {', '.join(failed) or 'none'}; total {report['total_s']} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
