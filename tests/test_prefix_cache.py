"""Prefix KV cache: a request whose voice prefix comes from the cache gives the codes it gives without
the cache (greedy and seeded, CPU float32, every family, long texts, batch rows); the store is an
LRU by bytes; decode steps read only the filled part of the cache, in a few spans."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fish_speech.models.text2semantic.batch import BatchGenerator, Slot
from fish_speech.models.text2semantic.generate import WAIT, Generator
from fish_speech.models.text2semantic.loader import load_language_model
from fish_speech.models.text2semantic.long_form import generate_long
from fish_speech.models.text2semantic.model import MIN_SPAN, key_span
from fish_speech.models.text2semantic.prefix import Entry, PrefixCache, bytes_per_token
from fish_speech.models.text2semantic.prompt import chunk_prompt, reference_prompt, system_prompt
from fish_speech.models.text2semantic.split_linear import pack_for_prompts

BUDGET = 64 * 1024 * 1024
TEXTS = {  # long enough for several chunks at chunk_length 24 (S2: speaker turns; S1: one generation)
    "fish-speech-1.5": "First words here. Then a second part. And the third one.",
    "openaudio-s1-mini": "First words here, and a second part.",
    "fish-audio-s2-pro": "<|speaker:0|>First words here. <|speaker:1|>Then a second part. <|speaker:0|>The end.",
}


@pytest.fixture(scope="module", params=["1.5", "1.5-packed", "s1", "s2"])
def lm(request, tiny_lm_dir, tiny_s1_dir, tiny_s2_dir):
    """Each family in CPU float32; "1.5-packed": prompts multiply by oneDNN-packed slow weights."""
    path = {"1.5": tiny_lm_dir, "1.5-packed": tiny_lm_dir, "s1": tiny_s1_dir, "s2": tiny_s2_dir}[request.param]
    lm = load_language_model(path, device="cpu", dtype=torch.float32)
    if request.param.endswith("packed"):
        assert pack_for_prompts(lm.model.slow_products(), 1 << 30) > 0
    return lm


def _refs(lm, frames=(12, 7)):
    rng = np.random.default_rng(3)
    n = lm.args.num_codebooks
    return [(f"reference {i}", rng.integers(0, 1000, (n, f))) for i, f in enumerate(frames)]


def _codes(gen, lm, temperature, seed):
    gen.set_sampling(temperature, 0.8, 1.1)
    gen.seed(seed)
    blocks = generate_long(gen, TEXTS[lm.family], _refs(lm), max_new_tokens=10, chunk_length=24, sync_every=4)
    out = [(b.chunk_index, b.codes) for b in blocks if b.codes.shape[1]]
    return out, gen.last_prefill.cached


@pytest.mark.parametrize("temperature, seed", [(0.0, None), (0.7, 5)], ids=["greedy", "seeded"])
def test_cached_prefix_gives_the_uncached_codes(lm, temperature, seed):
    plain, cached_before = _codes(Generator(lm), lm, temperature, seed)
    assert not cached_before and len({i for i, _ in plain}) == (1 if lm.family == "openaudio-s1-mini" else 3)
    store = PrefixCache(BUDGET)
    gen = Generator(lm, prefix_cache=store)
    cold, _ = _codes(gen, lm, temperature, seed)  # chunk 0 fills the store; later chunks already hit it
    warm, cached = _codes(gen, lm, temperature, seed)
    assert cached and store.hits >= 1 and len(store.entries) == 1
    for run in (cold, warm):
        assert [i for i, _ in run] == [i for i, _ in plain]
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(run, plain))


def test_the_prefix_is_everything_before_the_text(lm):
    """The cached head runs up to the first column that depends on the text: two texts for one voice
    share exactly that many prompt columns (the turn opening before the text included)."""

    class Recording(Generator):
        def generate(self, prompt, max_new_tokens=0, sync_every=8, prefix=0):
            self.calls.append((prompt, prefix))
            return super().generate(prompt, max_new_tokens, sync_every, prefix)

    gen = Recording(lm, prefix_cache=PrefixCache(BUDGET))
    gen.calls = []
    for text in ("Alpha one.", "Zulu two."):
        list(generate_long(gen, text, _refs(lm), max_new_tokens=2))
    (a, head_a), (b, head_b) = gen.calls
    differ = (a[:, : b.shape[1]] != b[:, : a.shape[1]]).any(0).nonzero()
    assert head_a == head_b == int(differ[0, 0])
    assert gen.last_prefill.cached


def test_another_voice_misses(tiny_lm):
    store = PrefixCache(BUDGET)
    gen = Generator(tiny_lm, prefix_cache=store)
    gen.set_sampling(0.0, 0.7, 1.2)
    for frames in ((12,), (12,), (13,)):
        list(generate_long(gen, "Hello.", _refs(tiny_lm, frames), max_new_tokens=3))
    assert (store.hits, store.misses, len(store.entries)) == (1, 2, 2)


def test_batch_rows_start_from_the_cached_prefix(tiny_lm):
    tok, n = tiny_lm.tokenizer, 8
    head = torch.cat([system_prompt(tok, n)] + [reference_prompt(t, c, tok, n) for t, c in _refs(tiny_lm)], 1)
    prompts = [torch.cat([head, chunk_prompt(text, tok, n)], 1) for text in ("Hello.", "Other words here.")]
    alone = []
    for prompt, seed in zip(prompts, (None, 9)):
        g = Generator(tiny_lm)
        g.set_sampling(0.0 if seed is None else 0.8, 0.7, 1.2)
        g.seed(seed)
        alone.append(torch.cat(list(g.generate(prompt, 10, 4)), 1))
    bg = BatchGenerator(tiny_lm, 2, prefix_cache=PrefixCache(BUDGET))
    slots, gens, out = [Slot(bg, i) for i in range(2)], [], [[], []]
    for slot, prompt, seed in zip(slots, prompts, (None, 9)):
        slot.set_sampling(0.0 if seed is None else 0.8, 0.7, 1.2)
        slot.seed(seed)
        gens.append(slot.generate(prompt, 10, 4, prefix=head.shape[1]))
    live = [0, 1]
    while live:
        for i in list(live):
            for block in gens[i]:
                if block is WAIT:
                    break
                out[i].append(block)
            else:
                live.remove(i)
        bg.step()
    assert [s.last_prefill.cached for s in slots] == [False, True]
    for got, want in zip(out, alone):
        assert torch.equal(torch.cat(got, 1), want)


def test_lru_by_bytes():
    def entry(first: int, p: int = 1) -> Entry:  # p columns; K/V: 2 tensors of 2*p*4 floats (64 bytes a column)
        return Entry(torch.full((2, p), first), [(torch.zeros(2, p, 4), torch.zeros(2, p, 4))])

    def prompt(first: int) -> torch.Tensor:
        return torch.full((2, 5), first)

    store = PrefixCache(3 * 64)  # room for three 1-column entries
    for first in (1, 2, 3):
        store.put(entry(first))
    assert store.longest(prompt(1), 4) is not None  # 2 is now the least recently used
    store.put(entry(4))
    kept = lambda: {int(e.columns[0, 0]) for e in store.entries.values()}  # noqa: E731
    assert kept() == {1, 3, 4} and store.used == 3 * 64
    store.put(entry(5, 4))  # larger than the whole budget: not kept, nothing evicted
    assert kept() == {1, 3, 4}
    assert store.longest(prompt(2), 4) is None and (store.hits, store.misses) == (1, 1)
    assert PrefixCache(0).budget == 0


def test_the_longest_stored_prefix_serves_and_a_whole_prompt_replaces_the_ones_it_extends():
    store = PrefixCache(1 << 20)
    columns = torch.arange(40).view(2, 20)

    def entry(p: int, whole: bool) -> Entry:
        return Entry(columns[:, :p].clone(), [(torch.zeros(1, p, 2), torch.zeros(1, p, 2))], whole)

    store.put(entry(4, False))  # a shared head
    store.put(entry(9, True))  # a conversation's turn
    assert store.longest(columns, 19).length == 9 and store.longest(columns, 8).length == 4
    other = columns.clone()
    other[0, 6] = -1  # another conversation with the same head
    assert store.longest(other, 19).length == 4
    store.put(entry(15, True))  # the next turn: its prompt opens with the last one, which goes
    assert sorted(e.length for e in store.entries.values()) == [4, 15]
    assert store.used == sum(e.nbytes for e in store.entries.values())


def test_memory_per_token_of_the_1_5_config():
    from fish_speech.models.text2semantic.config import ModelArgs
    from fish_speech.testing.checkpoints import FULL_CONFIG

    args = ModelArgs.from_dict(FULL_CONFIG)
    assert bytes_per_token(args, torch.bfloat16) == 2 * 24 * 2 * 64 * 2 == 12288


def test_key_spans_are_few_and_cover_the_position():
    spans = {key_span(length, 8192) for length in range(1, 8193)}
    assert spans == {MIN_SPAN * 2**i for i in range(6)}  # 256 .. 8192: six graphs at most
    assert all(key_span(length, 8192) >= length for length in range(1, 8193))
    assert key_span(5000, 4096) == 4096  # never past the cache
