"""S1-mini / S2-Pro model invariants (s2.md §1.3, §1.5, §2, §8.1) on tiny random checkpoints in float32."""

import math

import pytest
import torch

from fish_speech.models.text2semantic.config import ModelArgs
from fish_speech.models.text2semantic.loader import load_language_model
from fish_speech.models.text2semantic.model import DualARTransformer
from fish_speech.models.text2semantic.omni import omni_args, publish_keys, remap_keys
from fish_speech.testing.new_checkpoints import S1_FULL_CONFIG, S2_FULL_CONFIG


def _meta(args):
    with torch.device("meta"):
        return DualARTransformer(args, 151678, 155773).state_dict()


def test_s2_pro_full_shapes_and_count_without_allocating():
    args = omni_args(S2_FULL_CONFIG)
    assert (args.head_dim, args.fast_dim, args.fast_head_dim, args.codebook_size, args.num_codebooks) == (
        128,
        2560,
        128,
        4096,
        10,
    )
    assert args.scale_codebook_embeddings and args.norm_fastlayer_input and args.tie_word_embeddings
    sd = _meta(args)
    assert len(sd) == 358
    assert sum(t.numel() for t in sd.values()) == 4_561_852_416
    assert sd["layers.0.attention.wqkv.weight"].shape == (6144, 2560)
    assert sd["layers.0.attention.wo.weight"].shape == (2560, 4096)
    assert sd["layers.0.attention.q_norm.weight"].shape == (128,)
    assert sd["fast_layers.0.attention.wqkv.weight"].shape == (6144, 2560)
    assert sd["codebook_embeddings.weight"].shape == (40960, 2560)
    assert "output.weight" not in sd and "fast_layers.0.attention.q_norm.weight" not in sd
    assert all(t.device.type == "meta" for t in sd.values())


def test_s1_mini_full_shapes_and_count():
    args = ModelArgs.from_dict(S1_FULL_CONFIG, keep_head_dim=True)
    sd = _meta(args)
    assert len(sd) == 287 and sum(t.numel() for t in sd.values()) == 860_169_216
    assert sd["layers.0.attention.wqkv.weight"].shape == (4096, 1024)
    assert sd["layers.0.attention.wo.weight"].shape == (1024, 2048)
    assert sd["fast_layers.0.attention.wqkv.weight"].shape == (2048, 1024)
    assert sd["output.weight"].shape == (155776, 1024)
    assert not args.norm_fastlayer_input


def test_omni_quirks_head_dim_default_and_ignored_audio_keys():
    text = {k: v for k, v in S2_FULL_CONFIG["text_config"].items() if k != "head_dim"}
    audio = dict(S2_FULL_CONFIG["audio_decoder_config"], rope_base=7, norm_eps=0.5, max_seq_len=99)
    args = omni_args(dict(S2_FULL_CONFIG, text_config=text, audio_decoder_config=audio))
    assert args.head_dim == 64  # upstream: a missing head_dim gets the dataclass default, not dim/n_head
    assert args.rope_base == 1000000 and args.norm_eps == 1e-6 and args.max_seq_len == 32768
    from fish_speech.errors import FishError

    with pytest.raises(FishError, match="text_config.dim"):
        omni_args(dict(S2_FULL_CONFIG, text_config={k: v for k, v in text.items() if k != "dim"}))


def test_remap_round_trip():
    names = list(_meta(omni_args(S2_FULL_CONFIG)))
    published = publish_keys(dict.fromkeys(names))
    assert "audio_decoder.codebook_embeddings.weight" in published
    assert "audio_decoder.layers.0.attention.wqkv.weight" in published
    assert "text_model.model.layers.35.attention.k_norm.weight" in published
    assert "audio_decoder.output.weight" in published and "text_model.model.embeddings.weight" in published
    assert sorted(remap_keys(published)) == sorted(names)


@pytest.fixture(params=["s1", "s2"])
def lm(request, tiny_s1_dir, tiny_s2_dir):
    path = tiny_s1_dir if request.param == "s1" else tiny_s2_dir
    return load_language_model(path, device="cpu", dtype=torch.float32)


def _prompt(lm, length=20):
    n, sb = lm.args.num_codebooks, lm.tokenizer.semantic_begin_id
    inp = torch.zeros(1, n + 1, length, dtype=torch.long)
    inp[0, 0] = torch.randint(0, 256, (length,))
    codes = torch.randint(0, 1024, (n, 8))
    inp[0, 0, 6:14] = sb + codes[0]
    inp[0, 1:, 6:14] = codes
    return inp


def test_embedding_scaled_only_at_semantic_positions(lm):
    torch.manual_seed(0)
    inp = _prompt(lm)
    m, n = lm.model, lm.args.num_codebooks
    e = m.embed(inp)
    raw = m.embed(inp, scale=False)
    col = 7
    cb = sum(m.codebook_embeddings.weight[inp[0, i + 1, col] + 4096 * i] for i in range(n))
    want = (m.embeddings.weight[inp[0, 0, col]] + cb) / math.sqrt(n + 1)
    assert torch.allclose(e[0, col], want, atol=1e-6)
    assert torch.allclose(raw[0, col], want * math.sqrt(n + 1), atol=1e-5)
    # text positions: the token embedding alone, whatever rows 1..N hold
    inp[0, 1:, 2] = 5
    assert torch.equal(m.embed(inp)[0, 2], m.embeddings.weight[inp[0, 0, 2]])


def test_cached_decoding_equals_full_forward_and_fast_input(lm):
    """Incremental slow steps reproduce a full causal pass; the fast model gets the post-norm state
    for S2 and the pre-norm state for S1."""
    torch.manual_seed(1)
    m = lm.model
    inp = _prompt(lm, 16)
    m.setup_caches(1, lm.args.max_seq_len)
    full_logits, full_hidden = m.forward_slow(inp, torch.arange(16), True)
    m.forward_slow(inp[..., :12], torch.arange(12), True)
    for t in range(12, 16):
        logits, hidden = m.forward_slow(inp[..., t : t + 1], torch.tensor([t]), False)
    assert torch.allclose(logits, full_logits, atol=1e-4) and torch.allclose(hidden, full_hidden, atol=1e-4)
    # reference: a plain uncached pass over the scaled embedding
    x = m.embed(inp)
    for layer in m.layers:
        x = layer(x, m.freqs_cis[:16], None, None)
    pre, post = x[:, -1:], m.norm(x[:, -1:])
    assert torch.allclose(hidden, post if lm.family == "fish-audio-s2-pro" else pre, atol=1e-4)
    head = m.embeddings.weight if lm.family == "fish-audio-s2-pro" else m.output.weight
    assert torch.allclose(full_logits, (post @ head.T)[:, 0], atol=1e-4)
    assert lm.family != "fish-audio-s2-pro" or not hasattr(m, "output")  # tied head


def test_qk_norm_runs_before_rope(lm):
    """Scaling q/k inputs does not change attention when QK-norm is on (the norm removes the scale)."""
    att = lm.model.layers[0].attention
    assert att.qk_norm and not lm.model.fast_layers[0].attention.qk_norm
    x = torch.randn(1, 5, lm.args.dim)
    rope = lm.model.freqs_cis[:5]
    y = att(x, rope, None, None)
    w = att.wqkv.weight.clone()
    q_w = att.n_head * att.head_dim + att.n_kv * att.head_dim
    with torch.no_grad():
        att.wqkv.weight[:q_w] *= 3.0  # q and k rows, not v
        y3 = att(x, rope, None, None)
        att.wqkv.weight.copy_(w)
    assert torch.allclose(y, y3, atol=1e-4)
