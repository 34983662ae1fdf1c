"""S2-Pro / S1-mini generation: frame invariants, greedy = an uncached reference, RAS, seeds, stop, clamp."""

import numpy as np
import pytest
import torch

from fish_speech.models.text2semantic.frames import RAS_TEMPERATURE, RAS_TOP_P, s2_frame
from fish_speech.models.text2semantic.generate import Generator
from fish_speech.models.text2semantic.loader import load_language_model
from fish_speech.models.text2semantic.long_form import generate_long
from fish_speech.models.text2semantic.long_form_s2 import codec_codes
from fish_speech.models.text2semantic.prompt_s2 import encode_parts, s1_parts, s2_user_parts
from fish_speech.models.text2semantic.sampling import sample_top_k


@pytest.fixture(scope="module", params=["s1", "s2"])
def lm(request, tiny_s1_dir, tiny_s2_dir):
    torch.set_num_threads(1)
    path = tiny_s1_dir if request.param == "s1" else tiny_s2_dir
    return load_language_model(path, device="cpu", dtype=torch.float32)


@pytest.fixture(scope="module")
def s2(tiny_s2_dir):
    return load_language_model(tiny_s2_dir, device="cpu", dtype=torch.float32)


def _prompt(lm, text="Hello there"):
    tok, n = lm.tokenizer, lm.args.num_codebooks
    refs = [("ref words", np.random.default_rng(0).integers(0, 1024, (n, 6)))]
    if lm.family == "fish-audio-s2-pro":
        parts = s2_user_parts(text) + ["<|im_start|>assistant\n<|voice|>"]
    else:
        parts = s1_parts(text, refs)
    return encode_parts(parts, tok, n, lm.args.codebook_size)


@torch.no_grad()
def reference_greedy(lm, prompt, steps):
    """Upstream's greedy generation written plainly: a full uncached forward per frame."""
    m, n, tok = lm.model, lm.args.num_codebooks, lm.tokenizer
    s2 = lm.family == "fish-audio-s2-pro"
    seq, frames = prompt.long(), []
    for _ in range(steps):
        x = m.embed(seq[None])
        for layer in m.layers:
            x = layer(x, m.freqs_cis[: x.shape[1]], None, None)
        out = m.norm(x[:, -1:])
        logits = (out @ m.output_weight().T)[0, 0]
        if s2:  # semantic + <|im_end|> mask
            mask = torch.full_like(logits, float("-inf"))
            mask[tok.semantic_begin_id : tok.semantic_end_id + 1] = 0
            mask[tok.im_end_id] = 0
            logits = logits + mask
        main = int(logits.argmax())
        codes = [main, min(max(main - tok.semantic_begin_id, 0), 4095)]
        fast_in = [out if s2 else x[:, -1:]]
        for k in range(1, n):
            fast_in.append(m.fast_embeddings(torch.tensor([[codes[-1]]])))
            h = torch.cat(fast_in, 1)
            for layer in m.fast_layers:
                h = layer(h, m.fast_freqs_cis[: h.shape[1]], None, None)
            fl = m.fast_output(m.fast_norm(h[:, -1]))[0]
            codes.append(int((fl if s2 else fl[:1024]).argmax()))
        if main == tok.im_end_id:
            break
        frames.append(codes)
        seq = torch.cat([seq, torch.tensor(codes)[:, None]], 1)
    return torch.tensor(frames).T


def _generate(g, prompt, steps, sync_every=4):
    return torch.cat(list(g.generate(prompt, steps, sync_every)), 1)


def test_greedy_equals_an_uncached_reference(lm):
    g = Generator(lm)
    g.set_sampling(0.0, 0.8, 1.0, 30)
    prompt = _prompt(lm)
    got = _generate(g, prompt, 9)
    want = reference_greedy(lm, prompt, 9)
    assert torch.equal(got.long(), want[:, : got.shape[1]]) and got.shape[1] == want.shape[1]


def test_frame_ranges(lm):
    g = Generator(lm)
    g.set_sampling(0.9, 0.9, 1.1, 30)
    g.seed(3)
    out = _generate(g, _prompt(lm), 12)
    tok = lm.tokenizer
    assert out.shape[0] == 11 and out.dtype == torch.int32
    semantic = (out[0] >= tok.semantic_begin_id) & (out[0] <= tok.semantic_end_id)
    if lm.family == "fish-audio-s2-pro":
        assert semantic.all()  # the mask allows nothing else (<|im_end|> ends the output)
    assert torch.equal(out[1], (out[0] - tok.semantic_begin_id).clamp(0, 4095))
    assert out[2:].min() >= 0 and out[2:].max() < (4096 if lm.family == "fish-audio-s2-pro" else 1024)


def test_seed_reproducibility(lm):
    g = Generator(lm)
    g.set_sampling(0.8, 0.8, 1.1, 30)
    runs = []
    for seed in (5, 5, 6):
        g.seed(seed)
        runs.append(_generate(g, _prompt(lm), 10))
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


