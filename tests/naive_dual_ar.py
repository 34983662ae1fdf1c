"""A naive float64 reference of the dual-AR text2semantic model and its greedy decode, written from
shared/spec/text2semantic.md (sections 2, 3.3, 5.2, 5.3) for the tests: no KV cache, no batching,
plain loops over layers and heads, the whole sequence recomputed for every frame.

It reads `config.json`, `tokenizer.tiktoken` and `model.pth` itself (json, torch.load), so nothing
of the code under test is shared with it except the file layout.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

WINDOW = 16  # spec 5.3: repetition-penalty history, in frames
VALID_CODES = 1000  # README: main token and codebooks limited to the codec's 8*5*5*5 ids


class NaiveDualAR:
    def __init__(self, directory: str | Path):
        directory = Path(directory)
        self.cfg = cfg = json.loads((directory / "config.json").read_text())
        lines = [ln for ln in (directory / "tokenizer.tiktoken").read_text().splitlines() if ln.strip()]
        n_ranks = len(lines)  # spec 3.3: special id = number of ranks + list index
        self.im_end_id = n_ranks + 4
        self.semantic_begin = n_ranks + 12
        self.semantic_end = self.semantic_begin + 1023
        state = torch.load(directory / "model.pth", map_location="cpu", weights_only=True)
        self.w = {k: v.to(torch.float64) for k, v in state.items()}
        self.n = cfg["num_codebooks"]
        self.c = cfg["codebook_size"]
        self.eps = cfg["norm_eps"]
        dim, heads = cfg["dim"], cfg["n_head"]
        self.slow = dict(heads=heads, kv=cfg["n_local_heads"], hd=dim // heads)
        fdim = cfg.get("fast_dim") or dim
        fheads = cfg.get("fast_n_head") or heads
        self.fast = dict(heads=fheads, kv=cfg.get("fast_n_local_heads") or cfg["n_local_heads"], hd=fdim // fheads)

    # ---- pieces -------------------------------------------------------------------------
    def rms(self, x, weight):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + self.eps) * weight

    def rope(self, x, hd):
        """Interleaved pairs of x [S, hd] at positions 0..S-1 rotated by (cos, sin) of
        p / base^(2j/hd), the table computed in float32 and rounded to bf16."""
        base = self.cfg["rope_base"]
        freqs = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))
        angles = torch.arange(x.shape[0], dtype=torch.float32)[:, None] * freqs[None, :]
        cos = angles.cos().to(torch.bfloat16).to(torch.float64)
        sin = angles.sin().to(torch.bfloat16).to(torch.float64)
        a, b = x[:, 0::2], x[:, 1::2]
        out = torch.empty_like(x)
        out[:, 0::2] = a * cos - b * sin
        out[:, 1::2] = b * cos + a * sin
        return out

    def block(self, x, prefix, shape):
        w, heads, kv, hd = self.w, shape["heads"], shape["kv"], shape["hd"]
        s = x.shape[0]
        h = self.rms(x, w[f"{prefix}.attention_norm.weight"])
        qkv = h @ w[f"{prefix}.attention.wqkv.weight"].T
        if f"{prefix}.attention.wqkv.bias" in w:
            qkv = qkv + w[f"{prefix}.attention.wqkv.bias"]
        q, k, v = qkv.split([heads * hd, kv * hd, kv * hd], dim=-1)
        outs = []
        for head in range(heads):
            g = head // (heads // kv)  # query head h reads kv head h // group
            qh = self.rope(q[:, head * hd : (head + 1) * hd], hd)
            kh = self.rope(k[:, g * hd : (g + 1) * hd], hd)
            vh = v[:, g * hd : (g + 1) * hd]
            scores = (qh @ kh.T) / math.sqrt(hd)
            future = torch.ones(s, s, dtype=torch.bool).triu(1)  # causal: position i sees keys 0..i
            outs.append(torch.softmax(scores.masked_fill(future, float("-inf")), -1) @ vh)
        x = x + torch.cat(outs, -1) @ w[f"{prefix}.attention.wo.weight"].T
        h = self.rms(x, w[f"{prefix}.ffn_norm.weight"])
        ff = torch.nn.functional.silu(h @ w[f"{prefix}.feed_forward.w1.weight"].T) * (
            h @ w[f"{prefix}.feed_forward.w3.weight"].T
        )
        return x + ff @ w[f"{prefix}.feed_forward.w2.weight"].T

    # ---- the two transformers -----------------------------------------------------------
    def slow_forward(self, inp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """inp [N+1, S] -> (main logits of the last position [V], its final-norm output [D], and the
        pre-norm hidden state projected for the fast transformer [Df])."""
        w = self.w
        rows = []
        for t in range(inp.shape[1]):
            tok = int(inp[0, t])
            e = w["embeddings.weight"][tok].clone()
            if self.semantic_begin <= tok <= self.semantic_end:
                for i in range(self.n):
                    e += w["codebook_embeddings.weight"][int(inp[i + 1, t]) + i * self.c]
            rows.append(e)
        x = torch.stack(rows)
        for i in range(self.cfg["n_layer"]):
            x = self.block(x, f"layers.{i}", self.slow)
        last = x[-1]
        normed = self.rms(last, w["norm.weight"])
        head = w["embeddings.weight"] if self.cfg["tie_word_embeddings"] else w["output.weight"]
        hidden = last
        if "fast_project_in.weight" in w:
            hidden = last @ w["fast_project_in.weight"].T + w["fast_project_in.bias"]
        return head @ normed, normed, hidden

    def fast_logits(self, hidden: torch.Tensor, codes: list[int]) -> torch.Tensor:
        """Logits of codebook len(codes) from [hidden, E(codes[0]), ..., E(codes[-1])]."""
        w = self.w
        x = torch.stack([hidden] + [w["fast_embeddings.weight"][c] for c in codes])
        for j in range(self.cfg["n_fast_layer"]):
            x = self.block(x, f"fast_layers.{j}", self.fast)
        return w["fast_output.weight"] @ self.rms(x[-1], w["fast_norm.weight"])


def penalise(logits: torch.Tensor, history: list[int], penalty: float) -> torch.Tensor:
    """Spec 5.3: each distinct id in the history: s/penalty if s >= 0, s*penalty if s < 0."""
    out = logits.clone()
    for i in set(history):
        if 0 <= i < len(out):
            out[i] = out[i] * penalty if out[i] < 0 else out[i] / penalty
    return out


def greedy_decode(model: NaiveDualAR, prompt: torch.Tensor, frames: int, penalty: float):
    """Greedy frames (temperature 0) with the 16-frame repetition window of spec 5.3.

    Main token: argmax over <|semantic:0..999|> and <|im_end|> of the penalised logits; codebooks:
    argmax over 0..999. The prefill frame is in no window; frames 1.. enter it; until 16 frames are
    in it the unfilled columns count as zeros. Stops after an <|im_end|> frame (prefill included).
    Returns (frames as [N+1] lists, final-norm output of each frame's slow step, the penalised main
    logits of each frame).
    """
    allowed = list(range(model.semantic_begin, model.semantic_begin + VALID_CODES)) + [model.im_end_id]
    seq = prompt.to(torch.long).clone()
    out, normed_states, main_scores = [], [], []
    for j in range(frames):
        logits, normed, hidden = model.slow_forward(seq)
        normed_states.append(normed)
        window = out[1:][-WINDOW:]
        window = [[0] * (model.n + 1)] * (WINDOW - len(window)) + window if j > 0 else None
        main_logits = logits if window is None else penalise(logits, [f[0] for f in window], penalty)
        main_scores.append(main_logits)
        main = max(allowed, key=lambda i: float(main_logits[i]))
        codes = [max(main - model.semantic_begin, 0)]
        for k in range(1, model.n):
            cl = model.fast_logits(hidden, codes)[:VALID_CODES]
            if window is not None:
                cl = penalise(cl, [f[k + 1] for f in window], penalty)
            codes.append(int(cl.argmax()))
        frame = [main, *codes]
        out.append(frame)
        if main == model.im_end_id:
            break
        seq = torch.cat([seq, torch.tensor(frame, dtype=torch.long).view(-1, 1)], 1)
    return out, normed_states, main_scores


def write_spread_checkpoint(directory, seed: int = 0):
    """The tiny official layout with wider weights, non-unit norms and a non-zero fast_project_in
    bias, so every weight shapes the logits and near-ties are rare."""
    from fish_speech.testing.checkpoints import TINY_CONFIG, write_language_model

    directory = write_language_model(directory, dict(TINY_CONFIG, initializer_range=0.15, max_seq_len=128), 256, seed)
    state = torch.load(directory / "model.pth", weights_only=True)
    gen = torch.Generator().manual_seed(seed + 1)
    for name, value in state.items():
        if name.endswith("norm.weight") or name.endswith(".bias"):
            base = 1.0 if name.endswith("norm.weight") else 0.0
            state[name] = (base + 0.3 * torch.randn(value.shape, generator=gen)).to(torch.bfloat16)
    torch.save(state, directory / "model.pth")
    return directory


def hand_prompt(naive: NaiveDualAR, length: int = 14, seed: int = 3) -> torch.Tensor:
    """[N+1, T]: text ids, specials, and a few semantic tokens carrying codebook rows."""
    gen = torch.Generator().manual_seed(seed)
    prompt = torch.zeros(naive.n + 1, length, dtype=torch.int32)
    prompt[0] = torch.randint(0, 256, (length,), generator=gen)
    prompt[0, 0] = naive.im_end_id - 1  # <|im_start|>
    for t in (5, 6, 7, 8):
        codes = torch.randint(0, 1000, (naive.n,), generator=gen)
        prompt[0, t] = naive.semantic_begin + codes[0]
        prompt[1:, t] = codes
    prompt[0, -1] = naive.im_end_id + 6  # <|voice|>
    return prompt
