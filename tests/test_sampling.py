"""Sampling rules of text2semantic.md §5.3 and the greedy/seed additions."""

import torch

from fish_speech.models.text2semantic.sampling import apply_repetition_penalty, apply_top_p, sample

T = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731


def test_penalty_divides_positive_multiplies_negative():
    logits = T([[2.0, -2.0, 1.0, 0.5]])
    out = apply_repetition_penalty(logits, torch.tensor([[0, 1, 1]]), T(2.0))
    assert out.tolist() == [[1.0, -4.0, 1.0, 0.5]]
    assert torch.equal(apply_repetition_penalty(logits, torch.tensor([[0, 1]]), T(1.0)), logits)


def test_top_p_uses_untempered_distribution_and_keeps_best():
    logits = torch.log(T([[0.5, 0.3, 0.15, 0.05]]))
    # cumulative 0.5, 0.8, 0.95: a token is dropped once the sum *including it* passes top_p
    assert apply_top_p(logits, T(0.7)).isfinite()[0].tolist() == [True, False, False, False]
    assert apply_top_p(logits, T(0.85)).isfinite()[0].tolist() == [True, True, False, False]
    assert apply_top_p(logits, T(0.01)).isfinite()[0].tolist() == [True, False, False, False]


def test_small_top_p_is_argmax_of_penalised_logits():
    torch.manual_seed(0)
    logits = torch.randn(1, 50)
    hist = logits.argmax(-1, keepdim=True)
    want = apply_repetition_penalty(logits, hist, T(3.0)).argmax(-1)
    for _ in range(5):
        assert sample(logits, T(0.7), T(1e-6), T(3.0), hist).item() == want.item()


def test_temperature_zero_is_greedy_and_bias_restricts():
    logits = torch.randn(1, 30)
    assert sample(logits, T(0.0), T(0.9), T(1.0)).item() == logits.argmax().item()
    bias = torch.full((30,), float("-inf"))
    bias[[3, 7]] = 0
    draws = {sample(torch.randn(1, 30), T(1.0), T(1.0), T(1.0), bias=bias).item() for _ in range(50)}
    assert draws <= {3, 7} and len(draws) == 2


def test_exponential_race_matches_distribution():
    torch.manual_seed(1)
    probs = T([0.6, 0.3, 0.1])
    logits = probs.log().expand(4000, 3).contiguous()
    draws = sample(logits, T(1.0), T(1.0), T(1.0))
    freq = torch.bincount(draws.long(), minlength=3).float() / 4000
    assert torch.allclose(freq, probs, atol=0.03)
