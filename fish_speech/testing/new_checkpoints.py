"""Write random-weight OpenAudio S1-mini and Fish Audio S2-Pro language models in the official layouts.

    S1-mini: <root>/config.json (flat, "dual_ar")  model.pth  tokenizer.tiktoken  special_tokens.json
    S2-Pro:  <root>/config.json (nested "fish_qwen3_omni")  model.safetensors.index.json
             model-00001-of-00002.safetensors  model-00002-of-00002.safetensors
             tokenizer.json  tokenizer_config.json

Tiny by default (a few MB); `--full` writes the real S1-mini shapes (1.7 GB of bf16). The tiny
tokenizers carry the real special tokens (S1: the 15 protocol tokens + 4096 semantic tokens in
upstream order; S2: the Qwen/Fish tokens and 4096 semantic tokens, at compact ids after the 256 byte
tokens). `codec=True` adds a tiny random modded DAC `codec.pth` (`dac_checkpoint`), as in the downloads.

    python -m fish_speech.testing.new_checkpoints --family s2-pro --out checkpoints/tiny-s2
"""

from __future__ import annotations

import argparse
import json
from collections import OrderedDict
from pathlib import Path

import torch

from fish_speech.models.random_weights import write_marker
from fish_speech.models.skeleton import skeleton
from fish_speech.models.text2semantic.config import ModelArgs
from fish_speech.models.text2semantic.model import DualARTransformer
from fish_speech.models.text2semantic.omni import INDEX_FILE, omni_args, publish_keys
from fish_speech.models.text2semantic.tokenizer import S1_SPECIAL_TOKENS, FishTokenizer
from fish_speech.testing.checkpoints import tokenizer_ranks

# The 30 keys of the official S1-mini config.json.
S1_FULL_CONFIG = dict(
    attention_o_bias=False,
    attention_qk_norm=True,
    attention_qkv_bias=False,
    codebook_size=4096,
    dim=1024,
    dropout=0.0,
    fast_attention_o_bias=False,
    fast_attention_qk_norm=False,
    fast_attention_qkv_bias=False,
    fast_dim=1024,
    fast_head_dim=64,
    fast_intermediate_size=3072,
    fast_n_head=16,
    fast_n_local_heads=8,
    head_dim=128,
    initializer_range=0.03125,
    intermediate_size=3072,
    max_seq_len=8192,
    model_type="dual_ar",
    n_fast_layer=4,
    n_head=16,
    n_layer=28,
    n_local_heads=8,
    norm_eps=1e-06,
    num_codebooks=10,
    rope_base=1000000,
    scale_codebook_embeddings=True,
    tie_word_embeddings=False,
    use_gradient_checkpointing=True,
    vocab_size=155776,
)
S1_FULL_RANKS = 151643
# head_dim 32 != dim / n_head (16), as in the real S1-mini (128 != 64): the config value must be honoured.
S1_TINY_CONFIG = dict(
    S1_FULL_CONFIG,
    dim=64,
    n_head=4,
    n_local_heads=2,
    head_dim=32,
    intermediate_size=128,
    n_layer=2,
    n_fast_layer=2,
    fast_dim=64,
    fast_n_head=4,
    fast_n_local_heads=2,
    fast_head_dim=16,
    fast_intermediate_size=128,
    max_seq_len=1024,
    vocab_size=256 + len(S1_SPECIAL_TOKENS),
)

_COMMON = dict(attention_qkv_bias=False, attention_o_bias=False, dropout=0.0, use_gradient_checkpointing=True)
S2_FULL_CONFIG = dict(
    model_type="fish_qwen3_omni",
    dtype="bfloat16",
    eos_token_id=151645,
    pad_token_id=151669,
    audio_pad_token_id=151677,
    semantic_start_token_id=151678,
    semantic_end_token_id=155773,
    text_config=dict(
        _COMMON,
        model_type="fish_qwen3",
        vocab_size=155776,
        n_layer=36,
        n_head=32,
        n_local_heads=8,
        head_dim=128,
        dim=2560,
        intermediate_size=9728,
        max_seq_len=32768,
        rope_base=1000000,
        norm_eps=1e-6,
        tie_word_embeddings=True,
        attention_qk_norm=True,
        initializer_range=0.01976423537605237,
        audio_hidden_dim=5120,
        use_moe=False,
    ),
    audio_decoder_config=dict(
        _COMMON,
        model_type="fish_qwen3_audio_decoder",
        vocab_size=4096,
        num_codebooks=10,
        n_layer=4,
        n_head=32,
        n_local_heads=8,
        head_dim=128,
        dim=2560,
        text_dim=2560,
        intermediate_size=9728,
        max_seq_len=11,
        rope_base=1000000,
        norm_eps=1e-6,
        attention_qk_norm=False,
        tie_word_embeddings=False,
        initializer_range=0.01976423537605237,
    ),
)

# The tiny S2 tokenizer: 256 byte tokens, then these added tokens, then <|semantic:0..4095|>.
S2_PROTOCOL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|pad|>",
    "<|phoneme_start|>",
    "<|phoneme_end|>",
    "<|text|>",
    "<|voice|>",
    "<|interleave|>",
    "<|audio_start|>",
    "<|audio_end|>",
    "<|audio_pad|>",
]
QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_S2_TINY_VOCAB = 256 + len(S2_PROTOCOL_TOKENS) + 4096


