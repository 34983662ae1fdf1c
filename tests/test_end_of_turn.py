"""The end-of-turn cut: wherever `<|im_end|>` lands (the prefill frame, inside a host-sync block, on a
block boundary), the codes are exactly the frames before it, on the single and the batched path.

The model is made to say `<|im_end|>` at frame p and nowhere before: its output row becomes a vector
orthogonal to the final-norm states of frames 0..p-1 (logit 0 there, below the best semantic token)
and large on frame p's state. The states and the expected frames come from the naive float64
reference (tests/naive_dual_ar.py), not from the code under test.
"""

from __future__ import annotations

import pytest
import torch
from naive_dual_ar import NaiveDualAR, greedy_decode, hand_prompt, write_spread_checkpoint

from fish_speech.models.text2semantic.batch import BatchGenerator, Slot
from fish_speech.models.text2semantic.generate import WAIT, Generator
from fish_speech.models.text2semantic.loader import load_language_model

SYNC = 8  # frames per host-sync block (the engine's)
POSITIONS = range(0, SYNC + 2)  # the prefill frame, every place in a block, the boundary, the next block
PENALTY = 1.2
MARGIN = 0.05


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    directory = write_spread_checkpoint(tmp_path_factory.mktemp("eot-lm"), seed=4)
    naive = NaiveDualAR(directory)
    prompt = hand_prompt(naive, seed=5)
    frames, states, scores = greedy_decode(naive, prompt, max(POSITIONS) + 1, PENALTY)
    assert len(frames) == max(POSITIONS) + 1  # the unedited model does not stop by itself
    return directory, naive, prompt, frames, states, scores


def im_end_row(naive, states, scores, p) -> torch.Tensor:
    """A head row whose logit is ~0 on frames before p and beats every semantic token on frame p."""
    allowed = slice(naive.semantic_begin, naive.semantic_begin + 1000)
    target = states[p]
    u = target
    if p:
        before = torch.stack(states[:p])  # [p, D]
        coef = torch.linalg.lstsq(before.T, target.unsqueeze(1)).solution
        u = target - (before.T @ coef).squeeze(1)
    row = u * ((float(scores[p][allowed].max()) + 5.0) / float(u @ target))
    for i in range(p):  # the trajectory before p is untouched: im_end stays below the winner
        assert float(row @ states[i]) < float(scores[i][allowed].max()) - MARGIN
    assert float(row @ target) > float(scores[p][allowed].max()) + MARGIN
    return row


def stopping_model(reference, p):
    directory, naive, prompt, frames, states, scores = reference
    lm = load_language_model(directory, device="cpu")
    with torch.no_grad():
        lm.model.output.weight[naive.im_end_id] = im_end_row(naive, states, scores, p).to(torch.float32)
    expected = torch.tensor(frames[:p], dtype=torch.int32).reshape(p, naive.n + 1).T
    return lm, prompt, expected, naive.im_end_id


def check(blocks, end_frame, expected, im_end):
    codes = torch.cat(blocks, 1) if blocks else torch.zeros(expected.shape[0], 0, dtype=torch.int32)
    assert torch.equal(codes, expected)  # every frame before the stop, nothing after it
    assert end_frame is not None and int(end_frame[0, 0]) == im_end and int(end_frame[1, 0]) == 0


@pytest.mark.parametrize("p", POSITIONS)
def test_single_path_cuts_at_every_position(reference, p):
    lm, prompt, expected, im_end = stopping_model(reference, p)
    gen = Generator(lm)
    gen.set_sampling(0.0, 0.7, PENALTY)
    blocks = list(gen.generate(prompt, 3 * SYNC, SYNC))
    assert all(b.shape[1] for b in blocks)  # no empty blocks handed on
    check(blocks, gen.end_frame, expected, im_end)


@pytest.mark.parametrize("p", POSITIONS)
def test_batched_path_cuts_at_every_position(reference, p):
    lm, prompt, expected, im_end = stopping_model(reference, p)
    batch = BatchGenerator(lm, max_batch=2)
    slots = [Slot(batch, 0), Slot(batch, 1)]
    for s in slots:
        s.set_sampling(0.0, 0.7, PENALTY)
        s.seed(0)
    # the second row joins 3 steps later: its blocks are cut at other batch steps than the first's
    running, blocks = {0: slots[0].generate(prompt, 3 * SYNC, SYNC)}, {0: [], 1: []}
    for step in range(8 * SYNC):
        for i, run in list(running.items()):
            for block in run:
                if block is WAIT:
                    break
                blocks[i].append(block)
            else:
                del running[i]
        if step == 3:
            running[1] = slots[1].generate(prompt, 3 * SYNC, SYNC)
        if not running and step > 3:
            break
        batch.step()
    for i, slot in enumerate(slots):
        check(blocks[i], slot.end_frame, expected, im_end)
