"""CPU float32 linear layers in the split layout: same products, official state dicts, and the
model-level kernel that replaced a dozen per-layer operators (complex rope)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fish_speech.models.text2semantic.loader import load_language_model
from fish_speech.models.text2semantic.model import apply_rope, rope_factors, rope_table
from fish_speech.models.text2semantic.split_linear import (
    FEW_ROWS,
    ONEDNN,
    SplitLinear,
    linear_of,
    pack_for_prompts,
    split_linears,
)


def _layer(n=96, k=64, bias=True, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, k, generator=g)
    b = torch.randn(n, generator=g) if bias else None
    return w, b


@pytest.mark.parametrize("rows", [1, 3, FEW_ROWS, FEW_ROWS + 1, 40])
@pytest.mark.parametrize("bias", [True, False])
def test_split_linear_computes_the_same_product(rows, bias):
    w, b = _layer(bias=bias)
    lin = SplitLinear(w, b)
    x = torch.randn(2, rows, 64)  # 2 x rows: both the blocked (few rows) and the prompt path
    x1 = x[:1]
    for inp in (x1, x, x1[0]):
        got = lin(inp)
        assert got.shape == (*inp.shape[:-1], 96)
        torch.testing.assert_close(got, F.linear(inp, w, b), rtol=1e-5, atol=1e-5)


def test_split_linear_keeps_the_official_weight_and_state_dict():
    w, b = _layer()
    lin = SplitLinear(w, b)
    assert lin.weight.shape == (96, 64) and torch.equal(lin.weight, w)
    assert lin.weight.t().is_contiguous()  # stored transposed
    sd = lin.state_dict()
    assert set(sd) == {"weight", "bias"} and torch.equal(sd["weight"], w) and torch.equal(sd["bias"], b)
    other = SplitLinear(*_layer(seed=1))
    other.load_state_dict(sd)
    assert torch.equal(other.weight, w) and other.weight.t().is_contiguous()
    x = torch.randn(1, 64)
    assert torch.equal(other(x), lin(x))


def test_one_row_results_do_not_depend_on_the_thread_count():
    w, _ = _layer(n=512, k=256)
    lin = SplitLinear(w)
    x = torch.randn(1, 1, 256)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = lin(x)
        torch.set_num_threads(2)
        two = lin(x)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)


def test_split_linears_replaces_every_linear_and_linear_of_picks_by_device_and_dtype():
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Sequential(torch.nn.Linear(16, 4, bias=False)))
    x = torch.randn(3, 8)
    want = net(x)
    split_linears(net)
    assert isinstance(net[0], SplitLinear) and isinstance(net[1][0], SplitLinear)
    torch.testing.assert_close(net(x), want)
    assert isinstance(linear_of(torch.randn(4, 8)), SplitLinear)
    half = linear_of(torch.randn(4, 8, dtype=torch.bfloat16))  # bf16 batched products are slow on the CPU
    assert not isinstance(half, SplitLinear) and isinstance(half, torch.nn.Linear)


def test_loader_splits_cpu_float32_models_only(tiny_checkpoints, tiny_s2_dir):
    llama, _ = tiny_checkpoints
    lm = load_language_model(llama, device="cpu")
    linears = [m for m in lm.model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(isinstance(m, SplitLinear) for m in linears)
    published = torch.load(llama / "model.pth", map_location="cpu", weights_only=True)
    published = published.get("state_dict", published)
    state = lm.model.state_dict()
    assert {k for k in published if k.endswith("wqkv.weight")} <= set(state)
    for name, t in published.items():
        assert torch.equal(state[name], t.float()), name
    s2 = load_language_model(tiny_s2_dir, device="cpu")  # bf16 on the CPU: official layout kept
    assert not any(isinstance(m, SplitLinear) for m in s2.model.modules())


@pytest.mark.parametrize("per_row", [False, True])
def test_complex_rope_is_bitwise_the_rotation_by_hand(per_row):
    table = rope_table(64, 32, 10000.0)
    x = torch.randn(2, 5, 4, 32) * 3
    rows = table[torch.tensor([[3], [17]])] if per_row else table[:5]
    if per_row:
        x = x[:, :1]
    real = apply_rope(x, rows.float())  # what a compiled graph runs
    fast = apply_rope(x, rope_factors(rows))
    assert fast.dtype == x.dtype and torch.equal(real, fast)


def test_fused_gates_compute_the_same_feed_forward_and_keep_the_state_dict():
    from fish_speech.models.text2semantic.config import ModelArgs
    from fish_speech.models.text2semantic.model import FeedForward

    ff = FeedForward(ModelArgs(dim=64, intermediate_size=96, n_head=4, n_local_heads=2, head_dim=16))
    before = {k: v.clone() for k, v in ff.state_dict().items()}
    x = torch.randn(2, 3, 64)
    want = ff(x)
    split_linears(ff)
    count = sum(p.numel() for p in ff.parameters())
    ff.fuse_gates()
    assert ff.__dict__["gates"].weight.shape == (192, 64)
    assert sum(p.numel() for p in ff.parameters()) == count  # the fused layer is not a second copy
    assert ff.w1.weight.data_ptr() == ff.__dict__["gates"].weight.data_ptr()
    after = ff.state_dict()
    assert set(after) == set(before) and all(torch.equal(after[k], before[k]) for k in before)
    for inp in (x, x[:1, :1]):  # the prompt path and the one-row path
        torch.testing.assert_close(ff(inp), want[: inp.shape[0], : inp.shape[1]], rtol=1e-5, atol=1e-5)


@pytest.mark.compile
@pytest.mark.parametrize("bias", [False, True])
def test_compiled_products_equal_eager_and_keep_the_blocked_kernel(bias):
    """Under torch.compile few rows run the blocked bmm as one opaque op (inductor would otherwise
    rewrite it into its own, slower loop) and prompts run a product inductor can lower."""
    from torch._dynamo.testing import CompileCounterWithBackend

    lin = SplitLinear(torch.randn(48, 64), torch.randn(48) if bias else None)
    if ONEDNN:
        lin.pack()  # eager prompts read the packed copy; the graphs never do
    seen = CompileCounterWithBackend("inductor")
    compiled = torch.compile(lambda x: lin(x), backend=seen, fullgraph=True)
    with torch.inference_mode():
        for rows in (1, 3, FEW_ROWS + 4):
            x = torch.randn(rows, 1, 64)
            torch.testing.assert_close(compiled(x), lin(x), rtol=1e-5, atol=1e-5)
    few = [g for g in seen.graphs if any("block_partials" in str(n.target) for n in g.graph.nodes)]
    assert len(seen.graphs) == 3 and len(few) == 2


@pytest.mark.parametrize("bias", [True, False])
def test_a_packed_copy_serves_prompts_only(bias):
    """`pack` keeps a oneDNN-packed copy that many-row products read (same product); decode rows
    still read the blocked storage (bitwise what they read before), and the state dict is unchanged."""
    if not ONEDNN:
        pytest.skip("torch built without oneDNN")
    w, b = _layer(n=200, k=128, bias=bias)
    lin = SplitLinear(w, b)
    few = torch.randn(1, FEW_ROWS, 128)
    before = lin(few)
    lin.pack()
    assert "packed" in lin.__dict__ and set(lin.state_dict()) == ({"weight", "bias"} if bias else {"weight"})
    assert torch.equal(lin(few), before)
    for rows in (FEW_ROWS + 1, 27, 206):
        x = torch.randn(1, rows, 128)
        torch.testing.assert_close(lin(x), F.linear(x, w, b), rtol=1e-5, atol=1e-4)


def test_whole_slow_layers_are_packed_first_first_within_the_budget(tiny_lm_dir, tiny_s2_dir):
    lm = load_language_model(tiny_lm_dir, device="cpu")
    groups = lm.model.slow_products()
    assert len(groups) == lm.args.n_layer
    first = sum(lin.weight.nbytes for lin in groups[0])
    assert pack_for_prompts(groups, first - 1) == 0
    assert pack_for_prompts(groups, first + 1) == (first if ONEDNN else 0)
    packed = [["packed" in lin.__dict__ for lin in g] for g in groups]
    assert packed[0] == [ONEDNN] * len(groups[0]) and not any(any(p) for p in packed[1:])
    # the products a pass runs: the fused gates, not the w1/w3 views of their storage
    ff = lm.model.layers[0].feed_forward
    assert groups[0][2] is ff.__dict__["gates"] and ff.w1 not in groups[0]
    # bf16 (the official layout): nothing to pack
    s2 = load_language_model(tiny_s2_dir, device="cpu")
    assert pack_for_prompts(s2.model.slow_products(), 1 << 40) == 0


def test_the_tts_engine_packs_what_its_budget_allows(tiny_checkpoints):
    from fish_speech.engine.tts import TTSEngine

    llama, codec = tiny_checkpoints
    on = TTSEngine.load(llama, codec, device="cpu", packed_weight_bytes=1 << 30)
    off = TTSEngine.load(llama, codec, device="cpu")
    packed = lambda e: [all("packed" in lin.__dict__ for lin in g) for g in e.lm.model.slow_products()]  # noqa: E731
    assert all(packed(on)) == ONEDNN and not any(packed(off))
