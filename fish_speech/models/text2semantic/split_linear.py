"""Linear layers laid out for fast products on the CPU.

At batch 1 every decode step multiplies one row by every weight matrix, so a step takes as long as
streaming the weights from memory. On the CPU, torch's `F.linear` over the official [N, K] layout
(MKL's matrix-vector path, one thread) reaches about half the read bandwidth of a large `sum`.
Stored transposed ([K, N], contiguous) and cut into G row blocks, the product becomes one batched
product of G independent [M, K/G] x [K/G, N] pieces (threads take blocks) and a sum of G partial
rows: 80-100 % of that bandwidth on 2 threads, and no slower on one (`benchmarks/bench_gemv.py`).
G is fixed (not the thread count), so results do not depend on how many threads a machine has.
Prompts (more rows) go to oneDNN's matmul, which on this storage is 1.5-2x faster than MKL's for
the 20-200-row products of a prompt (a voice's text after a cached prefix, a whole prompt). Given
plain storage oneDNN re-lays the weight out on every call; `pack` keeps a copy in its own layout
(`pack_for_prompts`, budget PACKED_WEIGHT_BYTES), which the few-row products never read.

The loader applies this on the CPU in float32 only. `weight` keeps the official [N, K] shape (a
transposed view of the storage), so state dicts and every reader of `weight` are unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BLOCKS = 8  # G: row blocks of the transposed weight (fewer where K does not divide)
FEW_ROWS = 4  # up to this many rows (decode steps, small batches) take the blocked product
ONEDNN = torch.backends.mkldnn.is_available()
PACK_ROWS = 32  # rows oneDNN picks its packed layout for (any row count reads it correctly)


def blocks_for(k: int) -> int:
    g = BLOCKS
    while k % g:
        g -= 1
    return g


class SplitLinear(nn.Linear):
    """An `nn.Linear` whose weight is stored transposed; few-row inputs use the blocked product."""

    def __init__(self, weight: Tensor, bias: Tensor | None = None, dtype: torch.dtype | None = None):
        """`weight` [N, K] in any layout and precision: copied once into transposed storage in
        `dtype` (default: its own), or adopted as is when it already is that storage (or a column
        slice of one: `fuse`)."""
        n, k = weight.shape
        dtype = dtype or weight.dtype
        with torch.device("meta"):  # the parameters are adopted below: no throw-away allocation
            super().__init__(k, n, bias=bias is not None)
        weight = weight.detach()
        if not (weight.stride(0) == 1 and weight.dtype == dtype):  # not yet rows of a [K, N'] storage
            weight = torch.empty(k, n, dtype=dtype, device=weight.device).copy_(weight.t()).t()
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().to(dtype), requires_grad=False)
        self.blocks = blocks_for(k)

    def pack(self):
        """Keep a second copy of the weight in oneDNN's own blocked layout for many-row products
        (eager only: inductor cannot lower the op). Given the plain storage, oneDNN re-lays the
        whole weight out on every call, a fixed cost that dominates the 10-30-row products of a
        voice's text after a cached prefix. Costs the weight's bytes again."""
        self.__dict__["packed"] = torch.ops.mkldnn._reorder_linear_weight(self.weight, PACK_ROWS)

    def forward(self, x: Tensor) -> Tensor:
        rows = x.numel() // self.in_features
        if rows > FEW_ROWS or self.blocks == 1:
            if ONEDNN and not torch.compiler.is_compiling():  # inductor cannot lower this op here
                weight = self.__dict__.get("packed", self.weight)
                return torch.ops.mkldnn._linear_pointwise(x, weight, self.bias, "none", [], "")
            return F.linear(x, self.weight, self.bias)
        partials = block_partials if torch.compiler.is_compiling() else block_partials_eager
        y = partials(x, self.weight.t(), self.blocks).sum(0).view(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias


def block_partials_eager(x: Tensor, storage: Tensor, blocks: int) -> Tensor:
    """The G partial products [G, M, N] of x [..., K] (M rows) by `storage` [K, N] cut into G =
    `blocks` row blocks: one `bmm`; their sum over G is the product."""
    k, n = storage.shape
    g, rows = blocks, x.numel() // k
    # [G, M, K/G] pieces of the rows (one row: a plain view)
    parts = x.view(g, 1, k // g) if rows == 1 and x.is_contiguous() else x.reshape(rows, g, k // g).transpose(0, 1)
    return torch.bmm(parts, storage.view(g, k // g, n))


# Under torch.compile the bmm is one opaque operator (the sum stays in the graph, fused into what
# reads it): left to itself, inductor runs these products about 1.7x slower than this kernel
# (measured on 12 slow layers of the 1.5-size model). Eager calls skip the custom-op dispatch.
@torch.library.custom_op("fish_speech::block_partials", mutates_args=())
def block_partials(x: Tensor, storage: Tensor, blocks: int) -> Tensor:
    return block_partials_eager(x, storage, blocks)


@block_partials.register_fake
def _(x: Tensor, storage: Tensor, blocks: int) -> Tensor:
    return x.new_empty(blocks, x.numel() // storage.shape[0], storage.shape[1])


def fuse(first: nn.Linear, second: nn.Linear, dtype: torch.dtype | None = None) -> tuple[SplitLinear, ...]:
    """One SplitLinear computing [first(x), second(x)] (same input, no biases): a single blocked
    product over both layers' columns. Both weights are copied once, in `dtype`, into its storage
    and the two layers become `SplitLinear` views of it: returns (fused, first, second). State
    dicts keep w1/w3 and no memory is added."""
    assert first.bias is None and second.bias is None and first.in_features == second.in_features
    k, n1, n2 = first.in_features, first.out_features, second.out_features
    dtype = dtype or first.weight.dtype
    storage = torch.empty(k, n1 + n2, dtype=dtype, device=first.weight.device)
    storage[:, :n1].copy_(first.weight.detach().t())
    storage[:, n1:].copy_(second.weight.detach().t())
    both = storage.t()
    return SplitLinear(both), SplitLinear(both[:n1]), SplitLinear(both[n1:])


def pack_for_prompts(groups: list[list[nn.Module]], budget: int) -> int:
    """Pack (`SplitLinear.pack`) whole groups of layers, in order, while their weights fit in
    `budget` bytes; returns the bytes added. A group is one slow layer's products: a prompt's pass
    runs them all, so a layer is worth packing only whole. Nothing off the split layout or without
    oneDNN."""
    used = 0
    for group in groups:
        size = sum(lin.weight.nbytes for lin in group)
        if not ONEDNN or not all(isinstance(lin, SplitLinear) for lin in group) or used + size > budget:
            break
        for lin in group:
            lin.pack()
        used += size
    return used


def splits(device: torch.device, dtype: torch.dtype) -> bool:
    """Whether weights on this device and precision take the split layout: CPU float32 only (the
    batched product in bfloat16 on the CPU is ~15x slower than `F.linear`)."""
    return device.type == "cpu" and dtype == torch.float32


def linear_of(weight: Tensor, bias: Tensor | None = None) -> nn.Module:
    """A projection by `weight` [N, K] in the layout that is fastest on its device and precision."""
    if splits(weight.device, weight.dtype):
        return SplitLinear(weight, bias)
    lin = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None, device="meta")
    lin.weight = nn.Parameter(weight, requires_grad=False)
    lin.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
    return lin


def split_linears(module: nn.Module, dtype: torch.dtype | None = None) -> nn.Module:
    """Replace every `nn.Linear` under `module` by a `SplitLinear` in `dtype` (in place: one copy per
    weight, the precision change included); returns `module`."""
    for name, child in module.named_children():
        if isinstance(child, nn.Linear) and not isinstance(child, SplitLinear):
            setattr(module, name, SplitLinear(child.weight, child.bias, dtype))
        else:
            split_linears(child, dtype)
    return module
