"""`sample`'s probability vector against a naive float64 reference of spec 5.3: repetition penalty on
the history ids -> top-p on the untempered distribution -> temperature -> softmax.

The vector is read out of `sample` itself through its `noise` argument: it returns argmax(p / noise),
so with noise 1 on a reference id r, c on an id k and +inf elsewhere it returns k exactly when
p_k / p_r > c. Bisecting c gives every ratio p_k / p_r, hence the whole vector, without a draw.
"""

from __future__ import annotations

import math

import pytest
import torch

from fish_speech.models.text2semantic.sampling import sample

V = 12
LOGITS = [2.0, -1.5, 0.3, 1.1, -0.2, 1.9, 0.0, -3.0, 0.8, 1.6, -0.7, 0.5]
HISTORY = [0, 1, 1, 5, 7, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]  # a 16-frame window, unfilled slots are 0


def reference(logits, history, temperature, top_p, penalty):
    """Spec 5.3 in float64, written out step by step."""
    s = [float(x) for x in logits]
    for i in set(history):  # penalty: once per distinct id
        s[i] = s[i] * penalty if s[i] < 0 else s[i] / penalty
    order = sorted(range(len(s)), key=lambda i: -s[i])
    z = sum(math.exp(s[i]) for i in order)
    cum, keep = 0.0, set()
    for rank, i in enumerate(order):  # top-p on the untempered distribution; the best is always kept
        cum += math.exp(s[i]) / z
        if rank == 0 or cum <= top_p:
            keep.add(i)
    e = [math.exp(s[i] / temperature) if i in keep else 0.0 for i in range(len(s))]
    return [x / sum(e) for x in e]


def probabilities(logits, history, temperature, top_p, penalty, steps=60):
    """The distribution `sample` draws from, recovered by bisection on the noise (see the module doc)."""
    row = torch.tensor(logits, dtype=torch.float32)
    r = int(torch.tensor(reference(logits, history, temperature, top_p, penalty)).argmax())  # any kept id will do
    lo, hi = torch.zeros(V, dtype=torch.float64), torch.full((V,), 1e6, dtype=torch.float64)
    hist = torch.tensor(history).repeat(V, 1)
    knobs = [torch.tensor(v, dtype=torch.float32) for v in (temperature, top_p, penalty)]
    for _ in range(steps):
        c = (lo * hi).sqrt().clamp(min=1e-30)  # geometric bisection: ratios span many decades
        noise = torch.full((V, V), float("inf"))
        noise[range(V), range(V)] = c.float()
        noise[:, r] = 1.0
        noise[r, r] = 1.0
        won = sample(row.repeat(V, 1), *knobs, history=hist, noise=noise) != r  # p_k / p_r > c
        lo = torch.where(won, c, lo)
        hi = torch.where(won, hi, c)
    ratio = (lo * hi).sqrt()
    ratio[hi <= 1e-29] = 0.0  # never beat the reference: probability 0
    ratio[r] = 1.0
    return (ratio / ratio.sum()).tolist()


@pytest.mark.parametrize(
    "temperature, top_p, penalty",
    [
        (1.0, 1.0, 1.0),  # plain softmax
        (0.7, 1.0, 1.2),  # penalty and temperature
        (0.5, 0.8, 1.5),  # top-p cut (on the untempered distribution) then temperature
        (1.7, 0.6, 2.0),  # a hot temperature must not widen the top-p set
        (0.3, 0.95, 0.9),  # a penalty below 1 boosts repeated ids
    ],
)
def test_sample_draws_from_the_reference_distribution(temperature, top_p, penalty):
    want = reference(LOGITS, HISTORY, temperature, top_p, penalty)
    got = probabilities(LOGITS, HISTORY, temperature, top_p, penalty)
    assert [w > 0 for w in want] == [g > 0 for g in got]  # the same support
    assert got == pytest.approx(want, rel=2e-4, abs=1e-7)


def test_the_history_matters_in_these_cases():
    assert reference(LOGITS, [], 0.7, 1.0, 1.2) != reference(LOGITS, HISTORY, 0.7, 1.0, 1.2)


def test_temperature_zero_is_the_argmax_of_the_penalised_logits():
    logits = torch.tensor([LOGITS])
    hist = torch.tensor([HISTORY])
    knobs = [torch.tensor(v) for v in (0.0, 0.5, 2.0)]
    # by hand: penalised, id 0 falls 2.0 -> 1.0 and id 5 1.9 -> 0.95; id 3 (1.1, not in the history) wins
    assert int(sample(logits, *knobs, history=hist)) == 3
    assert int(sample(logits, *knobs[:2], torch.tensor(1.0), history=hist)) == 0
