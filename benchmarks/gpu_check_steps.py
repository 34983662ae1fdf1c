"""The step table of benchmarks/gpu_check.py and the summary it ends with.

Steps run in this order, most needed first, so a budget cut drops the least needed: environment,
CUDA-marked tests, the three-step CLI, then bench.py runs, then the engine's first-audio time.
Each step: name, cmd, timeout (seconds), optional cwd, `before` (prepares inputs), `check` (reads
the outputs back), or `skip` (why it does not run in this mode).
"""

from __future__ import annotations

from pathlib import Path

# Anchors (docs/gpu-check.md): upstream's README figures for 1.5 on an RTX 4090, and the H200's
# device-to-device copy bandwidth measured on this workplace's machines (read + write bytes).
UPSTREAM_TOKENS_PER_S = 500  # "~500 tokens/s" with --compile; one token per frame of 8 codes
UPSTREAM_RTF = 1 / 15  # "1:15" real-time factor
FRAME_RATE = 44100 / 2048  # codec frames per second of audio (21.53)
H200_COPY_BW = 4.3e12  # bytes/s, used when the env step could not measure it
MODULES = ("numpy", "tiktoken", "tokenizers", "safetensors", "soundfile", "triton", "fastapi", "uvicorn", "runpod")
REF_TEXT = "A steady hum, recorded for the reference."
TTS_TEXT = "The quick brown fox jumps over the lazy dog. Then it runs far away into the forest."


# ---- the model's bytes per frame (the bandwidth bound) ----------------------------------------------
def weight_bytes_per_frame(cfg: dict, head_rows: int = 1002, context: int = 0, elem: int = 2) -> int:
    """Bytes a batch-1 decode step must read: every slow weight once, the main head's allowed rows
    (codes + <|im_end|> + a dummy row), every fast weight once per codebook, and the KV cache."""

    def block(dim, heads, kv, hd, inter):
        return dim * (heads + 2 * kv) * hd + heads * hd * dim + 3 * dim * inter + 2 * dim

    dim, fdim = cfg["dim"], cfg["fast_dim"]
    slow = cfg["n_layer"] * block(dim, cfg["n_head"], cfg["n_local_heads"], cfg["head_dim"], cfg["intermediate_size"])
    slow += dim + head_rows * dim + (dim * fdim + fdim if dim != fdim else 0)
    fast = cfg["n_fast_layer"] * block(
        fdim, cfg["fast_n_head"], cfg["fast_n_local_heads"], cfg["fast_head_dim"], cfg["fast_intermediate_size"]
    )
    fast += fdim + fdim * cfg["codebook_size"]
    kv = 2 * cfg["n_layer"] * cfg["n_local_heads"] * cfg["head_dim"] * context
    return elem * (slow + cfg["num_codebooks"] * fast + kv)


BENCH_FRAMES = 200  # frames per timed bench run: ~1 s at upstream's compiled speed, long enough to time


def checkpoint_dir(work: Path, dry: bool) -> Path:
    return work / ("tiny" if dry else "full")


def plan(dry: bool, out: Path, work: Path, py: str, write_wav, chord) -> list[dict]:
    import numpy as np

    root = Path(__file__).resolve().parents[1]
    dev = "cpu" if dry else "cuda"
    ckpt = checkpoint_dir(work, dry)
    codec = ckpt / "firefly-gan-vq-fsq-8x1024-21hz-generator.pth"
    cli = work / "cli"
    vq = root / "fish_speech/models/vqgan/inference.py"
    t2s = root / "fish_speech/models/text2semantic/inference.py"
    bench = [py, root / "benchmarks/bench.py", "--device", dev]
    bench += ["--tiny", "--frames", "16", "--prompt-tokens", "64", "--audio-seconds", "2"] if dry else []
    bench += [] if dry else ["--frames", str(BENCH_FRAMES)]
    no_compile = "--compile on CPU compiles C++ for minutes: left to the GPU run" if dry else None

    def make_ref():
        cli.mkdir(parents=True, exist_ok=True)
        write_wav(cli / "ref.wav", chord(5.0))

    def codes_shape(path, frames=None):
        def check():
            c = np.load(path)
            assert c.ndim == 2 and c.shape[0] == 8 and c.min() >= 0 and c.max() <= 999, f"bad codes {c.shape}"
            assert frames is None or c.shape[1] == frames, f"{c.shape[1]} frames, expected {frames}"
            return list(c.shape)

        return check

    def wav_len(path, codes):
        def check():
            import soundfile as sf

            info, n = sf.info(str(path)), np.load(codes).shape[1]
            assert info.samplerate == 44100 and info.frames == 2048 * n, f"{info.frames} samples for {n} frames"
            return {"samples": info.frames, "seconds": round(info.frames / 44100, 2)}

        return check

    t2s_base = [py, t2s, "--text", "The quick brown fox jumps over the lazy dog.", "--prompt-text", "A steady hum."]
    t2s_base += ["--prompt-tokens", "fake.npy", "--checkpoint-path", ckpt, "--device", dev]
    t2s_base += ["--max-new-tokens", "16" if dry else "64"]
    t2s_base += ["--chunk-length", "0"]
    steps = [
        dict(name="env", cmd=[py, root / "benchmarks/gpu_check.py", "env"], timeout=90),
        dict(
            name="pytest_cuda",
            cmd=[py, "-m", "pytest", "tests/test_cuda.py", "-m", "cuda", "-rA", "-p", "no:cacheprovider"]
            + ["--junitxml", out / "pytest_cuda.xml"],
            timeout=240,
        ),
        dict(
            name="checkpoint",
            cmd=[py, "-m", "fish_speech.testing.checkpoints", "--out", ckpt] + ([] if dry else ["--full"]),
            timeout=150,
        ),
        dict(
            name="cli_encode",
            cmd=[py, vq, "-i", "ref.wav", "--checkpoint-path", codec, "-d", dev],
            cwd=cli,
            timeout=120,
            before=make_ref,
            check=codes_shape(cli / "fake.npy"),
        ),
        dict(
            name="cli_t2s_half",
            cmd=t2s_base + ["--half", "--output-dir", "half"],
            cwd=cli,
            timeout=150,
            check=codes_shape(cli / "half/codes_0.npy"),
        ),
        dict(
            name="cli_t2s_compile",
            cmd=t2s_base + ["--compile", "--output-dir", "compiled"],
            cwd=cli,
            timeout=240,
            check=codes_shape(cli / "compiled/codes_0.npy"),
            skip=no_compile,
        ),
        dict(
            name="cli_decode",
            cmd=[py, vq, "-i", "half/codes_0.npy", "-o", "decoded.wav", "--checkpoint-path", codec, "-d", dev],
            cwd=cli,
            timeout=120,
            check=wav_len(cli / "decoded.wav", cli / "half/codes_0.npy"),
        ),
        dict(name="bench_eager_b16", cmd=bench + ["--batch", "16"], timeout=180),
        dict(name="bench_compile_b4", cmd=bench + ["--compile", "--batch", "4"], timeout=300, skip=no_compile),
        dict(name="bench_half", cmd=bench + ["--half"], timeout=150),
        dict(
            name="engine",
            cmd=[py, root / "benchmarks/gpu_check.py", "engine", "--checkpoint", ckpt, "--device", dev]
            + (["--frames", "24"] if dry else ["--compile", "--frames", str(BENCH_FRAMES)]),
            timeout=240,
        ),
        dict(name="bench_compile_b16", cmd=bench + ["--compile", "--batch", "16"], timeout=240, skip=no_compile),
        dict(name="bench_compile_b1", cmd=bench + ["--compile", "--batch", "1"], timeout=240, skip=no_compile),
    ]
    if dry:
        for s in steps:  # a dry run proves the plumbing; it must not wait on a slow shared CPU
            s["timeout"] = min(s["timeout"], 240)
    return steps


