"""Prompt layout (text2semantic.md §4, §8.10) and the iterative-context rule."""

import numpy as np
import torch

from fish_speech.models.text2semantic.prompt import (
    SYSTEM_TEXT,
    chunk_prompt,
    reference_prompt,
    select_context,
    system_prompt,
)
from fish_speech.models.text2semantic.tokenizer import FishTokenizer

TOK = FishTokenizer({bytes([i]): i for i in range(256)})
B = list  # readability: ids of bytes


def ids(text):
    return TOK.encode(text)


def test_system_message_tokens():
    p = system_prompt(TOK, 3)
    want = [TOK.im_start_id] + ids("system\n" + SYSTEM_TEXT) + [TOK.im_end_id]
    assert p[0].tolist() == want and p.shape == (4, len(want))
    assert not p[1:].any()


def test_reference_layout_matches_spec_example():
    codes = np.array([[882, 937, 279, 102, 396], [716, 1009, 921, 1023, 892], [570, 586, 919, 803, 111]])
    p = reference_prompt("  Hi’there ", codes, TOK, 3)
    head = [TOK.im_start_id] + ids("user\nHi'there") + [TOK.im_end_id] + [TOK.im_start_id] + ids("assistant\n")
    row0 = p[0].tolist()
    assert row0[: len(head)] == head
    assert row0[len(head)] == TOK.voice_id == 266
    assert row0[len(head) + 1 : -1] == [268 + c for c in codes[0]]
    assert row0[-1] == TOK.im_end_id
    vq = slice(len(head) + 1, len(head) + 6)
    assert p[1:, vq].tolist() == codes.tolist()
    assert not p[1:, : len(head) + 1].any() and not p[1:, -1].any()


def test_chunk_turn_ends_with_voice():
    p = chunk_prompt("Hello,,, world 😀", TOK, 8)
    want = (
        [TOK.im_start_id]
        + ids("user\nHello, world ")
        + [TOK.im_end_id, TOK.im_start_id]
        + ids("assistant\n")
        + [TOK.voice_id]
    )
    assert p[0].tolist() == want and not p[1:].any()


def _blocks(*lengths):
    return [torch.zeros(9, n, dtype=torch.int32) + i for i, n in enumerate(lengths)]


def test_context_keeps_everything_when_it_fits():
    h = _blocks(10, 20, 10)
    assert [int(t[0, 0]) for t in select_context(h, 1000)] == [0, 1, 2]


def test_context_drops_middle_but_keeps_first_pair():
    h = _blocks(10, 100, 10, 100, 10, 100, 10)
    kept = [int(t[0, 0]) for t in select_context(h, 250)]
    assert kept[:2] == [0, 1] and kept[-1] == 6 and len(kept) < 7
    assert len(kept[2:]) % 2 == 1  # a chunk stays with its generation


def test_context_quirk_when_newest_alone_is_too_big():
    h = _blocks(10, 100, 10, 100, 500)
    kept = [int(t[0, 0]) for t in select_context(h, 100)]
    assert kept == [0, 1, 0, 1, 2, 3, 4]  # upstream's [-0:] keeps all, first pair twice
