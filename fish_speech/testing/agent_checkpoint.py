"""Write a tiny random-weight checkpoint in the `fishaudio/fish-agent-v0.1-3b` layout.

    <dir>/config.json  model.pth  tokenizer.json  tokenizer_config.json  vocab.json  merges.txt
         special_tokens_map.json  added_tokens.json  README.md  RANDOM_WEIGHTS (marker)

The config has the agent's structure (tied embeddings, qkv bias on the slow layers only,
fast_dim != dim so `fast_project_in` exists, 8 x 1024 codebooks) at toy sizes. The tokenizer is a
Qwen2-style byte-level BPE trained in code on a small built-in corpus, with the agent's special
tokens appended, so the files are what `tokenizers`/`transformers` read in the real download.
The random weights are biased (`draw_reply`) so that a turn says a few words, then speaks, then
ends: a local agent turn returns text and audio, as with the real model.

    python -m fish_speech.testing.agent_checkpoint --out checkpoints/tiny-agent
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

# config.json of fishaudio/fish-agent-v0.1-3b (values from the model card / spec).
FULL_AGENT_CONFIG = dict(
    model_type="dual_ar",
    vocab_size=151936,
    n_layer=36,
    n_head=16,
    n_local_heads=2,
    dim=2048,
    head_dim=128,
    intermediate_size=11008,
    attention_qkv_bias=True,
    rope_base=1000000.0,
    norm_eps=1e-6,
    tie_word_embeddings=True,
    max_seq_len=8192,
    codebook_size=1024,
    num_codebooks=8,
    share_codebook_embeddings=True,
    n_fast_layer=4,
    fast_dim=1024,
    fast_n_head=16,
    fast_n_local_heads=2,
    fast_head_dim=64,
    fast_intermediate_size=4096,
    fast_attention_qkv_bias=False,
    is_reward_model=False,
)
TINY_AGENT_CONFIG = dict(
    FULL_AGENT_CONFIG,
    n_layer=2,
    n_head=4,
    n_local_heads=2,
    dim=64,
    head_dim=16,
    intermediate_size=128,
    max_seq_len=1024,
    n_fast_layer=1,
    fast_dim=32,
    fast_n_head=2,
    fast_n_local_heads=1,
    fast_head_dim=16,
    fast_intermediate_size=64,
)
# Qwen2's pre-tokenizer split (every digit alone, words with one leading non-letter, ...).
SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
AGENT_SPECIALS = ["<|semantic|>", "<|mel|>", "<|phoneme_start|>", "<|phoneme_end|>"]
CORPUS = [
    "system\nuser\nassistant\n",
    "You are a helpful voice assistant. Answer briefly and kindly.",
    "Hello there! How are you today? I am fine, thank you.",
    "What is the weather like? It is sunny and warm, with a light breeze.",
    "Tell me a story about a fish who learned to sing in the deep blue sea.",
    "The quick brown fox jumps over the lazy dog. 0123456789",
    "Question: what did I say?\n\nAnswer: you said hello.\n",
    "Please speak in the voice that follows. Thanks a lot, goodbye!",
]


def build_tokenizer(vocab_size: int = 400):
    """A deterministic Qwen2-like byte-level BPE tokenizer (`tokenizers.Tokenizer`)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN_SPECIALS + AGENT_SPECIALS])
    return tok