def summarize(report: dict, config_path: Path) -> dict:
    """Frames/s per run against upstream's anchors and the H200 bandwidth bound of the model whose
    config.json the checkpoint step wrote (read back, so a broken package import cannot stop this)."""
    import json

    if not config_path.is_file():
        return {"error": f"no {config_path}: the checkpoint step did not run, so no bound"}
    cfg = json.loads(config_path.read_text())
    try:  # the project's reading of the config fills defaults (a tiny config leaves sizes unset)
        import dataclasses

        from fish_speech.models.text2semantic.config import ModelArgs

        cfg = dataclasses.asdict(ModelArgs.from_dict(cfg))
    except Exception as e:  # the full 1.5 config.json names every size itself
        s_err = f"{type(e).__name__}: {e}"
    else:
        s_err = None
    steps = report["steps"]
    env = steps.get("env", {}).get("result", {})
    bw = env.get("copy_bw_bytes_per_s") or H200_COPY_BW
    s = {"model": f"{cfg['n_layer']}+{cfg['n_fast_layer']} layers, dim {cfg['dim']} ({config_path.parent.name})"}
    if s_err:
        s["config_note"] = f"read raw: {s_err}"
    s["copy_bw_tb_per_s"] = round(bw / 1e12, 2)
    s["bw_measured"] = "copy_bw_bytes_per_s" in env
    s["anchor_frames_per_s"] = {"upstream_500_tokens_per_s": UPSTREAM_TOKENS_PER_S}
    s["anchor_frames_per_s"]["upstream_rtf_1_15"] = round(FRAME_RATE / UPSTREAM_RTF, 1)
    per_frame = weight_bytes_per_frame(cfg, context=512 + BENCH_FRAMES // 2)
    bound = bw / per_frame
    s["bytes_per_frame_gb"] = round(per_frame / 1e9, 3)
    s["bound_frames_per_s"] = round(bound, 1)
    s["runs"] = {}
    for name, r in steps.items():
        res = r.get("result") or {}
        if not name.startswith("bench_") or "frames_per_s" not in res:
            continue
        row = {k: res.get(k) for k in ("dtype", "compile", "frames_per_s", "generate_rtf", "warmup_s", "lm_load_s")}
        row.update({k: res.get(k) for k in ("codec_encode_rtf", "codec_decode_rtf", "peak_gpu_mem_gb")})
        elem = 4 if res.get("dtype") == "float32" else 2
        b1 = bw / weight_bytes_per_frame(cfg, context=512 + BENCH_FRAMES // 2, elem=elem)
        row["fraction_of_bound"] = round(res["frames_per_s"] / b1, 3)
        row["vs_upstream_323"] = round(res["frames_per_s"] / (FRAME_RATE / UPSTREAM_RTF), 2)
        if res.get("batch"):
            # one step reads the weights once for all B rows: the aggregate bound is B times higher
            row.update(batch=res["batch"], batch_frames_per_s=res["batch_frames_per_s"])
            row["batch_fraction_of_bound"] = round(res["batch_frames_per_s"] / (b1 * res["batch"]), 3)
        s["runs"][name] = row
    eng = steps.get("engine", {}).get("result")
    if eng:
        s["engine"] = eng
    tests = steps.get("pytest_cuda", {})
    s["pytest_cuda"] = tests.get("status")
    return s
