"""Benchmark the 1.5-size language model and the real-size codec with random weights.

    python benchmarks/bench.py [--device cpu|cuda] [--compile] [--half] [--frames 64] [--tiny] [--batch B]
    python benchmarks/bench.py --family s1-mini|s2-pro [--device ...] [--compile] [--frames 64] [--tiny]

Writes a random checkpoint in the official layout to a temporary folder (so load time is real),
then prints one JSON object: load times, prefill time, generation frames/s at batch 1 after a
warm-up, codec encode/decode real-time factors, peak memory. `--batch B` adds B concurrent
requests (same prompt) sharing each decode step: aggregate and per-request frames/s.
`--family s1-mini|s2-pro` times the OpenAudio S1-mini / S2-Pro language model instead (full size
unless --tiny; the checkpoint is written by a subprocess so peak memory is the loader's and the
generator's only; no codec timings: the modded DAC codec is benchmarked on its own).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from fish_speech.models.text2semantic.batch import BatchGenerator, Slot
from fish_speech.models.text2semantic.generate import WAIT, Generator
from fish_speech.models.text2semantic.loader import load_language_model
from fish_speech.models.text2semantic.prompt import chunk_prompt, system_prompt
from fish_speech.models.vqgan.codec import Codec
from fish_speech.testing.checkpoints import write_checkpoints


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device):
    sync(device)
    t = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t


def batch_run(bg: BatchGenerator, prompt, frames: int, device) -> tuple[int, float, float]:
    """B requests of `frames` decode steps each: (frames generated, prefill s, decode s)."""
    gens = []
    for i in range(bg.max_batch):
        slot = Slot(bg, i)
        slot.seed(i)
        gens.append(slot.generate(prompt, frames + 1, sync_every=16))
    sync(device)
    t0 = time.perf_counter()
    pending = [next(g) for g in gens]  # admits: one prefill per slot
    sync(device)
    t1 = time.perf_counter()
    got = sum(b.shape[1] for b in pending if b is not WAIT)
    live = list(gens)
    while live:
        bg.step()
        still = []
        for g in live:
            for block in g:
                if block is WAIT:
                    still.append(g)
                    break
                got += block.shape[1]
        live = still
    sync(device)
    return got - bg.max_batch, t1 - t0, time.perf_counter() - t1  # the prefill gives each row's first frame


def time_generation(lm, prompt, a, result, compile: bool) -> Generator:
    """Warm-up, prefill and batch-1 frames/s of `lm` on `prompt` (every family)."""
    dev = lm.device
    gen = Generator(lm, compile=compile)
    if lm.family == "fish-audio-s2-pro":  # every run goes its full length: no <|im_end|> (the head's row K-1)
        gen.head.bias[-2] = float("-inf")

    def run(frames):
        return sum(b.shape[1] for b in gen.generate(prompt, frames, sync_every=16))

    _, warm = timed(lambda: run(min(a.frames, 32)), dev)  # warm-up (compiles when --compile)
    result["warmup_s"] = round(warm, 2)
    with torch.inference_mode():
        _, pre = timed(
            lambda: gen.model.forward_slow(prompt.to(dev)[None], torch.arange(prompt.shape[1], device=dev), True), dev
        )
    result["prefill_s"] = round(pre, 4)
    result["prefill_tokens"] = prompt.shape[1]
    frames, dt = timed(lambda: run(a.frames), dev)
    result["generate_frames"] = frames
    result["frames_per_s"] = round(frames / dt, 2)  # the prompt's prefill included
    result["decode_frames_per_s"] = round((frames - 1) / (dt - gen.last_prefill.seconds), 2)  # after the first frame
    result["generate_rtf"] = round(dt / (frames * 2048 / 44100), 3)  # <1 means faster than real time
    return gen


def bench_new_family(a, result):
    """S1-mini / S2-Pro language model: load, prefill, frames/s, peak memory."""
    import subprocess

    from fish_speech.models.text2semantic.prompt_s2 import encode_parts, s1_parts, s2_assistant_parts, s2_user_parts

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "fish_speech.testing.new_checkpoints", "--family", a.family, "--out", tmp]
        t = time.perf_counter()
        subprocess.run(cmd + ([] if a.tiny else ["--full"]), check=True, capture_output=True)
        result["write_checkpoint_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        lm = load_language_model(tmp, device=a.device, half=a.half)
        result["lm_load_s"] = round(time.perf_counter() - t, 2)
    result["peak_rss_after_load_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    result.update(
        family=lm.family,
        device=str(lm.device),
        dtype=str(lm.dtype).replace("torch.", ""),
        compile=a.compile,
        lm_params=sum(p.numel() for p in lm.model.parameters()),
    )
    text = "Benchmark sentence. " * 200
    if lm.family == "fish-audio-s2-pro":
        parts = s2_user_parts(text) + s2_assistant_parts()
    else:
        parts = s1_parts(text, [])
    prompt = encode_parts(parts, lm.tokenizer, lm.args.num_codebooks, lm.args.codebook_size)[:, -a.prompt_tokens :]
    time_generation(lm, prompt, a, result, a.compile)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default=None)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--half", action="store_true")
    ap.add_argument("--frames", type=int, default=64, help="frames to generate per timed run")
    ap.add_argument("--prompt-tokens", type=int, default=512, help="prefill length")
    ap.add_argument("--audio-seconds", type=float, default=10.0)
    ap.add_argument("--tiny", action="store_true", help="tiny checkpoints (smoke test of the script)")
    ap.add_argument("--batch", type=int, default=0, help="also time B concurrent requests sharing decode steps")
    ap.add_argument("--family", choices=("1.5", "s1-mini", "s2-pro"), default="1.5")
    a = ap.parse_args(argv)
    torch.manual_seed(0)
    result = {"machine": f"{platform.machine()} {torch.get_num_threads()} threads", "torch": torch.__version__}
    if a.family != "1.5":
        bench_new_family(a, result)
        if torch.cuda.is_available() and str(a.device or "cuda").startswith("cuda"):
            result["peak_gpu_mem_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        result["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
        print(json.dumps(result, indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        llama_dir, codec_path = write_checkpoints(Path(tmp), tiny=a.tiny)
        result["write_checkpoint_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        lm = load_language_model(llama_dir, device=a.device, half=a.half)
        result["lm_load_s"] = round(time.perf_counter() - t, 2)
        dev = lm.device
        t = time.perf_counter()
        codec = Codec.load(codec_path, device=str(dev))
        result["codec_load_s"] = round(time.perf_counter() - t, 2)
    result.update(
        device=str(dev),
        dtype=str(lm.dtype).replace("torch.", ""),
        compile=a.compile,
        lm_params=sum(p.numel() for p in lm.model.parameters()),
    )
    tok, n = lm.tokenizer, lm.args.num_codebooks
    base = torch.cat([system_prompt(tok, n), chunk_prompt("Benchmark sentence. " * 200, tok, n)], 1)
    prompt = base[:, -a.prompt_tokens :]
    time_generation(lm, prompt, a, result, a.compile)

    if a.batch:
        bg = BatchGenerator(lm, a.batch, compile=a.compile)
        bg.head.bias[bg.head.local[tok.im_end_id]] = float("-inf")  # every request runs its full budget
        batch_run(bg, prompt, min(a.frames, 8), dev)  # warm-up
        frames, pre, dt = batch_run(bg, prompt, a.frames, dev)
        result.update(
            batch=a.batch,
            batch_prefill_s=round(pre, 3),
            batch_frames=frames,
            batch_frames_per_s=round(frames / dt, 2),
            batch_frames_per_s_per_request=round(frames / dt / a.batch, 2),
        )

    secs = a.audio_seconds
    x = (0.3 * np.sin(2 * np.pi * 220 * np.arange(int(44100 * secs)) / 44100)).astype(np.float32)
    codec.encode(x[:44100], 44100)  # warm-up
    codes, enc = timed(lambda: codec.encode(x, 44100), dev)
    _, dec = timed(lambda: codec.decode(codes), dev)
    result.update(codec_encode_rtf=round(enc / secs, 4), codec_decode_rtf=round(dec / secs, 4))
    if dev.type == "cuda":
        result["peak_gpu_mem_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    result["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
