"""The cached, optimised decode (single and batched) against a naive float64 reference of the dual-AR
model written in the tests from the spec (tests/naive_dual_ar.py): same greedy frames, with a strong
repetition penalty over the 16-frame window on the main token and on every codebook."""

from __future__ import annotations

import pytest
import torch
from naive_dual_ar import NaiveDualAR, greedy_decode, hand_prompt, write_spread_checkpoint

from fish_speech.models.text2semantic.batch import BatchGenerator, Slot
from fish_speech.models.text2semantic.generate import WAIT, Generator
from fish_speech.models.text2semantic.loader import load_language_model

FRAMES = 28  # > 16: the repetition window slides
PENALTY = 2.0  # the largest allowed: it changes which code wins at many steps


@pytest.fixture(scope="module")
def spread(tmp_path_factory):
    directory = write_spread_checkpoint(tmp_path_factory.mktemp("spread-lm"))
    naive = NaiveDualAR(directory)
    prompt = hand_prompt(naive)
    frames, _, _ = greedy_decode(naive, prompt, FRAMES, PENALTY)
    return directory, naive, prompt, torch.tensor(frames, dtype=torch.int32).T


def test_reference_run_exercises_the_window(spread):
    _, naive, prompt, frames = spread
    assert frames.shape == (naive.n + 1, FRAMES)  # no early stop: the whole window slides
    unpenalised, _, _ = greedy_decode(naive, prompt, 20, 1.0)
    assert not torch.equal(torch.tensor(unpenalised, dtype=torch.int32).T, frames[:, :20])


def test_single_decode_matches_the_float64_reference(spread):
    directory, _, prompt, frames = spread
    gen = Generator(load_language_model(directory, device="cpu"))
    gen.set_sampling(0.0, 0.7, PENALTY)
    codes = torch.cat(list(gen.generate(prompt, FRAMES, sync_every=8)), 1)
    assert torch.equal(codes, frames)


def test_batched_decode_matches_the_float64_reference(spread):
    directory, _, prompt, frames = spread
    lm = load_language_model(directory, device="cpu")
    batch = BatchGenerator(lm, max_batch=2)
    slots = [Slot(batch, 0), Slot(batch, 1)]
    for s in slots:
        s.set_sampling(0.0, 0.7, PENALTY)
        s.seed(1)
    # the second row joins 5 steps later, so the rows sit at different positions and windows
    running, blocks = {0: slots[0].generate(prompt, FRAMES, 8)}, {0: [], 1: []}
    for step in range(10 * FRAMES):
        for i, run in list(running.items()):
            for block in run:
                if block is WAIT:
                    break
                blocks[i].append(block)
            else:
                del running[i]
        if step == 5:
            running[1] = slots[1].generate(prompt, FRAMES, 8)
        if not running:
            break
        batch.step()
    for got in blocks.values():
        assert torch.equal(torch.cat(got, 1), frames)
