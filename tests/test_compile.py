"""`--compile` (torch.compile of the decode step, `Generator(lm, compile=True)`, what `--compile`
and COMPILE=true turn on) gives the same greedy codes as eager. The model is the tiny official
layout cut to one slow and one fast layer and two codebooks, so the CPU compile stays short.
The decode step reads the filled cache in power-of-two spans: crossing a span boundary compiles
one more graph, and no position compiles its own; a prompt head from the prefix cache changes neither."""

from __future__ import annotations

import pytest
import torch

from fish_speech.models.text2semantic.generate import Generator
from fish_speech.models.text2semantic.loader import load_language_model
from fish_speech.models.text2semantic.prefix import PrefixCache

pytestmark = pytest.mark.compile  # the slowest test (a CPU inductor compile); `-m "not compile"` skips it


PROMPT = 246  # frames 1..9 read 256 keys, frames 10..19 read 512


def greedy(lm, compile: bool, gen: Generator | None = None, prefix: int = 0) -> torch.Tensor:
    gen = gen or Generator(lm, compile=compile)
    gen.set_sampling(0.0, 0.7, 1.5)
    prompt = torch.zeros(lm.args.num_codebooks + 1, PROMPT, dtype=torch.int32)
    prompt[0, :-6] = 72  # "H" x 240, then <|im_start|> "Hi" <|im_end|> <|im_start|> <|voice|>
    prompt[0, -6:] = torch.tensor([259, 72, 105, 260, 259, 266])
    return torch.cat(list(gen.generate(prompt, 20, sync_every=8, prefix=prefix)), 1)


def test_compiled_decode_gives_the_eager_codes(tmp_path):
    from torch._dynamo.utils import counters

    from fish_speech.testing.checkpoints import TINY_CONFIG, write_language_model

    small = dict(TINY_CONFIG, n_layer=1, n_fast_layer=1, num_codebooks=2, max_seq_len=1024, initializer_range=0.2)
    lm = load_language_model(write_language_model(tmp_path, small, 256), device="cpu")
    want = greedy(lm, compile=False)
    assert want.shape == (3, 20)
    torch._dynamo.reset()
    counters.clear()
    gen = Generator(lm, compile=True, prefix_cache=PrefixCache(1 << 24))
    assert torch.equal(greedy(lm, True, gen), want)
    assert counters["stats"]["unique_graphs"] == 2  # spans 256 and 512: one graph each
    for cached in (False, True):  # a prompt head from the prefix cache: same codes, same graphs
        assert torch.equal(greedy(lm, True, gen, prefix=200), want) and gen.last_prefill.cached is cached
    assert counters["stats"]["unique_graphs"] == 2