def test_stop_on_im_end_excludes_the_end_frame(s2):
    g = Generator(s2)
    g.set_sampling(0.0, 0.8, 1.0, 30)
    prompt = _prompt(s2)
    free = _generate(g, prompt, 6)
    g.head.bias.fill_(float("-inf"))
    g.head.bias[-2] = 0  # the <|im_end|> row of the S2 head (last allowed id)
    assert list(g.generate(prompt, 6)) == [] and g.end_frame[0, 0] == s2.tokenizer.im_end_id
    g.head.bias.zero_()
    g.head.bias[-1] = float("-inf")
    assert torch.equal(_generate(g, prompt, 6), free)


def test_ras_replaces_a_repeated_semantic_token_with_the_high_temperature_draw(s2):
    """With the sampled token in the window, the frame's main token is the second (1.0 / 0.9) draw."""
    m, tok = s2.model, s2.tokenizer
    g = Generator(s2)
    g.set_sampling(0.5, 0.7, 1.0, 30)
    inp = _prompt(s2)[None].to(torch.long)
    pos = torch.arange(inp.shape[-1])
    m.setup_caches(1, s2.args.max_seq_len)
    head = g.tables[0]

    def run(window, seed):
        torch.manual_seed(seed)
        return s2_frame(m, inp, pos, True, g.knobs, window, g.tables, g.ring)[0]

    for seed in range(8):
        torch.manual_seed(seed)
        logits = m.forward_slow(inp, pos, True, head.weight)[0] + head.bias
        t, p, _, k = g.knobs
        normal = head.ids[sample_top_k(logits, t, p, k).long()]
        high = head.ids[sample_top_k(logits, torch.tensor(RAS_TEMPERATURE), torch.tensor(RAS_TOP_P), k).long()]
        empty = torch.zeros(1, 11, 10, dtype=torch.long)
        assert run(empty, seed)[0] == normal  # nothing repeated: the normal draw
        window = empty.clone()
        window[0, 0, 3] = normal
        assert run(window, seed)[0] == high
        g.knobs[0].fill_(0)  # greedy: RAS never changes the argmax
        assert run(window, seed)[0] == head.ids[logits.argmax(-1)]
        g.knobs[0].fill_(0.5)
    im_end = torch.zeros(1, 11, 10, dtype=torch.long)
    im_end[0, 0] = tok.im_end_id  # <|im_end|> is not semantic: never replaced
    g.head.bias.fill_(float("-inf"))
    g.head.bias[-2] = 0
    assert run(im_end, 0)[0] == tok.im_end_id


def test_long_form_codes_are_clamped_for_the_codec_and_conversation_grows(s2):
    frames = torch.tensor([[1, 2], [0, 4095], [4000, 5], [1023, 1024]] + [[0, 0]] * 7, dtype=torch.int32)
    codes = codec_codes(frames)
    assert codes[0].tolist() == [0, 4095] and codes[1].tolist() == [1023, 5] and codes[2].tolist() == [1023, 1023]
    g = Generator(s2)
    g.set_sampling(0.7, 0.8, 1.0, 30)
    g.seed(0)
    prompts = []
    real = g.generate
    g.generate = lambda p, *a, **kw: (prompts.append(p.shape[1]), (yield from real(p, *a, **kw)))[1]
    blocks = list(generate_long(g, "<|speaker:0|>one <|speaker:1|>two", [], 5, chunk_length=5))
    done = [b for b in blocks if b.chunk_done]
    assert [b.text for b in done] == ["<|speaker:0|>one", "<|speaker:1|>two"]
    produced = sum(b.codes.shape[1] for b in blocks if b.chunk_index == 0)
    assert prompts[1] > prompts[0] + produced  # batch 1 sees batch 0's turn and its audio
    assert all(b.codes[1:].max(initial=0) <= 1023 for b in blocks)


@torch.no_grad()
def test_s1_main_penalty_history_is_the_oldest_window_frame(tiny_s1_dir):
    """S1 era quirk: the main token's penalty history is one whole window column (the oldest frame's
    11 values), not the main-token row."""
    from fish_speech.models.text2semantic.frames import s1_frame
    from fish_speech.models.text2semantic.sampling import apply_repetition_penalty

    s1 = load_language_model(tiny_s1_dir, device="cpu")
    g = Generator(s1)
    g.set_sampling(0.0, 0.8, 1.9)
    m = s1.model
    inp = _prompt(s1)[None].long()
    pos = torch.arange(inp.shape[-1])
    m.setup_caches(1, s1.args.max_seq_len)
    logits = m.forward_slow(inp, pos, True)[0]
    top2 = logits[0].topk(2).indices
    window = torch.zeros(1, 11, 16, dtype=torch.long)
    ring = torch.tensor([5])
    window[0, 0, 9] = top2[0]  # in the main-token row but not in the oldest column: no effect
    assert s1_frame(m, inp, pos, True, g.knobs, window, g.tables, ring)[0, 0] == top2[0]
    window[0, 4, 5] = top2[0]  # a code value in the oldest column penalises that id
    got = s1_frame(m, inp, pos, True, g.knobs, window, g.tables, ring)[0, 0]
    want = apply_repetition_penalty(logits, window[:, :, 5], torch.tensor(1.9)).argmax(-1)
    assert got == want[0]
    assert got != top2[0] or logits[0, top2[0]] / 1.9 > logits[0, top2[1]]
