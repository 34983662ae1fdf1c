"""One windowed transformer layer against a naive float64 reference written out here."""

from __future__ import annotations

import math

import pytest
import torch

import fish_speech.models.dac.transformer as tr
from fish_speech.models.dac.transformer import TransformerBlock, WindowTransformer


def reference_layer(block: TransformerBlock, x: torch.Tensor, window: int, start: int = 0) -> torch.Tensor:
    """x [T, D] float64 -> [T, D]: pre-norm attention + SwiGLU, per position, no masks."""
    w = {k: v.double() for k, v in block.state_dict().items()}
    heads, hd = block.attention.n_head, block.attention.head_dim

    def rms(v, weight):
        return v / torch.sqrt((v * v).mean(-1, keepdim=True) + 1e-5) * weight

    def rope(v, pos):  # interleaved pairs; cos/sin rounded to bf16 as in the released code
        out = v.clone()
        for j in range(hd // 2):
            ang = torch.tensor(pos * (1.0 / 10000 ** (2 * j / hd)), dtype=torch.float32)
            c, s = float(torch.cos(ang).bfloat16()), float(torch.sin(ang).bfloat16())
            a, b = v[..., 2 * j], v[..., 2 * j + 1]
            out[..., 2 * j], out[..., 2 * j + 1] = a * c - b * s, b * c + a * s
        return out

    h = rms(x, w["attention_norm.weight"])
    q, k, v = (h @ w["attention.wqkv.weight"].T).split(heads * hd, dim=-1)
    q, k, v = (t.view(-1, heads, hd) for t in (q, k, v))
    q = torch.stack([rope(q[i], start + i) for i in range(len(x))])
    k = torch.stack([rope(k[i], start + i) for i in range(len(x))])
    att = torch.zeros(len(x), heads, hd, dtype=torch.float64)
    for i in range(len(x)):
        lo = max(0, i - window + 1)
        scores = torch.einsum("hd,thd->ht", q[i], k[lo : i + 1]) / math.sqrt(hd)
        att[i] = torch.einsum("ht,thd->hd", scores.softmax(-1), v[lo : i + 1])
    y = x + (att.reshape(len(x), -1) @ w["attention.wo.weight"].T) * w["attention_layer_scale.gamma"]
    f = rms(y, w["ffn_norm.weight"])
    ff = (torch.nn.functional.silu(f @ w["feed_forward.w1.weight"].T) * (f @ w["feed_forward.w3.weight"].T)) @ w[
        "feed_forward.w2.weight"
    ].T
    return y + ff * w["ffn_layer_scale.gamma"]


@pytest.fixture()
def layer():
    torch.manual_seed(0)
    t = WindowTransformer(128, 1, window=5)
    for name, p in t.named_parameters():
        with torch.no_grad():
            if p.dim() == 2:
                p.normal_(0, 1 / math.sqrt(p.shape[1]))
            elif "gamma" in name:
                p.uniform_(0.5, 1.0)
            else:
                p.normal_(1, 0.1)
    return t.requires_grad_(False)


def test_layer_matches_float64_reference(layer, monkeypatch):
    monkeypatch.setattr(tr, "QUERY_BLOCK", 4)  # several query blocks, each with its own key band
    x = torch.randn(1, 13, 128, dtype=torch.float64)
    ref = reference_layer(layer.layers[0], x[0], window=5)
    ours64 = layer.double().layers[0](x, tr.rope_table(0, 13).to(x.device), 5)[0]
    assert float((ours64 - ref).abs().max()) < 1e-5  # RoPE itself is float32 in the released code
    ours32 = layer.float().layers[0](x.float(), tr.rope_table(0, 13), 5)[0]
    assert float((ours32.double() - ref).abs().max()) < 1e-4


def test_cached_pieces_equal_one_pass(layer):
    x = torch.randn(1, 128, 21)
    full = layer(x)
    cache = layer.new_cache()
    pieces = [layer(x[..., a:b], cache) for a, b in ((0, 1), (1, 3), (3, 10), (10, 21))]
    assert float((torch.cat(pieces, dim=-1) - full).abs().max()) < 1e-5
    assert cache.position == 21 and cache.layers[0][0].shape[2] == 4  # window - 1 keys kept


def test_rope_rows_do_not_depend_on_the_table_start():
    whole = tr.rope_table(0, 300)
    assert torch.equal(tr.rope_table(250, 50), whole[250:])
    assert torch.equal(whole[0, :, 0], torch.ones(32, dtype=torch.bfloat16))  # position 0 is identity
    assert whole.dtype == torch.bfloat16 and tuple(whole.shape) == (300, 32, 2)


def test_no_quadratic_mask(monkeypatch):
    """A query block never builds a mask wider than block + window - 1 keys."""
    widths = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None):
        widths.append(tuple(attn_mask.shape[-2:]))
        return real(q, k, v, attn_mask=attn_mask)

    monkeypatch.setattr(tr.F, "scaled_dot_product_attention", spy)
    monkeypatch.setattr(tr, "QUERY_BLOCK", 16)
    q = torch.randn(1, 2, 100, 8)
    tr.banded_attention(q, q, q, window=6)
    assert widths and all(r <= 16 and c <= 16 + 5 for r, c in widths)
