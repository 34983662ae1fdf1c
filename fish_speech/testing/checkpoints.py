"""Write random-weight checkpoints in exactly the official `fishaudio/fish-speech-1.5` layout.

    <root>/config.json  model.pth  tokenizer.tiktoken  special_tokens.json
    <root>/firefly-gan-vq-fsq-8x1024-21hz-generator.pth

Tiny by default (a few MB, fast on CPU) for tests and smoke runs; `--full` writes the real 1.5
shapes (1.28 GB of bf16 weights). The weights are random, so the "speech" is noise, but every file,
key, shape and dtype is what the loaders meet in the real download.

    python -m fish_speech.testing.checkpoints --out checkpoints/tiny
"""

from __future__ import annotations

import argparse
import json
from collections import OrderedDict
from itertools import product
from pathlib import Path

import torch

from fish_speech.models.random_weights import write_marker
from fish_speech.models.skeleton import skeleton
from fish_speech.models.text2semantic.config import ModelArgs
from fish_speech.models.text2semantic.model import DualARTransformer
from fish_speech.models.text2semantic.tokenizer import SPECIAL_TOKENS, FishTokenizer
from fish_speech.models.vqgan.codec import CHECKPOINT_FILE as CODEC_FILE  # noqa: E402

# The 26 keys of the official config.json; the head has padding rows past the last special token
# (102048 > 100000 ranks + 1036 specials) (share/scale_codebook_embeddings are absent there).
FULL_CONFIG = dict(
    attention_qkv_bias=False,
    codebook_size=1024,
    dim=1024,
    dropout=0.0,
    fast_attention_qkv_bias=False,
    fast_dim=1024,
    fast_head_dim=64,
    fast_intermediate_size=4096,
    fast_n_head=16,
    fast_n_local_heads=2,
    head_dim=64,
    initializer_range=0.02,
    intermediate_size=4096,
    is_reward_model=False,
    max_seq_len=8192,
    model_type="dual_ar",
    n_fast_layer=4,
    n_head=16,
    n_layer=24,
    n_local_heads=2,
    norm_eps=1e-6,
    num_codebooks=8,
    rope_base=1000000.0,
    tie_word_embeddings=False,
    use_gradient_checkpointing=True,
    vocab_size=102048,
)
# Small but structurally complete: GQA, untied head, fast_dim != dim (so fast_project_in exists).
TINY_CONFIG = dict(
    FULL_CONFIG,
    dim=64,
    n_head=4,
    n_local_heads=2,
    head_dim=16,
    intermediate_size=None,
    n_layer=2,
    n_fast_layer=2,
    fast_dim=32,
    fast_n_head=2,
    fast_n_local_heads=1,
    fast_head_dim=16,
    fast_intermediate_size=None,
    max_seq_len=1024,
    vocab_size=256 + len(SPECIAL_TOKENS),  # no padding rows
)
del TINY_CONFIG["intermediate_size"], TINY_CONFIG["fast_intermediate_size"]


def tokenizer_ranks(n_ranks: int) -> dict[bytes, int]:
    """Byte-level BPE ranks: the 256 bytes, then byte pairs, then triples, up to n_ranks entries."""
    ranks: dict[bytes, int] = {bytes([b]): b for b in range(256)}
    for size in (2, 3):
        for combo in product(range(32, 127), repeat=size):  # printable ASCII merges first
            if len(ranks) >= n_ranks:
                return ranks
            ranks[bytes(combo)] = len(ranks)
    return ranks


def write_language_model(directory: str | Path, config: dict, n_ranks: int, seed: int = 0) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if config["vocab_size"] < n_ranks + len(SPECIAL_TOKENS):
        raise ValueError(
            f"vocab_size {config['vocab_size']} cannot hold {n_ranks} ranks + {len(SPECIAL_TOKENS)} specials"
        )
    (directory / "config.json").write_text(json.dumps(config, indent=4, sort_keys=True))
    ranks = tokenizer_ranks(n_ranks)
    tokenizer = FishTokenizer(ranks)
    tokenizer.save(directory, ranks)
    with skeleton():  # shapes only: no throw-away default init of the real-size model
        model = DualARTransformer(ModelArgs.from_dict(config), tokenizer.semantic_begin_id, tokenizer.semantic_end_id)
    gen = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for name, p in model.state_dict().items():
        if name.endswith("norm.weight"):
            state[name] = torch.ones(p.shape, dtype=torch.bfloat16)
        elif name.endswith(".bias"):
            state[name] = torch.zeros(p.shape, dtype=torch.bfloat16)
        else:
            state[name] = torch.empty(p.shape, dtype=torch.bfloat16).normal_(
                0, config["initializer_range"], generator=gen
            )
    torch.save(state, directory / "model.pth")
    write_marker(directory)
    return directory


def write_checkpoints(root: str | Path, tiny: bool = True, seed: int = 0) -> tuple[Path, Path]:
    from fish_speech.testing.codec_checkpoint import write_codec_checkpoint

    root = Path(root)
    llama = write_language_model(root, TINY_CONFIG if tiny else FULL_CONFIG, 256 if tiny else 100000, seed)
    codec = root / CODEC_FILE
    write_codec_checkpoint(codec, tiny=tiny, seed=seed)
    return llama, codec


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="checkpoints/tiny", help="directory to write (default: %(default)s)")
    ap.add_argument("--full", action="store_true", help="real fish-speech-1.5 shapes (1.3 GB) instead of tiny")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    llama, codec = write_checkpoints(a.out, tiny=not a.full, seed=a.seed)
    print(f"language model: {llama}\ncodec: {codec}")


if __name__ == "__main__":
    main()
