"""Continuous batching: a request gives the same codes and segments alone or batched with others."""

import asyncio

import numpy as np
import pytest
import torch

from fish_speech.engine.scheduler import BatchScheduler, Scheduler, make_scheduler
from fish_speech.engine.types import Sampling, TTSRequest
from fish_speech.models.text2semantic.batch import BatchGenerator, Slot
from fish_speech.models.text2semantic.generate import WAIT, Generator
from fish_speech.models.text2semantic.prompt import chunk_prompt, system_prompt


def _prompt(lm, text):
    return torch.cat([system_prompt(lm.tokenizer, 8), chunk_prompt(text, lm.tokenizer, 8)], 1)


def _alone(lm, text, budget, temperature=0.0, seed=None, sync_every=4):
    g = Generator(lm)
    g.set_sampling(temperature, 0.7, 1.2)
    g.seed(seed)
    blocks = list(g.generate(_prompt(lm, text), budget, sync_every))
    return torch.cat(blocks, 1), g.end_frame


def _batched(lm, jobs, max_batch, sync_every=4, on_admit=None, compile=False):
    """Run (text, budget, temperature, seed) jobs, admitting each as soon as a slot is free."""
    bg = BatchGenerator(lm, max_batch, compile=compile)
    waiting, running, out = list(enumerate(jobs)), {}, {}
    free = list(range(max_batch))
    while waiting or running:
        while waiting and free:
            i, (text, budget, temperature, seed) = waiting.pop(0)
            slot = Slot(bg, free.pop(0))
            slot.set_sampling(temperature, 0.7, 1.2)
            slot.seed(seed)
            running[i] = (slot, slot.generate(_prompt(lm, text), budget, sync_every))
            out[i] = []
        for i, (slot, gen) in list(running.items()):
            for block in gen:
                if block is WAIT:
                    break
                out[i].append(block)
                if on_admit:
                    on_admit(bg, slot, i)
            else:
                out[i] = (torch.cat(out[i], 1), slot.end_frame)
                free.append(slot.index)
                del running[i]
        bg.step()
    return [out[i] for i in range(len(jobs))]


def test_batched_requests_give_their_codes_alone(tiny_lm):
    # greedy and sampled (seeded) rows side by side, different texts, budgets and lengths; the third
    # request takes the slot of the first one to finish
    jobs = [
        ("Hello.", 9, 0.0, None),
        ("A longer sentence, with more words in it.", 22, 0.7, 11),
        ("Third!", 14, 0.0, None),
        ("Fourth one, sampled.", 7, 0.9, 5),
    ]
    together = _batched(tiny_lm, jobs, max_batch=2)
    for (text, budget, temperature, seed), (codes, _) in zip(jobs, together):
        alone, _ = _alone(tiny_lm, text, budget, temperature, seed)
        assert codes.shape == (9, budget) and torch.equal(codes, alone)
    again = _batched(tiny_lm, jobs[1:2], max_batch=3)  # the seeded one alone in the batch
    assert torch.equal(again[0][0], together[1][0])


@pytest.mark.compile
def test_compiled_cpu_batch_gives_each_request_its_codes_alone(tiny_lm):
    """`--compile` with MAX_BATCH on the CPU: a six-row step (past the few-row blocked product, so the
    compiled step takes the many-row product); greedy codes equal each request's eager ones alone."""
    texts = ["Hello.", "A longer sentence, with words.", "Third!", "Four.", "Fifth one here.", "Six."]
    jobs = [(t, 6 + i, 0.0, None) for i, t in enumerate(texts)]
    for (text, budget, _, _), (codes, _) in zip(jobs, _batched(tiny_lm, jobs, max_batch=6, compile=True)):
        assert torch.equal(codes, _alone(tiny_lm, text, budget)[0])


def test_a_row_that_stops_early_leaves_the_others_alone(tiny_lm):
    tok = tiny_lm.tokenizer

    def force_end(bg, slot, i):  # after its first block, row 0 may only draw <|im_end|>
        if i == 0:
            bg.main_bias[slot.index].fill_(float("-inf"))
            bg.main_bias[slot.index, bg.head.local[tok.im_end_id]] = 0

    jobs = [("Hello.", 30, 0.0, None), ("Other words.", 12, 0.0, None)]
    (stopped, end), (other, _) = _batched(tiny_lm, jobs, max_batch=2, on_admit=force_end)
    assert stopped.shape[1] == 4 and int(end[0, 0]) == tok.im_end_id
    assert torch.equal(other, _alone(tiny_lm, "Other words.", 12)[0])


def _request(text, seed, stream_frames=4, temperature=0.7):
    return TTSRequest(
        text=text,
        chunk_length=20,
        stream_frames=stream_frames,
        sampling=Sampling(max_new_tokens=10, seed=seed, temperature=temperature),
    )


def _serve(sched, requests, stop_after=None):
    async def one(req, limit):
        segs = []
        async for seg in sched.synthesize(sched.engine, req):
            segs.append(seg)
            if limit is not None and len(segs) >= limit:
                break
        return segs

    async def main():
        limits = stop_after or [None] * len(requests)
        return await asyncio.gather(*(one(r, n) for r, n in zip(requests, limits)))

    return asyncio.run(main())


def test_batch_scheduler_serves_concurrent_requests_like_alone(tiny_engine):
    requests = [
        _request("Good morning. The weather is fine today.", 3),
        _request("Short one.", None, stream_frames=0, temperature=0.0),
        _request("Another text, split in two chunks here.", 8, stream_frames=16),
    ]
    alone = [list(tiny_engine.synthesize(r)) for r in requests]
    sched = BatchScheduler(tiny_engine, max_batch=2)
    together = _serve(sched, requests)
    for a, b in zip(alone, together):
        assert [s.chunk_index for s in a] == [s.chunk_index for s in b]
        assert [s.codes.shape[1] for s in a] == [s.codes.shape[1] for s in b]  # same streaming pieces
        assert all(np.array_equal(x.codes, y.codes) and np.allclose(x.audio, y.audio, atol=1e-5) for x, y in zip(a, b))
        first = b[0].timings["first_audio_s"]  # taken once, at the first piece
        assert all(s.timings["first_audio_s"] == first for s in b) and first <= b[0].timings["elapsed_s"]
    assert sched.pending == 0 and sorted(sched._free) == [0, 1]


def test_leaving_early_frees_the_slot(tiny_engine):
    sched = BatchScheduler(tiny_engine, max_batch=1)
    (cut,) = _serve(sched, [_request("Good morning. The weather is fine today.", 1)], stop_after=[1])
    assert len(cut) == 1
    req = _request("Short one.", 2)
    (full,) = _serve(sched, [req])  # only one slot: this runs only if the cancelled job gave it back
    assert np.array_equal(
        np.concatenate([s.codes for s in full], 1), np.concatenate([s.codes for s in tiny_engine.synthesize(req)], 1)
    )
    assert sched.pending == 0 and sched._free == [0] and not sched.batch.busy

    async def call():
        return await sched.call(lambda: "ran between steps")

    assert asyncio.run(call()) == "ran between steps"


def test_max_batch_picks_the_scheduler(tiny_engine):
    from fish_speech.service.runtime import Runtime
    from fish_speech.settings import Settings

    assert type(make_scheduler(tiny_engine)) is Scheduler
    sched = Runtime(Settings.from_env({"MAX_BATCH": "3"}), tiny_engine).scheduler
    assert isinstance(sched, BatchScheduler) and sched.batch.max_batch == 3
    assert type(make_scheduler(None)) is Scheduler  # no engine (agent-only, or failed load): nothing to batch
