"""The dual-AR text2semantic transformer of Fish Speech 1.5, inference only.

A slow Llama-style transformer reads the prompt (text tokens, with the 8 codebook values of each
audio frame added into the embedding at semantic positions) and predicts the next main token; a
small fast transformer then predicts codebooks 1..N-1 of that frame, one after another, seeded by
the slow hidden state. Attribute names mirror the official state-dict keys.

OpenAudio S1-mini and Fish Audio S2-Pro run on the same classes; their differences are config
switches (`ModelArgs`): QK-norm, a head_dim that is not dim/n_head, the summed embedding divided by
sqrt(N+1) at semantic positions, a tied head (S2) and the fast model fed the post-norm state (S2).

Caches are static (allocated once in `setup_caches`) so a decode step has fixed shapes and can be
captured by torch.compile / CUDA graphs. A decode step reads only the filled part of the slow cache,
rounded up to a power of two (`key_span`): a handful of static shapes, one compiled graph each.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fish_speech.models.text2semantic.config import ModelArgs
from fish_speech.models.text2semantic.split_linear import fuse

MIN_SPAN = 256  # the smallest key span a decode step reads (then 512, 1024, ... up to the cache)


def key_span(length: int, cache_len: int) -> int:
    """How many cache keys a step whose last query sits at position `length - 1` reads: `length`
    rounded up to a power of two (at least MIN_SPAN), at most the cache. Few spans = few graphs."""
    span = MIN_SPAN
    while span < length:
        span *= 2
    return min(span, cache_len)


def additive(visible: Tensor, dtype: torch.dtype) -> Tensor:
    """A boolean attention mask as the 0 / -inf one SDPA adds to its scores: built once per step,
    it spares every layer the conversion (and is the same arithmetic)."""
    return torch.zeros(visible.shape, dtype=dtype, device=visible.device).masked_fill_(~visible, float("-inf"))


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.type_as(x) * self.weight


def rope_table(positions: int, head_dim: int, base: float) -> Tensor:
    """[positions, head_dim/2, 2] (cos, sin), rounded to bf16 like upstream whatever the model dtype."""
    # on the CPU even while a meta skeleton is built: meta arithmetic costs seconds of one-off imports
    freqs = 1.0 / (base ** (torch.arange(0, head_dim, 2, device="cpu")[: head_dim // 2].float() / head_dim))
    angles = torch.outer(torch.arange(positions, dtype=torch.float32, device="cpu"), freqs)
    return torch.stack([angles.cos(), angles.sin()], dim=-1).to(torch.bfloat16)


def rope_factors(table: Tensor) -> Tensor:
    """Rows of a rope table ([S, hd/2, 2] or [B, S, hd/2, 2]) as the complex factors `apply_rope`
    multiplies by; computed once per step, not per layer. Under torch.compile the real pairs are
    kept instead (inductor has no complex kernels; it fuses the by-hand rotation anyway)."""
    if torch.compiler.is_compiling():
        return table.float()
    return torch.view_as_complex(table.float().contiguous())


def apply_rope(x: Tensor, rope: Tensor) -> Tensor:
    """Rotate adjacent pairs of x [B, S, H, hd] by `rope_factors` (interleaved convention). The
    complex product is the same float32 arithmetic as the rotation by hand, in 4 operators, not 12."""
    per_row = rope.dim() == (3 if rope.is_complex() else 4)  # [B, S, ...]: one position per row
    if rope.is_complex():
        xs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
        t = rope.view(-1 if per_row else 1, xs.size(1), 1, xs.size(3))
        return torch.view_as_real(xs * t).flatten(3).type_as(x)
    xs = x.float().reshape(*x.shape[:-1], -1, 2)
    t = rope.view(-1 if per_row else 1, xs.size(1), 1, xs.size(3), 2)
    out = torch.stack(
        [xs[..., 0] * t[..., 0] - xs[..., 1] * t[..., 1], xs[..., 1] * t[..., 0] + xs[..., 0] * t[..., 1]], dim=-1
    )
    return out.flatten(3).type_as(x)


def cached_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
    """Attention of q [B, H, S, hd] over cache keys k, v [B, H, L, hd] with an additive mask.

    Compiled for the CPU it is written out (scores, softmax, weighted sum): inductor fuses the
    small parts, where SDPA's CPU kernel costs ~0.1 ms a call, a few percent of a decode frame
    (58 calls per 1.5 frame). Eager and CUDA keep SDPA."""
    if torch.compiler.is_compiling() and q.device.type == "cpu":
        scores = torch.matmul(q, k.transpose(-1, -2)) * (q.shape[-1] ** -0.5) + mask
        return torch.matmul(scores.float().softmax(-1).type_as(q), v)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


class KVCache(nn.Module):
    def __init__(self, batch: int, heads: int, length: int, head_dim: int, dtype, device):
        super().__init__()
        shape = (batch, heads, length, head_dim)
        self.register_buffer("k_cache", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v_cache", torch.zeros(shape, dtype=dtype, device=device), persistent=False)

    def update(self, input_pos: Tensor, k: Tensor, v: Tensor, slot: int | None = None) -> tuple[Tensor, Tensor]:
        """Write k, v [B, H, S, hd] at `input_pos`: [S] shared by every row, or [B, S] per row.

        `slot` writes (and returns) only that cache row, for a B=1 input into a batched cache."""
        kc, vc = (
            (self.k_cache, self.v_cache)
            if slot is None
            else (self.k_cache[slot : slot + 1], self.v_cache[slot : slot + 1])
        )
        if input_pos.dim() == 1 or k.shape[0] == 1:  # one position list for every row (a lone row's own)
            kc.index_copy_(2, input_pos.view(-1), k)
            vc.index_copy_(2, input_pos.view(-1), v)
        else:  # rows sit at different positions: row b writes at input_pos[b]
            rows = torch.arange(k.shape[0], device=k.device).unsqueeze(1)
            kc[rows, :, input_pos] = k.transpose(1, 2)
            vc[rows, :, input_pos] = v.transpose(1, 2)
        return kc, vc


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.n_head, self.n_kv, self.head_dim = args.n_head, args.n_local_heads, args.head_dim
        qkv = (args.n_head + 2 * args.n_local_heads) * args.head_dim
        self.wqkv = nn.Linear(args.dim, qkv, bias=args.attention_qkv_bias)
        self.wo = nn.Linear(args.n_head * args.head_dim, args.dim, bias=args.attention_o_bias)
        if args.attention_qk_norm:  # upstream uses torch's own RMSNorm here (not the class above)
            self.q_norm = nn.RMSNorm(args.head_dim, eps=args.norm_eps)
            self.k_norm = nn.RMSNorm(args.head_dim, eps=args.norm_eps)
        self.qk_norm = args.attention_qk_norm
        self.kv_cache: KVCache | None = None

    def forward(
        self,
        x: Tensor,
        rope: Tensor,
        input_pos: Tensor | None,
        mask: Tensor | None,
        slot: int | None = None,
        kv_only: bool = False,
    ) -> Tensor | None:
        """mask None: plain causal attention over x itself (prefill from position 0, or no cache).
        `kv_only`: write this input's keys/values into the cache and stop (nothing reads the output).

        With a mask [B or 1, 1, S, L'], x's rows are the cache's rows (or `slot`'s one row) and attend over
        the first L' cache keys (the filled part, rounded up; see `key_span`)."""
        b, s, _ = x.shape
        q_w, kv_w = self.n_head * self.head_dim, self.n_kv * self.head_dim
        qkv = self.wqkv(x)
        if self.qk_norm:
            q, k, v = qkv.split([q_w, kv_w, kv_w], dim=-1)
            q, k = q.view(b, s, self.n_head, self.head_dim), k.view(b, s, self.n_kv, self.head_dim)
            q, k = apply_rope(self.q_norm(q), rope), apply_rope(self.k_norm(k), rope)
        else:  # query and key heads side by side: one rotation for both
            qk = apply_rope(qkv[..., : q_w + kv_w].view(b, s, self.n_head + self.n_kv, self.head_dim), rope)
            q, k = qk.split([self.n_head, self.n_kv], dim=2)
            v = qkv[..., q_w + kv_w :]
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.view(b, s, self.n_kv, self.head_dim).transpose(1, 2)
        if self.kv_cache is not None and input_pos is not None:
            k_all, v_all = self.kv_cache.update(input_pos, k, v, slot)
            if kv_only:
                return None
            if mask is not None:  # decode: attend over the mask's span of the static cache
                k, v = k_all[:, :, : mask.shape[-1]], v_all[:, :, : mask.shape[-1]]
        groups = self.n_head // self.n_kv  # query head h reads kv head h // groups
        if mask is None:  # keys are just this input: expanding them is cheap
            k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=s > 1)
        else:
            # decode over the whole static cache: fold each kv head's query group into the
            # sequence axis so the cache is read once instead of copied `groups` times
            qg = q.reshape(b, self.n_kv, groups * s, self.head_dim)
            y = cached_attention(qg, k, v, mask if s == 1 else mask.repeat(1, 1, groups, 1))
            y = y.view(b, self.n_head, s, self.head_dim)
        return self.wo(y.transpose(1, 2).reshape(b, s, q_w))


