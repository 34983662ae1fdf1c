"""Step 2 of the command line: text (+ reference text and codes) -> semantic codes `codes_N.npy`.

    python fish_speech/models/text2semantic/inference.py --text "..." \
        --prompt-text "reference words" --prompt-tokens fake.npy \
        --checkpoint-path checkpoints/fish-speech-1.5 --num-samples 2

The checkpoint folder decides the family (Fish Speech 1.5, OpenAudio S1-mini, Fish Audio S2-Pro);
sampling flags left out take that family's upstream CLI defaults (`frames.CLI_DEFAULTS`). Writes
`codes_0.npy`, `codes_1.npy`, ... (int32 [8, T] for 1.5, [10, T] for S1-mini / S2-Pro) in the
working directory or --output-dir. Without prompt pairs the voice is random.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # run as a script: import from the repo root, not this folder (whose module names would shadow)
    _here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _here]
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import numpy as np

from fish_speech.errors import FishError
from fish_speech.models.cli import ProgressLine, flag_names, load_codes, read_npy, run_cli

DEFAULT_CHECKPOINT = "checkpoints/fish-speech-1.5"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="Generate semantic codes from text with Fish Speech 1.5.")
    ap.add_argument("--text", required=True, help="text to speak")
    ap.add_argument("--prompt-text", action="extend", nargs="+", default=[], help="reference transcript(s)")
    ap.add_argument(
        "--prompt-tokens",
        action="extend",
        nargs="+",
        default=[],
        type=Path,
        help="reference codes .npy file(s), one per --prompt-text",
    )
    ap.add_argument("--num-samples", type=int, default=1)
    ap.add_argument("--max-new-tokens", type=int, default=0, help="frames per chunk; 0 = until the model stops")
    ap.add_argument("--top-p", type=float, default=None, help="default: the family's (1.5 0.7, S1 0.8, S2 0.9)")
    ap.add_argument("--top-k", type=int, default=None, help="S2-Pro only (default 30)")
    ap.add_argument("--repetition-penalty", type=float, default=None, help="1.5 / S1-mini (default 1.2 / 1.1)")
    ap.add_argument("--temperature", type=float, default=None, help="0 = greedy (default 1.5 0.7, S1 0.8, S2 1.0)")
    ap.add_argument("--checkpoint-path", type=Path, default=Path(DEFAULT_CHECKPOINT))
    ap.add_argument("--device", default=None, help="cuda, cpu, ... (default: cuda when available)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the decode step")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--half", action="store_true", help="float16 instead of bfloat16 on GPU")
    ap.add_argument("--iterative-prompt", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument(
        "--chunk-length",
        type=int,
        default=None,
        help="UTF-8 bytes per chunk (S2: per speaker batch; default 100 / 300)",
    )
    ap.add_argument("--output-dir", type=Path, default=Path("."))
    return ap


def fill_defaults(a, family: str):
    from fish_speech.models.text2semantic.frames import CLI_DEFAULTS

    for name, value in CLI_DEFAULTS[family].items():
        if getattr(a, name) is None:
            setattr(a, name, value)


def check_sampling(a):
    if not 0 < a.top_p <= 1:
        raise FishError(400, "top_p", f"must be in (0, 1], got {a.top_p}")
    if not 0 < a.repetition_penalty < 2:
        raise FishError(400, "repetition_penalty", f"must be in (0, 2), got {a.repetition_penalty}")
    if not 0 <= a.temperature < 2:
        raise FishError(400, "temperature", f"must be in [0, 2), got {a.temperature}")
    if a.top_k < 1:
        raise FishError(400, "top_k", f"must be at least 1, got {a.top_k}")
    if a.num_samples < 1:
        raise FishError(400, "num_samples", "must be at least 1")
    if len(a.prompt_text) != len(a.prompt_tokens):
        raise FishError(
            400, "prompt_tokens", f"{len(a.prompt_text)} --prompt-text but {len(a.prompt_tokens)} --prompt-tokens"
        )


def load_new_codes(path: Path) -> np.ndarray:
    """A [10, T] codes file of the modded DAC codec (S1-mini / S2-Pro)."""
    from fish_speech.models.text2semantic.prompt_s2 import check_codes

    codes = read_npy(Path(path), "prompt_tokens", 10)
    if not np.issubdtype(codes.dtype, np.integer):
        raise FishError(400, "prompt_tokens", f"{path} must hold integer codes, got {codes.dtype}")
    return check_codes(codes, 10, 4096, "prompt_tokens")


def main(argv=None) -> int:
    ap = parser()
    a = ap.parse_args(argv)

    def work():
        from fish_speech.models.random_weights import WARNING as RANDOM_WARNING
        from fish_speech.models.random_weights import is_random
        from fish_speech.models.text2semantic.detect import FISH_15, detect_family
        from fish_speech.models.text2semantic.generate import Generator
        from fish_speech.models.text2semantic.loader import load_language_model, pick_device
        from fish_speech.models.text2semantic.long_form import generate_long
        from fish_speech.models.text2semantic.sampling import seed_everything

        pick_device(a.device)  # a device that cannot be used fails before anything loads
        family = detect_family(a.checkpoint_path)
        fill_defaults(a, family)
        check_sampling(a)
        if family == FISH_15:
            refs = [(t, load_codes(p, "prompt_tokens")) for t, p in zip(a.prompt_text, a.prompt_tokens)]
        else:
            refs = [(t, load_new_codes(p)) for t, p in zip(a.prompt_text, a.prompt_tokens)]
        t0 = time.perf_counter()
        lm = load_language_model(a.checkpoint_path, device=a.device, half=a.half)
        if is_random(a.checkpoint_path):
            print(f"warning: {RANDOM_WARNING} ({a.checkpoint_path})", file=sys.stderr)
        gen = Generator(lm, compile=a.compile)
        gen.set_sampling(a.temperature, a.top_p, a.repetition_penalty, a.top_k)
        print(
            f"loaded {a.checkpoint_path} on {lm.device} ({lm.dtype}) in {time.perf_counter() - t0:.2f} s",
            file=sys.stderr,
        )
        seed_everything(a.seed)
        a.output_dir.mkdir(parents=True, exist_ok=True)
        for i in range(a.num_samples):
            t = time.perf_counter()
            bar, blocks = ProgressLine(f"sample {i}"), []
            for b in generate_long(gen, a.text, refs, a.max_new_tokens, a.chunk_length if a.iterative_prompt else 0):
                blocks.append(b.codes)
                bar.update(b.codes.shape[1], f"text chunk {b.chunk_index + 1}")
            bar.close()
            codes = np.concatenate(blocks, axis=1).astype(np.int32)
            out = a.output_dir / f"codes_{i}.npy"
            np.save(out, codes)
            dt = time.perf_counter() - t
            print(f"wrote {out} {list(codes.shape)} ({codes.shape[1] / max(dt, 1e-9):.1f} frames/s)", file=sys.stderr)

    return run_cli(work, flag_names(ap))


if __name__ == "__main__":
    sys.exit(main())
