"""Dual-AR model invariants (text2semantic.md §8) on a tiny random checkpoint in float32."""

import torch

from fish_speech.models.text2semantic.config import ModelArgs
from fish_speech.models.text2semantic.generate import dual_ar_frame
from fish_speech.models.text2semantic.model import DualARTransformer, apply_rope, rope_table
from fish_speech.testing.checkpoints import FULL_CONFIG, TINY_CONFIG


def test_config_post_init_rules():
    a = ModelArgs.from_dict(dict(TINY_CONFIG, head_dim=999, vocab_size=1292))
    assert a.head_dim == 64 // 4  # always dim // n_head
    assert a.intermediate_size == 256  # round_up(int(8*64/3), 256)
    assert a.fast_block_args().head_dim == 32 // 2
    b = ModelArgs.from_dict({"model_type": "dual_ar", "dim": 64, "n_head": 4, "fast_dim": 0})
    assert b.n_local_heads == 4 and b.fast_dim == 64 and b.fast_n_local_heads == 4


def test_config_rejects_unknown_keys_and_types():
    import pytest

    from fish_speech.errors import FishError

    with pytest.raises(FishError, match="bogus"):
        ModelArgs.from_dict({"model_type": "dual_ar", "bogus": 1})
    with pytest.raises(FishError, match="model_type"):
        ModelArgs.from_dict({"model_type": "gpt2"})


def test_full_size_state_dict_matches_official_count():
    with torch.device("meta"):
        m = DualARTransformer(ModelArgs.from_dict(FULL_CONFIG), 100012, 101035)
    sd = m.state_dict()
    assert sum(t.numel() for t in sd.values()) == 637_921_280
    assert sd["layers.0.attention.wqkv.weight"].shape == (1280, 1024)
    assert sd["codebook_embeddings.weight"].shape == (8192, 1024)
    assert "output.weight" in sd and "fast_project_in.weight" not in sd
    assert not any("freqs" in k or "kv_cache" in k for k in sd)


def test_rope_identity_at_zero_and_pairs(tiny_lm):
    table = rope_table(8, 16, 1e6)
    assert table.dtype == torch.bfloat16 and table.shape == (8, 8, 2)
    x = torch.randn(1, 8, 2, 16)
    y = apply_rope(x, table)
    assert torch.allclose(y[:, 0], x[:, 0])
    # a rotation keeps the norm of each adjacent pair (up to the bf16 rounding of the table)
    assert torch.allclose(
        y.view(1, 8, 2, 8, 2).norm(dim=-1), x.view(1, 8, 2, 8, 2).norm(dim=-1), rtol=1e-2
    )  # bf16 table


def _random_prompt(lm, length=24):
    tok, n = lm.tokenizer, lm.args.num_codebooks
    inp = torch.zeros(n + 1, length, dtype=torch.int32)
    inp[0] = torch.randint(0, 256, (length,))
    inp[0, 5:15] = tok.semantic_begin_id + torch.randint(0, 1000, (10,))
    inp[1:, 5:15] = torch.randint(0, 1000, (n, 10))
    inp[1, 5:15] = inp[0, 5:15] - tok.semantic_begin_id
    return inp


def test_embedding_ignores_codes_outside_semantic_positions(tiny_lm):
    m, inp = tiny_lm.model, _random_prompt(tiny_lm)
    other = inp.clone()
    other[1:, :5] = 7  # non-semantic positions
    with torch.inference_mode():
        assert torch.equal(m.embed(inp[None]), m.embed(other[None]))
        e = m.embed(inp[None])[0, 6]
        c = inp[1:, 6].long()
        want = m.embeddings.weight[inp[0, 6]] + sum(m.codebook_embeddings.weight[c[i] + i * 1024] for i in range(8))
        assert torch.allclose(e, want, atol=1e-6)


def test_cached_decoding_equals_full_forward(tiny_lm):
    m, inp = tiny_lm.model, _random_prompt(tiny_lm)
    m.setup_caches(1, tiny_lm.args.max_seq_len)
    with torch.inference_mode():
        full_logits, _ = m(inp[None])
        t = 16
        logits, _ = m.forward_slow(inp[None, :, :t], torch.arange(t), True)
        assert torch.allclose(logits[0], full_logits[0, t - 1], atol=1e-5)
        for p in range(t, inp.shape[1]):
            logits, _ = m.forward_slow(inp[None, :, p : p + 1], torch.tensor([p]), False)
            assert torch.allclose(logits[0], full_logits[0, p], atol=1e-5), p


def test_fast_path_equals_training_forward(tiny_lm):
    """Codebook k logits during generation == codebook_logits[:, t, k] fed the codes of column t+1."""
    m, inp = tiny_lm.model, _random_prompt(tiny_lm)
    m.setup_caches(1, tiny_lm.args.max_seq_len)
    t = 8  # column t+1 = 9 is a semantic frame
    with torch.inference_mode():
        _, cb_logits = m(inp[None])
        _, hidden = m.forward_slow(inp[None, :, : t + 1], torch.arange(t + 1), True)
        m.forward_fast(hidden, 0)
        codes = inp[1:, t + 1].long()
        for k in range(1, 8):
            logits = m.forward_fast(m.fast_embeddings(codes[k - 1 : k]).unsqueeze(1), k)
            assert torch.allclose(logits[0], cb_logits[0, t, k], atol=1e-5), k


def test_frame_shape_and_ranges(tiny_lm):
    m, inp = tiny_lm.model, _random_prompt(tiny_lm)
    m.setup_caches(1, tiny_lm.args.max_seq_len)
    from fish_speech.models.text2semantic.generate import Generator

    g = Generator(tiny_lm)
    with torch.inference_mode():
        f = dual_ar_frame(m, inp[None], torch.arange(inp.shape[1]), True, g.knobs, None, g.head, g.code_bias)
    assert f.shape == (1, 9) and f.dtype == torch.int32
    main = int(f[0, 0])
    tok = tiny_lm.tokenizer
    assert main == tok.im_end_id or tok.semantic_begin_id <= main < tok.semantic_begin_id + 1000
    assert int(f[0, 1]) == max(main - tok.semantic_begin_id, 0)
    assert (f[0, 2:] >= 0).all() and (f[0, 2:] < 1000).all()


def test_restricted_head_gives_the_full_logits_of_allowed_ids(tiny_lm):
    from fish_speech.models.text2semantic.generate import Generator

    m, inp = tiny_lm.model, _random_prompt(tiny_lm)
    g = Generator(tiny_lm)
    tok = tiny_lm.tokenizer
    with torch.inference_mode():
        full, _ = m.forward_slow(inp[None], torch.arange(inp.shape[1]), True)
        part, _ = m.forward_slow(inp[None], torch.arange(inp.shape[1]), True, g.head.weight)
    assert part.shape == (1, 1002)  # 1000 codec-valid semantic ids, <|im_end|>, the dummy row
    assert torch.allclose(part[0, :-1], full[0, g.head.ids], atol=1e-5)
    assert g.head.ids[1000] == tok.im_end_id and int(g.head.local[tok.im_end_id]) == 1000
    assert int(g.head.local[5]) == 1001  # a text id maps to the dummy row, whose bias is -inf
    # greedy over the restricted head == greedy over the full vocabulary restricted by a bias
    bias = torch.full_like(full, float("-inf"))
    bias[0, g.head.ids] = 0
    assert g.head.ids[(part + g.head.bias).argmax()] == (full + bias).argmax()