def write_tokenizer_files(tok, directory: Path):
    tok.save(str(directory / "tokenizer.json"))
    tok.model.save(str(directory))  # vocab.json + merges.txt, as in the HF download
    added = {t: tok.token_to_id(t) for t in QWEN_SPECIALS + AGENT_SPECIALS}
    (directory / "added_tokens.json").write_text(json.dumps(added, indent=2))
    (directory / "special_tokens_map.json").write_text(
        json.dumps(
            {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "additional_special_tokens": AGENT_SPECIALS},
            indent=2,
        )
    )
    config = {
        "tokenizer_class": "Qwen2Tokenizer",
        "model_max_length": 32768,
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "unk_token": None,
        "errors": "replace",
        "clean_up_tokenization_spaces": False,
        "split_special_tokens": False,
        "additional_special_tokens": AGENT_SPECIALS,
        "added_tokens_decoder": {
            str(i): {
                "content": t,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for t, i in added.items()
        },
    }
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


REPLY_TEXT = "Hello there!"  # what the tiny agent says before it speaks
STOP_CODES = 25  # codebook-0 values (of 1000) that end a speech run: ~40 frames (~2 s) on average


def draw_reply(state: dict, config: dict, tok) -> None:
    """Bias the random weights (in place) so a turn says REPLY_TEXT, then speaks, then ends its turn.

    A random tied-embedding model repeats its last token (logits ~ E[cur] . E[j]). Here the chain
    tokens (the header's last token, the reply's words, `<|semantic|>`) get orthogonal embeddings,
    and hidden units of the last slow layer's MLP map each chain direction onto the next one, so
    near-greedy sampling walks the chain; `<|semantic|>` then repeats (speech) until codebook 0
    draws one of the first STOP_CODES values, whose embedding rows point (through one more unit)
    at `<|im_end|>`. Shapes and file layout are untouched."""
    dim, last = config["dim"], config["n_layer"] - 1
    start = tok.encode("assistant\n", add_special_tokens=False).ids[-1]
    sem, end = tok.token_to_id("<|semantic|>"), tok.token_to_id("<|im_end|>")
    chain = [start]
    for i in tok.encode(REPLY_TEXT, add_special_tokens=False).ids:
        if i not in chain:
            chain.append(i)
    chain.append(sem)
    g = torch.Generator().manual_seed(1234)
    d = torch.linalg.qr(torch.randn(dim, len(chain) + 2, generator=g))[0].T  # orthonormal rows
    d_end, d_stop = d[len(chain)], d[len(chain) + 1]
    size = 2.0  # embedding norm of chain tokens (random rows are ~0.16)
    emb = state["embeddings.weight"].float()
    for i, t in enumerate(chain):
        emb[t] = size * d[i]
    emb[end] = size * d_end
    state["embeddings.weight"] = emb
    w1, w3, w2 = (state[f"layers.{last}.feed_forward.{w}.weight"].float() for w in ("w1", "w3", "w2"))
    # unit u: silu(4 x.d_src) * (x.d_src) is large only when x (RMS-normed, |x| = sqrt(dim)) points along d_src
    links = [(d[i], d[i + 1]) for i in range(len(chain) - 1)] + [(d_stop, d_end)]
    for u, (src, dst) in enumerate(links):
        w1[u], w3[u] = 4 * src, src
        w2[:, u] = 3 * size * dst / (4 * dim)
    for name, w in (("w1", w1), ("w3", w3), ("w2", w2)):
        state[f"layers.{last}.feed_forward.{name}.weight"] = w
    cb = state["codebook_embeddings.weight"].float()
    cb[1 : 1 + STOP_CODES] = size * d_stop  # codebook 0, shifted values 1..STOP_CODES
    state["codebook_embeddings.weight"] = cb


def write_agent_checkpoint(directory: str | Path, seed: int = 0, config: dict | None = None) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    write_tokenizer_files(tok, directory)
    n_tokens = tok.get_vocab_size(with_added_tokens=True)
    config = dict(config or TINY_AGENT_CONFIG, vocab_size=(n_tokens + 63) // 64 * 64)  # padded rows, like Qwen
    (directory / "config.json").write_text(json.dumps(config, indent=4, sort_keys=True))
    semantic = tok.token_to_id("<|semantic|>")
    torch.manual_seed(seed)
    with skeleton():
        model = DualARTransformer(ModelArgs.from_dict(config), semantic, semantic)
    state = OrderedDict()
    for name, p in model.state_dict().items():
        if name.endswith("norm.weight"):
            t = torch.ones(p.shape)
        elif name.endswith(".bias"):
            t = torch.zeros(p.shape)
        else:
            t = torch.randn(p.shape) * config.get("initializer_range", 0.02)
        state[name] = t
    draw_reply(state, config, tok)
    torch.save(OrderedDict((k, v.to(torch.bfloat16)) for k, v in state.items()), directory / "model.pth")
    (directory / "README.md").write_text(
        "Random-weight stand-in for fishaudio/fish-agent-v0.1-3b (same file layout, toy sizes).\n"
        "The real weights are CC-BY-NC-SA-4.0 (non-commercial).\n"
    )
    write_marker(directory)
    return directory


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="checkpoints/tiny-agent", help="directory to write (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    print(write_agent_checkpoint(a.out, a.seed))


if __name__ == "__main__":
    main()