def _s2_tiny_config() -> dict:
    base = 256 + len(S2_PROTOCOL_TOKENS)
    small = dict(n_layer=2, n_head=4, n_local_heads=2, head_dim=32, dim=64, intermediate_size=128, max_seq_len=1024)
    return dict(
        S2_FULL_CONFIG,
        eos_token_id=256 + S2_PROTOCOL_TOKENS.index("<|im_end|>"),
        pad_token_id=256 + S2_PROTOCOL_TOKENS.index("<|pad|>"),
        audio_pad_token_id=256 + S2_PROTOCOL_TOKENS.index("<|audio_pad|>"),
        semantic_start_token_id=base,
        semantic_end_token_id=base + 4095,
        text_config=dict(S2_FULL_CONFIG["text_config"], **small, vocab_size=_S2_TINY_VOCAB, initializer_range=0.125),
        audio_decoder_config=dict(
            S2_FULL_CONFIG["audio_decoder_config"], **dict(small, max_seq_len=11), text_dim=64, initializer_range=0.125
        ),
    )


S2_TINY_CONFIG = _s2_tiny_config()


def _byte_chars() -> list[str]:
    """GPT-2 byte-level alphabet: the printable character standing for each byte value."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def write_hf_tokenizer(directory: Path):
    """A byte-level Qwen-style `tokenizer.json` (no merges) with the S2 added tokens at ids 256.."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    vocab = {c: i for i, c in enumerate(_byte_chars())}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    added = S2_PROTOCOL_TOKENS + [f"<|semantic:{i}|>" for i in range(4096)]
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in added])
    tok.save(str(directory / "tokenizer.json"))
    config = dict(
        tokenizer_class="Qwen2Tokenizer",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        model_max_length=32768,
        add_prefix_space=False,
    )
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


def random_state(model: torch.nn.Module, std: float, seed: int) -> OrderedDict:
    gen = torch.Generator().manual_seed(seed)
    state = OrderedDict()
    for name, p in model.state_dict().items():
        if name.endswith("norm.weight"):
            state[name] = torch.ones(p.shape, dtype=torch.bfloat16)
        elif name.endswith(".bias"):
            state[name] = torch.zeros(p.shape, dtype=torch.bfloat16)
        else:
            state[name] = torch.empty(p.shape, dtype=torch.bfloat16).normal_(0, std, generator=gen)
    return state


def _codec(directory: Path, full: bool, seed: int):
    from fish_speech.testing.dac_checkpoint import write_dac_checkpoint

    write_dac_checkpoint(directory / "codec.pth", tiny=not full, seed=seed)


def write_s1_mini(directory: str | Path, full: bool = False, seed: int = 0, codec: bool = False) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = S1_FULL_CONFIG if full else S1_TINY_CONFIG
    (directory / "config.json").write_text(json.dumps(config, indent=4, sort_keys=True))
    ranks = tokenizer_ranks(S1_FULL_RANKS if full else 256)
    tokenizer = FishTokenizer(ranks, specials=S1_SPECIAL_TOKENS)
    tokenizer.save(directory, ranks)
    with skeleton():
        model = DualARTransformer(
            ModelArgs.from_dict(config, keep_head_dim=True), tokenizer.semantic_begin_id, tokenizer.semantic_end_id
        )
    torch.save(random_state(model, config["initializer_range"], seed), directory / "model.pth")
    if codec:
        _codec(directory, full, seed)
    write_marker(directory)
    return directory


def write_s2_pro(directory: str | Path, seed: int = 0, codec: bool = False) -> Path:
    """A tiny S2-Pro folder: two shards + index, published key names."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = S2_TINY_CONFIG
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    write_hf_tokenizer(directory)
    with skeleton():
        model = DualARTransformer(omni_args(config), config["semantic_start_token_id"], config["semantic_end_token_id"])
    state = publish_keys(random_state(model, config["text_config"]["initializer_range"], seed))
    names = sorted(state)
    shards = [names[: len(names) // 2], names[len(names) // 2 :]]
    weight_map = {}
    for i, keys in enumerate(shards, 1):
        file = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file({k: state[k].contiguous() for k in keys}, str(directory / file), metadata={"format": "pt"})
        weight_map.update({k: file for k in keys})
    total = sum(t.numel() * t.element_size() for t in state.values())
    (directory / INDEX_FILE).write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))
    if codec:
        _codec(directory, False, seed)
    write_marker(directory)
    return directory


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", choices=("s1-mini", "s2-pro"), required=True)
    ap.add_argument("--out", required=True, help="directory to write")
    ap.add_argument("--full", action="store_true", help="real S1-mini shapes (1.7 GB) instead of tiny")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--codec", action="store_true", help="also write a random modded DAC codec.pth")
    a = ap.parse_args(argv)
    if a.family == "s2-pro":
        if a.full:
            ap.error("--full is only written for s1-mini (S2-Pro would be 9 GB)")
        print(write_s2_pro(a.out, a.seed, a.codec))
    else:
        print(write_s1_mini(a.out, a.full, a.seed, a.codec))


if __name__ == "__main__":
    main()