class FeedForward(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.w1 = nn.Linear(args.dim, args.intermediate_size, bias=False)
        self.w3 = nn.Linear(args.dim, args.intermediate_size, bias=False)
        self.w2 = nn.Linear(args.intermediate_size, args.dim, bias=False)

    def fuse_gates(self, dtype: torch.dtype | None = None):
        """Run w1 and w3 as one product (CPU split layout: `split_linear.fuse`; w1 and w3 become views
        of its storage). The fused layer is kept outside the module tree, so parameters and state
        dicts are unchanged."""
        gates, self.w1, self.w3 = fuse(self.w1, self.w3, dtype)
        self.__dict__["gates"] = gates

    def products(self) -> list[nn.Linear]:
        """The linear layers `forward` runs."""
        gates = self.__dict__.get("gates")
        return [gates, self.w2] if gates is not None else [self.w1, self.w3, self.w2]

    def forward(self, x: Tensor) -> Tensor:
        gates = self.__dict__.get("gates")
        if gates is not None:
            a, b = gates(x).chunk(2, dim=-1)
            return self.w2(F.silu(a) * b)
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.attention = Attention(args)
        self.feed_forward = FeedForward(args)
        self.ffn_norm = RMSNorm(args.dim, args.norm_eps)
        self.attention_norm = RMSNorm(args.dim, args.norm_eps)

    def forward(
        self,
        x: Tensor,
        rope: Tensor,
        input_pos: Tensor | None,
        mask: Tensor | None,
        slot: int | None = None,
        kv_only: bool = False,
    ) -> Tensor:
        a = self.attention(self.attention_norm(x), rope, input_pos, mask, slot, kv_only)
        if kv_only:  # only the cache was wanted: skip wo and the feed-forward (their weights stay unread)
            return x
        h = x + a
        return h + self.feed_forward(self.ffn_norm(h))


class DualARTransformer(nn.Module):
    def __init__(self, args: ModelArgs, semantic_begin_id: int, semantic_end_id: int):
        super().__init__()
        self.args = args
        self.semantic_begin_id, self.semantic_end_id = semantic_begin_id, semantic_end_id
        n, c = args.num_codebooks, args.codebook_size
        self.embeddings = nn.Embedding(args.vocab_size, args.dim)
        self.codebook_embeddings = nn.Embedding(c * n, args.dim)
        self.layers = nn.ModuleList(Block(args) for _ in range(args.n_layer))
        self.norm = RMSNorm(args.dim, args.norm_eps)
        if not args.tie_word_embeddings:
            self.output = nn.Linear(args.dim, args.vocab_size, bias=False)
        fast = args.fast_block_args()
        self.fast_args = fast
        if args.fast_dim != args.dim:
            self.fast_project_in = nn.Linear(args.dim, args.fast_dim)  # this one has a bias
        self.fast_embeddings = nn.Embedding(c, args.fast_dim)
        self.fast_layers = nn.ModuleList(Block(fast) for _ in range(args.n_fast_layer))
        self.fast_norm = RMSNorm(args.fast_dim, args.norm_eps)
        self.fast_output = nn.Linear(args.fast_dim, c, bias=False)
        self.register_buffer("freqs_cis", rope_table(args.max_seq_len, args.head_dim, args.rope_base), persistent=False)
        self.register_buffer("fast_freqs_cis", rope_table(n, fast.head_dim, args.rope_base), persistent=False)
        self.register_buffer("codebook_offsets", torch.arange(n, device="cpu") * c, persistent=False)
        self.cache_len = 0

    def slow_products(self) -> list[list[nn.Module]]:
        """Per slow layer, the linear layers its pass runs (the CPU loader packs them for prompts)."""
        return [[b.attention.wqkv, b.attention.wo, *b.feed_forward.products()] for b in self.layers]

    # ---- caches -------------------------------------------------------------------------
    def setup_caches(self, max_batch_size: int = 1, max_seq_len: int | None = None, dtype=None) -> list[KVCache]:
        """Install static caches for `max_batch_size` rows (kept if the installed ones fit); returns them."""
        max_seq_len = max_seq_len or self.args.max_seq_len
        length = (max_seq_len + 7) // 8 * 8
        current = self.caches()
        if self.cache_len >= length and current[0] is not None and current[0].k_cache.shape[0] == max_batch_size:
            return current
        caches = self.make_caches(max_batch_size, length, dtype)
        self.use_caches(caches)
        return caches

    def make_caches(self, batch: int, max_seq_len: int, dtype=None) -> list[KVCache]:
        """New caches (slow layers, then fast layers) without installing them: several generators can
        share one model, each installing its own caches before it runs (`use_caches`)."""
        length = (max_seq_len + 7) // 8 * 8
        dtype = dtype or self.embeddings.weight.dtype
        device = self.embeddings.weight.device
        slow = [KVCache(batch, b.attention.n_kv, length, b.attention.head_dim, dtype, device) for b in self.layers]
        fast = [
            KVCache(batch, layer.attention.n_kv, self.args.num_codebooks, layer.attention.head_dim, dtype, device)
            for layer in self.fast_layers
        ]
        return slow + fast

    def caches(self) -> list:
        return [layer.attention.kv_cache for layer in [*self.layers, *self.fast_layers]]

    def use_caches(self, caches: list[KVCache]):
        for layer, cache in zip([*self.layers, *self.fast_layers], caches):
            layer.attention.kv_cache = cache
        length = caches[0].k_cache.shape[2]
        if self.cache_len != length:
            device = self.embeddings.weight.device
            self.register_buffer("key_positions", torch.arange(length, device=device), persistent=False)
            self.register_buffer(
                "fast_key_positions", torch.arange(self.args.num_codebooks, device=device), persistent=False
            )
            self.cache_len = length

    # ---- slow transformer ---------------------------------------------------------------
    def embed(self, inp: Tensor, scale: bool = True) -> Tensor:
        """inp [B, N+1, S] -> [B, S, D]; codebook rows count only at semantic positions.

        With `scale_codebook_embeddings` (S1/S2) the inference path divides the whole sum at semantic
        positions by sqrt(N+1); upstream's training-style forward does not (`scale=False`)."""
        tokens, codes = inp[:, 0], inp[:, 1:]
        x = self.embeddings(tokens)
        vq = self.codebook_embeddings(codes + self.codebook_offsets.view(1, -1, 1)).sum(1)
        semantic = (tokens >= self.semantic_begin_id) & (tokens <= self.semantic_end_id)
        x = x + vq * semantic.unsqueeze(-1).to(vq.dtype)
        if scale and self.args.scale_codebook_embeddings:
            x = torch.where(semantic.unsqueeze(-1), x / math.sqrt(self.args.num_codebooks + 1), x)
        return x

    def output_weight(self) -> Tensor:
        return self.output.weight if hasattr(self, "output") else self.embeddings.weight

    def forward_slow(
        self,
        inp: Tensor,
        input_pos: Tensor,
        full: bool,
        head: Tensor | nn.Module | None = None,
        slot: int | None = None,
        span: int = 0,
    ) -> tuple[Tensor, Tensor]:
        """Run the slow stack. `full` = prefill from position 0 (causal over the input itself).

        `input_pos` is [S], the positions of inp's S columns; for a one-column decode (inp [B, N+1, 1])
        it is [B], one position per row (the same thing when B = 1). `slot` runs a B=1 input in that
        row of a batched cache. Returns (logits of the last position [B, V], pre-norm hidden of the
        last position [B, 1, Df]; post-norm with `norm_fastlayer_input`). `head` (rows [K, D] of the
        output matrix, or a module projecting onto them) computes logits for those K ids only. `span` (not `full`): how many cache keys to read (0: the whole cache); every
        query position must lie below it.
        """
        x = self.embed(inp)
        if not full and inp.shape[-1] == 1:
            input_pos = input_pos.view(-1, 1)  # [B, 1]: per-row positions
        rope = rope_factors(self.freqs_cis[input_pos])
        mask = None
        if not full:  # [1 or B, 1, S, span]: each row sees its own keys up to its position
            keys = self.key_positions[:span] if span else self.key_positions
            mask = additive(keys <= input_pos.unsqueeze(-1), x.dtype).view(-1, 1, x.shape[1], keys.shape[0])
        for layer in self.layers:
            x = layer(x, rope, input_pos, mask, slot)
        x = x[:, -1:]
        out = self.norm(x)
        hidden = out if self.args.norm_fastlayer_input else x
        hidden = self.fast_project_in(hidden) if hasattr(self, "fast_project_in") else hidden
        if head is None:
            head = self.output if hasattr(self, "output") else self.embeddings.weight
        logits = head(out) if isinstance(head, nn.Module) else F.linear(out, head)
        return logits[:, 0], hidden

    # ---- fast transformer ---------------------------------------------------------------
    def forward_fast(self, x: Tensor, pos: int, slot: int | None = None, logits: bool = True) -> Tensor | None:
        """One fast position (x [B, 1, Df]) at codebook slot `pos`; returns codebook logits [B, C] (None
        with `logits=False`: only the cache is filled, the codebook head is not read).
        Every row is at the same codebook; `slot` runs a B=1 input in that row of a batched cache."""
        input_pos = self.fast_key_positions[pos : pos + 1]
        mask = additive(self.fast_key_positions <= pos, x.dtype).view(1, 1, 1, -1)
        rope = rope_factors(self.fast_freqs_cis[pos : pos + 1])
        last = len(self.fast_layers) - 1
        for i, layer in enumerate(self.fast_layers):  # without logits the last layer only needs its K/V
            x = layer(x, rope, input_pos, mask, slot, kv_only=not logits and i == last)
        return self.fast_output(self.fast_norm(x))[:, 0] if logits else None

    # ---- training-style forward (tests and reference only) ------------------------------
    def forward(self, inp: Tensor) -> tuple[Tensor, Tensor]:
        """Uncached forward over inp [B, N+1, S]: token logits [B, S, V], codebook logits [B, S, N, C].

        For position t the fast input is [hidden_t, E(code 0 of column t+1), ..., E(code N-2 of column t+1)].
        """
        b, _, s = inp.shape
        x = self.embed(inp, scale=False)
        rope = rope_factors(self.freqs_cis[:s])
        for layer in self.layers:
            x = layer(x, rope, None, None)
        out = self.norm(x)
        token_logits = self.output(out) if hasattr(self, "output") else F.linear(out, self.embeddings.weight)
        hidden = out if self.args.norm_fastlayer_input else x
        hidden = self.fast_project_in(hidden) if hasattr(self, "fast_project_in") else hidden
        n = self.args.num_codebooks
        nxt = F.pad(inp[:, 1:, 1:], (0, 1))  # codes of column t+1
        fast_in = torch.cat(
            [
                hidden.reshape(b * s, 1, -1),
                self.fast_embeddings(nxt[:, : n - 1].permute(0, 2, 1).reshape(b * s, n - 1)),
            ],
            1,
        )
        rope_f = rope_factors(self.fast_freqs_cis[:n])
        for layer in self.fast_layers:
            fast_in = layer(fast_in, rope_f, None, None)
        codebook_logits = self.fast_output(self.fast_norm(fast_in)).view(b, s, n, -1)
        return token_logits, codebook_logits
