"""Time to first audio for a voice already heard, and decode speed against context and memory bandwidth.

    python benchmarks/bench_prefix.py [--device cpu|cuda] [--compile] [--frames 32] [--threads N] [--tiny]

On the 1.5-size random-weight model (written in the official layout to a temporary folder) and the
real-size codec, prints one JSON object:
- first-audio and prefill time of a short sentence with a cold voice (a 6-second reference never
  seen) and a warm one (the same voice again: its prompt prefix comes from the prefix KV cache),
  best of `--rounds` fresh voices; then the prefill (and the slow model's pass alone, without the
  first frame's fast-transformer steps, which no prefix cache removes) of the whole prompt, of the
  columns after the cached prefix, and of as many columns as a real English tokenizer gives that
  sentence (`--real-columns`; the test checkpoint's tokenizer cuts English into 2-3-byte pieces);
- generation frames/s at a ~100-token and a ~2000-token context (decode reads the filled cache only);
- batch-1 decode as a fraction of the memory-bandwidth bound: weight bytes one frame reads (slow
  layers + main-head rows once, the fast layers per codebook; `bytes_per_frame`) / read bandwidth
  measured here (a large tensor sum), against the measured frames/s. Each round measures the
  bandwidth just before and after its short-context decode run and takes that run's fraction against
  their mean; the headline is the median round (`fraction_of_bound`), with the best round and the
  best frames/s over the best bandwidth of any round beside it. Other figures are each their best
  round; every round is printed;
- memory per cached prefix token (K and V of every slow layer).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from fish_speech.engine.tts import TTSEngine
from fish_speech.engine.types import Sampling, TTSRequest
from fish_speech.models.text2semantic.generate import Generator
from fish_speech.models.text2semantic.prefix import Prefill, PrefixCache, bytes_per_token, prefill
from fish_speech.models.text2semantic.prompt import chunk_prompt, prefix_columns, reference_prompt, system_prompt
from fish_speech.settings import Settings
from fish_speech.testing.checkpoints import write_checkpoints

SENTENCE = "The quick brown fox jumps over the lazy dog."
SENTENCE_2 = "And now a second short sentence."  # the warm voice's; a real BPE: 7 tokens


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def voice(seconds: float, pitch: float) -> np.ndarray:
    """A deterministic voice stand-in: three harmonics with a slow tremolo, 44.1 kHz."""
    t = np.arange(int(seconds * 44100)) / 44100
    wave = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((pitch, 2 * pitch, 3 * pitch)))
    return (0.3 * wave * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def first_audio(engine: TTSEngine, reference, text: str) -> dict:
    """One streamed request: the engine's own timings of its first piece."""
    request = TTSRequest(
        text=text,
        references=[reference],
        sampling=Sampling(temperature=0.7, max_new_tokens=8, seed=1),
        chunk_length=0,
        stream_frames=8,
    )
    segments = list(engine.synthesize(request))
    t = segments[-1].timings
    return {k: t[k] for k in ("first_audio_s", "prefill_s", "prefix_cached")}


def prompt_pass(gen: Generator, prompt: torch.Tensor, prefix: int, store: PrefixCache) -> Prefill:
    """Time the slow model's pass over `prompt` alone (no fast steps): all of it on a store miss,
    the columns after a cached `prefix` on a hit."""
    model, record = gen.model, Prefill()
    model.use_caches(gen.caches)

    def slow_only(inp, input_pos, full, span):
        return model.forward_slow(inp, input_pos, full, gen.head.linear, None, span)[0]

    with torch.inference_mode():
        prefill(model, prompt, prefix, store, slow_only, record=record)
    return record


def decode_fps(gen: Generator, prompt: torch.Tensor, frames: int, device) -> dict:
    """Frames/s of the decode steps alone (the prefill, which gives the first frame, is left out)."""
    sync(device)
    t0 = time.perf_counter()
    got = sum(b.shape[1] for b in gen.generate(prompt, frames, sync_every=16))
    sync(device)
    decode = time.perf_counter() - t0 - gen.last_prefill.seconds
    return {"context_tokens": prompt.shape[1], "frames": got, "frames_per_s": round((got - 1) / decode, 3)}


