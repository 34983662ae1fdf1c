"""Semantic-token generation: one dual-AR frame per step, streamed out in blocks.

The decode step is a pure function of tensors (previous frame, position, history window, sampling
knobs as 0-d tensors), so `torch.compile` can capture it once; the host only syncs every
`sync_every` frames to look for `<|im_end|>` and hand frames on. Output codes are every generated
semantic frame in order, without the end-of-turn frame (v1.5.1 dropped the first and kept the last;
we don't copy that).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from fish_speech.errors import FishError
from fish_speech.models.text2semantic.detect import FISH_15
from fish_speech.models.text2semantic.loader import LanguageModel
from fish_speech.models.text2semantic.model import key_span
from fish_speech.models.text2semantic.prefix import Prefill, PrefixCache, prefill
from fish_speech.models.text2semantic.sampling import sample, seed_everything
from fish_speech.models.text2semantic.split_linear import linear_of

WINDOW = 16  # repetition-penalty history, in frames
VALID_CODES = 1000  # the codec's FSQ has 8*5*5*5 ids; the LM could name 1024
WAIT = object()  # what a batch slot yields while the batch has yet to compute its next block


class MainHead:
    """The only ids the main token may take: codec-valid semantic tokens and `<|im_end|>`.

    Computing logits for these ~1000 rows instead of the whole vocabulary (102048 rows for 1.5)
    skips a sixth of the slow model's weight reads per frame and makes sorting for top-p cheap;
    since every other id would get probability 0 anyway, sampling is unchanged. Row K is a dummy
    (zero weights, bias -inf) that history ids outside the allowed set map to.
    """

    def __init__(self, model, allowed: Tensor):
        w = model.output_weight()
        self.ids = allowed.to(w.device)
        # [K+1, D]; the decode step calls `linear` (split_linear.py's layout on the CPU), and `weight` is its view
        self.linear = linear_of(torch.cat([w[self.ids], torch.zeros_like(w[:1])]))
        self.weight = self.linear.weight
        self.local = torch.full((w.shape[0],), len(allowed), dtype=torch.long, device=w.device)
        self.local[self.ids] = torch.arange(len(allowed), device=w.device)
        self.bias = torch.zeros(len(allowed) + 1, dtype=w.dtype, device=w.device)
        self.bias[-1] = float("-inf")


def sampling_tables(lm: LanguageModel) -> tuple[MainHead, Tensor]:
    """The main-token head and the codebook bias (0 for codec-valid codes, -inf for the rest)."""
    args, tok = lm.args, lm.tokenizer
    valid = min(VALID_CODES, args.codebook_size)
    head = MainHead(
        lm.model, torch.tensor(list(range(tok.semantic_begin_id, tok.semantic_begin_id + valid)) + [tok.im_end_id])
    )
    code_bias = torch.full((args.codebook_size,), float("-inf"), device=lm.device, dtype=lm.dtype)
    code_bias[:valid] = 0
    return head, code_bias


def dual_ar_frame(
    model,
    inp: Tensor,
    input_pos: Tensor,
    full: bool,
    knobs: tuple,
    window: Tensor | None,
    head: MainHead,
    code_bias: Tensor,
    main_bias: Tensor | None = None,
    noise: tuple[Tensor, Tensor] | None = None,
    slot: int | None = None,
    span: int = 0,
) -> Tensor:
    """One frame: slow step -> main token -> fast steps for codebooks 1..N-1. Returns [B, N+1] int32.

    Batched use (`BatchGenerator`): knobs [B], `main_bias` [B, K+1], `noise` = (main [B, K+1],
    codes [B, N-1, C]) drawn per row beforehand, `slot` = the cache row of a B=1 prefill. `span`: the
    slow-cache keys a cached step reads (`model.key_span`; 0 = all)."""
    temperature, top_p, penalty = knobs[:3]  # (a 4th knob, top_k, is not used by 1.5)
    main_bias = head.bias if main_bias is None else main_bias
    logits, hidden = model.forward_slow(inp, input_pos, full, head.linear, slot, span)
    history = None if window is None else head.local[window[:, 0]]
    drawn = sample(logits, temperature, top_p, penalty, history, main_bias, None if noise is None else noise[0])
    main = head.ids[drawn.long()].to(torch.int32)
    code = (main - model.semantic_begin_id).clamp(min=0)
    codes = [main, code]
    model.forward_fast(hidden, 0, slot, logits=False)  # fills fast cache slot 0 with the slow hidden state
    for k in range(1, model.args.num_codebooks):
        logits = model.forward_fast(model.fast_embeddings(code).unsqueeze(1), k, slot)
        code = sample(
            logits,
            temperature,
            top_p,
            penalty,
            None if window is None else window[:, k + 1],
            code_bias,
            None if noise is None else noise[1][:, k - 1],
        )
        codes.append(code)
    return torch.stack(codes, dim=1).to(torch.int32)


def family_step(
    rule, model, frame: Tensor, input_pos: Tensor, knobs: tuple, window: Tensor, tables, ring: Tensor, span: int = 0
):
    """The decode step of any family: one frame [1, N+1] at `input_pos` -> the next, reading `span` cache keys."""
    return rule.frame(model, frame.unsqueeze(-1), input_pos, False, knobs, window, tables, ring, span)


def compile_step(fn, device: torch.device):
    """torch.compile a decode step: CUDA graphs on GPU (`reduce-overhead`), a C++ wrapper on the CPU.
    Knobs and biases are tensor arguments, so changing them never recompiles; the key span is a plain
    int and static (`dynamic=False`): one graph per span (`model.key_span`: a handful), never one per
    position."""
    import torch._dynamo.config as dynamo
    import torch._inductor.config as inductor

    inductor.fx_graph_cache = True  # later starts reuse the compiled kernels (minutes on a CPU)
    if device.type == "cuda":
        inductor.coordinate_descent_tuning = True
        inductor.triton.unique_kernel_names = True

    # one graph per span: up to 8 for a 32,768-slot cache (S2-Pro), 6 for 8,192; keep room above that
    dynamo.recompile_limit = max(dynamo.recompile_limit, 16)
    if device.type == "cuda":
        return torch.compile(fn, fullgraph=True, dynamic=False, mode="reduce-overhead", backend="inductor")
    # CPU: the graph's wrapper in C++ instead of Python (a decode frame calls ~1,000 kernels and
    # products: ~10 % faster decode on the 1.5-size model; the first compile takes minutes longer)
    return torch.compile(fn, fullgraph=True, dynamic=False, backend="inductor", options={"cpp_wrapper": True})


class Generator:
    """Owns the caches, sampling tables and the (optionally compiled) decode step of one model; the
    family's `FrameRule` (frames.py) says how one frame is computed. `prefix_cache` (shared by every
    generator of the model) keeps prompt heads' K/V; `last_prefill` says what the last prefill did."""

    def __init__(self, lm: LanguageModel, compile: bool = False, prefix_cache: PrefixCache | None = None):
        from fish_speech.models.text2semantic.frames import RULES

        self.lm, self.model = lm, lm.model
        args, dev = lm.args, lm.device
        self.n = args.num_codebooks
        self.caches = self.model.setup_caches(1, args.max_seq_len)
        self.rule = RULES[lm.family]
        self.tables = self.rule.tables(lm)
        self.head = next((t for t in self.tables if isinstance(t, MainHead)), None)
        self.code_bias = self.tables[1] if lm.family == FISH_15 else None  # 1.5: (MainHead, code bias)
        self.window = torch.zeros(1, self.n + 1, self.rule.window, dtype=torch.long, device=dev)
        self.ring = torch.zeros(1, dtype=torch.long, device=dev)  # the window column the next step overwrites
        # temperature, top_p, repetition_penalty, top_k
        self.knobs = tuple(torch.tensor(v, device=dev, dtype=torch.float32) for v in (0.7, 0.7, 1.2, 30))
        self.pos = torch.zeros(1, dtype=torch.long, device=dev)
        step = functools.partial(family_step, self.rule)
        self.step = compile_step(step, dev) if compile else step
        self.cuda_graphs = compile and dev.type == "cuda"
        self.prefix_cache = prefix_cache
        self.last_prefill = Prefill()

    def seed(self, seed: int | None):
        """Seed the global RNG this generator draws from (None: keep drawing)."""
        seed_everything(seed)

    def set_sampling(self, temperature: float, top_p: float, repetition_penalty: float, top_k: int | None = None):
        values = (temperature, top_p, repetition_penalty, 30 if top_k is None else top_k)
        for t, v in zip(self.knobs, values):
            t.fill_(v)

    @torch.inference_mode()
    def generate(
        self, prompt: Tensor, max_new_tokens: int = 0, sync_every: int = 8, prefix: int = 0
    ) -> Iterator[Tensor]:
        """Yield blocks of generated frames ([N+1, k] int32 on CPU) until `<|im_end|>` or the budget.

        `prefix`: leading prompt columns shared by other requests (served from the prefix cache).
        Afterwards `self.end_frame` holds the `<|im_end|>` frame ([N+1, 1]) if the model stopped, else None.
        """
        model = self.model
        t = prompt.shape[1]
        budget = frame_budget(t, self.lm.args.max_seq_len, max_new_tokens)
        self.end_frame = None
        model.use_caches(self.caches)  # the model may have served a batch since
        self.window.zero_()
        self.ring.zero_()
        width, cache_len = self.window.shape[-1], model.cache_len

        def first(inp, input_pos, full, span):
            return self.rule.frame(model, inp, input_pos, full, self.knobs, None, self.tables, None, span)

        frame = prefill(model, prompt, prefix, self.prefix_cache, first, record=self.last_prefill)
        self.pos.fill_(t)

        def step(i: int) -> Tensor:
            nonlocal frame
            if self.cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()
            # clone: under CUDA graphs the output buffer is overwritten by the next replay
            span = key_span(t + i, cache_len)  # frame i reads keys 0 .. t+i-1
            frame = self.step(model, frame, self.pos, self.knobs, self.window, self.tables, self.ring, span).clone()
            self.window[:, :, (i - 1) % width] = frame[0]
            self.ring.fill_(i % width)
            self.pos += 1
            return frame[0]

        loop = frame_blocks(frame[0], step, budget, sync_every, (self.lm.tokenizer.im_end_id,))
        for block, end in loop:
            if end is not None:
                self.end_frame = end
            if block.shape[1]:
                yield block
                model.use_caches(self.caches)


