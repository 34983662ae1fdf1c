"""Generation loop, stop rule, determinism and the text2semantic command line."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from fish_speech.models.text2semantic.generate import Generator
from fish_speech.models.text2semantic.long_form import generate_long
from fish_speech.models.text2semantic.prompt import chunk_prompt, system_prompt
from fish_speech.models.text2semantic.sampling import seed_everything

ROOT = Path(__file__).resolve().parents[1]


def _prompt(lm):
    return torch.cat([system_prompt(lm.tokenizer, 8), chunk_prompt("Hello.", lm.tokenizer, 8)], 1)


def test_generate_respects_budget_and_ranges(tiny_lm):
    g = Generator(tiny_lm)
    blocks = list(g.generate(_prompt(tiny_lm), max_new_tokens=13, sync_every=4))
    frames = torch.cat(blocks, 1)
    assert frames.shape == (9, 13) and [b.shape[1] for b in blocks] == [4, 4, 4, 1]
    tok = tiny_lm.tokenizer
    assert ((frames[0] >= tok.semantic_begin_id) & (frames[0] < tok.semantic_begin_id + 1000)).all()
    assert torch.equal(frames[1], frames[0] - tok.semantic_begin_id)
    assert ((frames[1:] >= 0) & (frames[1:] < 1000)).all()


def test_stops_at_im_end_and_drops_that_frame(tiny_lm):
    g = Generator(tiny_lm)
    out = []
    for block in g.generate(_prompt(tiny_lm), max_new_tokens=50, sync_every=5):
        out.append(block)
        g.head.bias.fill_(float("-inf"))
        g.head.bias[g.head.local[tiny_lm.tokenizer.im_end_id]] = 0  # from now on only <|im_end|> can be drawn
    frames = torch.cat(out, 1)
    assert frames.shape[1] == 5 and g.end_frame is not None
    assert int(g.end_frame[0, 0]) == tiny_lm.tokenizer.im_end_id and int(g.end_frame[1, 0]) == 0
    assert (frames[0] != tiny_lm.tokenizer.im_end_id).all()


def test_context_full_is_a_clear_error(tiny_lm):
    from fish_speech.errors import FishError

    g = Generator(tiny_lm)
    with pytest.raises(FishError) as e:
        next(g.generate(torch.zeros(9, tiny_lm.args.max_seq_len, dtype=torch.int32)))
    assert e.value.code == 413


def _codes(lm, seed, temperature=0.7, text="One. Two three."):
    g = Generator(lm)
    g.set_sampling(temperature, 0.7, 1.2)
    seed_everything(seed)
    return np.concatenate([b.codes for b in generate_long(g, text, [], 10, chunk_length=6)], axis=1)


def test_seed_and_greedy_are_reproducible(tiny_lm):
    a, b, c = _codes(tiny_lm, 7), _codes(tiny_lm, 7), _codes(tiny_lm, 8)
    assert a.shape == (8, 30)  # three chunks of 10 frames
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    g1, g2 = _codes(tiny_lm, 1, temperature=0), _codes(tiny_lm, 2, temperature=0)
    assert np.array_equal(g1, g2)


def test_long_form_feeds_back_previous_chunks(tiny_lm):
    g = Generator(tiny_lm)
    seen = []
    real = g.generate

    def spy(prompt, *args, **kw):
        seen.append(prompt.shape[1])
        return real(prompt, *args, **kw)

    g.generate = spy
    refs = [("ref words", np.random.randint(0, 1000, (8, 12)))]
    blocks = list(generate_long(g, "First part. Second part.", refs, 6, chunk_length=12))
    assert [b.chunk_index for b in blocks if b.chunk_done] == [0, 1]
    assert seen[1] > seen[0] + 6  # the second prompt carries chunk 0 and its 6 frames


def test_cli_writes_codes_and_fails_clearly(tiny_lm_dir, tmp_path):
    script = ROOT / "fish_speech/models/text2semantic/inference.py"
    ref = tmp_path / "ref.npy"
    np.save(ref, np.random.randint(0, 1000, (8, 20)).astype(np.int32))
    args = [
        "--text",
        "Hello there.",
        "--prompt-text",
        "ref words",
        "--prompt-tokens",
        str(ref),
        "--checkpoint-path",
        str(tiny_lm_dir),
        "--num-samples",
        "2",
        "--max-new-tokens",
        "8",
    ]
    r = subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for i in (0, 1):
        codes = np.load(tmp_path / f"codes_{i}.npy")
        assert codes.shape == (8, 8) and codes.dtype == np.int32
    out = tmp_path / "out"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.llama.generate",
            *args[:2],
            "--checkpoint-path",
            str(tiny_lm_dir),
            "--max-new-tokens",
            "4",
            "--output-dir",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert np.load(out / "codes_0.npy").shape == (8, 4)
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 5), np.int32))
    for extra in (["--prompt-tokens", str(bad)], ["--prompt-tokens", str(tmp_path / "missing.npy")]):
        r = subprocess.run(
            [
                sys.executable,
                str(script),
                "--text",
                "x",
                "--prompt-text",
                "y",
                *extra,
                "--checkpoint-path",
                str(tiny_lm_dir),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 1 and r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error: ")