def read_bandwidth(device, gib: float = 1.0) -> float:
    """Bytes/s of summing a large float32 tensor (best of 5): what reading weights can reach."""
    x = torch.ones(int(gib * 2**30) // 4, device=device)
    best = float("inf")
    for _ in range(5):
        sync(device)
        t = time.perf_counter()
        x.sum()
        sync(device)
        best = min(best, time.perf_counter() - t)
    return x.nbytes / best


def bytes_per_frame(gen: Generator) -> int:
    """Weight bytes one decode step reads: the slow stack and main-head rows once; the fast stack
    for codebooks 1..N-1; for codebook slot 0 (the slow hidden state) only what fills its cache:
    every fast layer but the last, and the last one's norm and qkv projection (`forward_fast`)."""
    m = gen.model
    size = lambda *mods: sum(p.nbytes for mod in mods for p in mod.parameters())  # noqa: E731
    slow = size(*m.layers, m.norm) + gen.head.weight.nbytes
    slow += size(m.fast_project_in) if hasattr(m, "fast_project_in") else 0
    fast = size(*m.fast_layers, m.fast_norm, m.fast_output)
    last = m.fast_layers[-1]
    slot0 = size(*m.fast_layers[:-1], last.attention_norm, last.attention.wqkv)
    return slow + (m.args.num_codebooks - 1) * fast + slot0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default=None)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--frames", type=int, default=32, help="frames per decode-speed run")
    ap.add_argument(
        "--rounds", type=int, default=5, help="rounds of each measurement (voices, prompt passes, decode runs)"
    )
    ap.add_argument("--short", type=int, default=100, help="short context, tokens")
    ap.add_argument("--long", type=int, default=2000, help="long context, tokens")
    ap.add_argument("--reference-seconds", type=float, default=6.0)
    ap.add_argument(
        "--real-columns",
        type=int,
        default=12,
        help="columns after the prefix that a real English BPE gives the warm sentence (7 words + 5 turn tokens)",
    )
    ap.add_argument(
        "--packed-bytes",
        type=int,
        default=Settings().packed_weight_bytes,
        help="PACKED_WEIGHT_BYTES: slow-layer weights also packed for prompts (CPU float32; 0 = off)",
    )
    ap.add_argument("--tiny", action="store_true", help="tiny checkpoints (smoke test of the script)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default); 1 on a shared machine")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    load = os.getloadavg()
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {torch.get_num_threads()} torch threads",
        "load_average_at_start": [round(v, 2) for v in load],
        "torch": torch.__version__,
    }
    with tempfile.TemporaryDirectory() as tmp:
        llama, codec = write_checkpoints(Path(tmp), tiny=a.tiny)
        engine = TTSEngine.load(
            llama,
            codec,
            device=a.device,
            compile=a.compile,
            prefix_cache_bytes=1 << 30,
            packed_weight_bytes=a.packed_bytes,
        )
    lm, dev = engine.lm, engine.device
    packed = sum(lin.weight.nbytes for g in lm.model.slow_products() for lin in g if "packed" in lin.__dict__)
    result.update(device=str(dev), dtype=str(lm.dtype).replace("torch.", ""), compile=a.compile, packed_bytes=packed)
    result["prefix_bytes_per_token"] = {
        "bfloat16": bytes_per_token(lm.args, torch.bfloat16),
        "float32": bytes_per_token(lm.args, torch.float32),
    }

    # ---- first audio, cold vs warm voice. A warm-up voice first runs both paths, so neither pays
    # first-call costs; then --rounds fresh voices (a new pitch each: never seen), each heard cold
    # and then warm. Each figure is its best round; every round is printed.
    warmup = engine.encode_reference(voice(2.0, 150.0), 44100, "A warm-up voice.")
    first_audio(engine, warmup, SENTENCE)
    first_audio(engine, warmup, "A second warm-up sentence.")
    pairs = []
    for i in range(a.rounds):
        ref = engine.encode_reference(
            voice(a.reference_seconds, 180.0 + 7 * i), 44100, "A steady voice, six seconds long."
        )
        cold = first_audio(engine, ref, SENTENCE)
        warm = first_audio(engine, ref, SENTENCE_2)
        assert not cold["prefix_cached"] and warm["prefix_cached"]
        pairs.append((cold, warm))
    cold = min((c for c, _ in pairs), key=lambda d: d["prefill_s"])
    warm = min((w for _, w in pairs), key=lambda d: d["prefill_s"])
    tok, n = lm.tokenizer, lm.args.num_codebooks
    rounded = lambda d: {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}  # noqa: E731
    result["voice"] = {
        "reference_frames": int(ref.codes.shape[1]),
        "prefix_tokens": int(next(reversed(engine.family.prefix_cache.entries.values())).length),
        "rounds": [[round(c["prefill_s"], 3), round(w["prefill_s"], 3)] for c, w in pairs],
        "cold": rounded(cold),
        "warm": rounded(warm),
        "warm_prefill_fraction": round(warm["prefill_s"] / cold["prefill_s"], 3),
        "first_audio_saved_s": round(cold["first_audio_s"] - warm["first_audio_s"], 4),
        "prefill_saved_s": round(cold["prefill_s"] - warm["prefill_s"], 4),
    }

    # ---- prefill by column count: the whole prompt (cold), the sentence after the cached prefix as
    # this tokenizer cuts it (warm), and as many columns as a real English BPE gives it (warm_real:
    # about a token a word, plus the turn's closing tokens; the test tokenizer cuts English into 2-3
    # byte pieces). Each both as the slow model's pass alone and as the whole prefill (+ the first
    # frame's fast steps, which no prefix cache removes).
    gen = Generator(lm, compile=a.compile)
    store = PrefixCache(1 << 30)
    full = Generator(lm, prefix_cache=store)
    rounds = []
    for i in range(a.rounds + 1):  # round 0 warms every path up
        codes = engine.encode_reference(voice(a.reference_seconds, 300.0 + 7 * i), 44100, "A steady voice.").codes
        head = torch.cat([system_prompt(tok, n), reference_prompt("A steady voice.", codes, tok, n)], 1)
        prompt = torch.cat([head, chunk_prompt(SENTENCE_2, tok, n)], 1)
        cached = prefix_columns([head], tok, n)
        columns = {"cold": prompt.shape[1], "warm": prompt.shape[1] - cached, "warm_real": a.real_columns}
        prompts = {"cold": prompt, "warm": prompt, "warm_real": prompt[:, : cached + a.real_columns]}
        row = {}
        for kind in ("pass", "prefill"):
            store.clear()
            for name, p in prompts.items():
                if kind == "pass":
                    row[f"{name}_pass"] = prompt_pass(gen, p, cached, store).seconds
                else:
                    list(full.generate(p, 1, prefix=cached))
                    row[f"{name}_prefill"] = full.last_prefill.seconds
        rounds.append(row)
    rounds = rounds[1:]
    best = {k: min(r[k] for r in rounds) for k in rounds[0]}
    result["prefill_by_columns"] = {
        "columns": columns,
        "rounds": [{k: round(v, 3) for k, v in r.items()} for r in rounds],
        "best_s": {k: round(v, 4) for k, v in best.items()},
        "warm_fraction": {
            f"{name}_{kind}": round(best[f"{name}_{kind}"] / best[f"cold_{kind}"], 3)
            for name in ("warm", "warm_real")
            for kind in ("pass", "prefill")
        },
    }

    # ---- decode speed at a short and a long context, then against the bandwidth bound, in --rounds
    # rounds (frames/s: each its best round; the bound's fraction: the median round, below).
    gen.head.bias[gen.head.local[tok.im_end_id]] = float("-inf")  # every run goes its full length
    gen.set_sampling(0.7, 0.7, 1.2)
    base = torch.cat([system_prompt(tok, n), chunk_prompt("Benchmark sentence. " * 1000, tok, n)], 1)
    a.long = min(a.long, lm.args.max_seq_len - a.frames - 8)  # --tiny: a 1,024-token context
    decode_fps(gen, base[:, -a.short :], 8, dev)  # warm-up (compiles with --compile)
    if a.compile:
        decode_fps(gen, base[:, -a.long :], 8, dev)  # compiles the long context's span
    # each short run sits between two bandwidth readings: its bound uses their mean, so a round's
    # fraction compares a decode run with the bandwidth of its own moment
    per_frame = bytes_per_frame(gen)
    rounds = []
    for _ in range(a.rounds):
        before = read_bandwidth(dev)
        short = decode_fps(gen, base[:, -a.short :], a.frames, dev)
        after = read_bandwidth(dev)
        long = decode_fps(gen, base[:, -a.long :], a.frames, dev)
        bw = (before + after) / 2
        rounds.append((short, long, bw, short["frames_per_s"] / (bw / per_frame)))
    short = max((r[0] for r in rounds), key=lambda d: d["frames_per_s"])
    long = max((r[1] for r in rounds), key=lambda d: d["frames_per_s"])
    result["decode"] = {
        "rounds": [[r[0]["frames_per_s"], r[1]["frames_per_s"], round(r[2] / 1e9, 2)] for r in rounds],
        "short": short,
        "long": long,
        "long_over_short": round(long["frames_per_s"] / short["frames_per_s"], 3),
    }
    fractions = sorted(r[3] for r in rounds)
    bw = max(r[2] for r in rounds)
    result["bandwidth"] = {
        "weight_bytes_per_frame": per_frame,
        "rounds": [
            {"read_gb_per_s": round(r[2] / 1e9, 2), "frames_per_s": r[0]["frames_per_s"], "fraction": round(r[3], 3)}
            for r in rounds
        ],
        "fraction_of_bound": round(fractions[len(fractions) // 2], 3),
        "best_round_fraction": round(fractions[-1], 3),
        "best_each_fraction": round(short["frames_per_s"] / (bw / per_frame), 3),
    }
    result["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