def frame_budget(prompt_length: int, max_seq_len: int, max_new_tokens: int, field: str = "text") -> int:
    """How many frames a prompt may generate: the room left in the context, capped by max_new_tokens (0 = no cap)."""
    room = max_seq_len - prompt_length
    if room < 1:
        raise FishError(413, field, f"prompt is {prompt_length} tokens, the model's context is {max_seq_len}")
    return room if max_new_tokens <= 0 else min(max_new_tokens, room)


def cut_at_stop(block: Tensor, stops: tuple[int, ...]) -> tuple[Tensor, Tensor | None]:
    """Split a host block [N+1, k] before its first stop token: (frames before it, the stop frame or None)."""
    ends = torch.isin(block[0], torch.tensor(stops, dtype=block.dtype)).nonzero()
    if not len(ends):
        return block, None
    cut = int(ends[0, 0])
    return block[:, :cut], block[:, cut : cut + 1]


def frame_blocks(
    first: Tensor, step: Callable[[int], Tensor], budget: int, sync_every: int, stops: tuple[int, ...]
) -> Iterator[tuple[Tensor, Tensor | None]]:
    """The decode loop every single-row generator shares (tts of every family, fish-agent).

    `first` [N+1] is the prefill's frame; `step(i)` computes frame i on the device (and updates the
    caller's window/position). Frames gather in a device buffer; the host syncs once every
    `sync_every` frames (and at the budget), and each block is handed over as (frames [N+1, k] on
    the CPU, None), or, at the first stop token, as (frames before it, the stop frame) and the loop ends.
    """
    out = torch.zeros(first.shape[0], budget, dtype=torch.int32, device=first.device)
    out[:, 0] = first
    start = 0
    for i in range(1, budget + 1):
        if i == budget or i % sync_every == 0:
            block, end = cut_at_stop(out[:, start:i].cpu(), stops)
            yield block, end
            if end is not None or i == budget:
                return
            start = i
        out[:, i] = step(i)
