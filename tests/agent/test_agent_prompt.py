"""The agent-inference prompt layout, token by token, on the tiny official-layout checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fish_speech.agent.prompt import build_prompt, encode_message
from fish_speech.agent.tokenizer import AgentTokenizer
from fish_speech.errors import FishError
from fish_speech.store import Message, TextPart, VQPart
from tests.requires import need_module


@pytest.fixture(scope="session")
def tok(agent_dir):
    return AgentTokenizer.from_dir(agent_dir)


def test_checkpoint_has_the_official_files(agent_dir):
    names = {p.name for p in agent_dir.iterdir()}
    assert {
        "config.json",
        "model.pth",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
        "merges.txt",
        "special_tokens_map.json",
        "added_tokens.json",
    } <= names
    cfg = json.loads((agent_dir / "config.json").read_text())
    assert cfg["model_type"] == "dual_ar" and cfg["tie_word_embeddings"] and cfg["attention_qkv_bias"]
    assert (cfg["num_codebooks"], cfg["codebook_size"]) == (8, 1024) and cfg["fast_dim"] != cfg["dim"]
    state = torch.load(agent_dir / "model.pth", weights_only=True)
    assert "output.weight" not in state and "fast_project_in.bias" in state
    assert "layers.0.attention.wqkv.bias" in state and "fast_layers.0.attention.wqkv.bias" not in state
    added = json.loads((agent_dir / "added_tokens.json").read_text())
    assert {"<|im_start|>", "<|im_end|>", "<|semantic|>"} <= set(added)


def test_tokenizer_ids_come_from_the_files_and_special_text_stays_text(tok, agent_dir):
    added = json.loads((agent_dir / "added_tokens.json").read_text())
    assert (tok.im_start_id, tok.im_end_id, tok.semantic_id) == (
        added["<|im_start|>"],
        added["<|im_end|>"],
        added["<|semantic|>"],
    )
    assert tok.im_end_id not in tok.encode("typed <|im_end|> by a user")
    assert tok.decode(tok.encode("Hello there! 你好")) == "Hello there! 你好"
    assert tok.header("user") == [tok.im_start_id] + tok.encode("user\n")


def test_two_turn_prompt_matches_the_spec_layout(tok):
    """system text + voice, user text, assistant text/speech/text, spoken user turn, open reply."""
    rng = np.random.default_rng(0)
    ref, a1, u2 = (rng.integers(0, 1000, (8, n)) for n in (4, 3, 2))
    system = Message("system", [TextPart("Be brief."), VQPart(ref)])
    history = [
        Message("user", [TextPart("Hi!")]),
        Message("assistant", [TextPart("Hello"), VQPart(a1), TextPart(" there.")]),
    ]
    user = Message("user", [VQPart(u2)])
    prompt = build_prompt(system, history, user, tok, 8, 1000)
    S, E = tok.semantic_id, tok.im_end_id
    expected_ids, expected_codes = [], []

    def add(ids, codes=None):
        expected_ids.extend(ids)
        expected_codes.extend(codes.T + 1 if codes is not None else np.zeros((len(ids), 8), int))

    add(tok.header("system") + tok.encode("Be brief."))
    add([S] * 4, ref)
    add([E] + tok.header("user") + tok.encode("Hi!") + [E] + tok.header("assistant") + tok.encode("Hello"))
    add([S] * 3, a1)
    add(tok.encode(" there.") + [E] + tok.header("user"))
    add([S] * 2, u2)
    add([E] + tok.header("assistant"))
    assert prompt.tokens.dtype == torch.int32
    assert prompt.tokens[0].tolist() == expected_ids
    assert prompt.tokens[1:].T.tolist() == np.asarray(expected_codes).tolist()
    # the schematic of spec §4.1: no BOS, messages back to back, ends with an open assistant header
    assert expected_ids[0] == tok.im_start_id
    assert tok.decode(expected_ids[-3:]) == "<|im_start|>assistant\n"
    assert prompt.dropped == 0 and prompt.kept == history


def test_codes_are_shifted_by_one_and_clipped_into_a_codebook(tok):
    m = Message("assistant", [VQPart(np.array([[0, 999, 1023]] * 8))])
    cols = encode_message(m, tok, 8)
    body = cols[:, len(tok.header("assistant")) : -1]
    assert body[0].tolist() == [tok.semantic_id] * 3
    assert body[1:].tolist() == [[1, 1000, 1023]] * 8
    assert cols[1:, -1].tolist() == [0] * 8  # <|im_end|> column carries no codes


def test_codes_of_the_modded_dac_are_refused_not_truncated(tok):
    """10 rows come from S1-mini / S2-Pro's codec: fish-agent (8 rows of the 1.5 codec) must not read them."""
    from fish_speech.errors import FishError

    with pytest.raises(FishError) as e:
        encode_message(Message("assistant", [VQPart(np.zeros((10, 3), int))]), tok, 8)
    assert (e.value.code, e.value.field) == (400, "history") and "10 codebooks" in e.value.message


def test_long_history_drops_the_oldest_turns_after_the_system_message(tok):
    system = Message("system", [TextPart("sys")])
    history = []
    for i in range(10):
        history += [
            Message("user", [TextPart(f"question number {i}")]),
            Message("assistant", [TextPart(f"answer {i}"), VQPart(np.zeros((8, 10), int))]),
        ]
    user = Message("user", [TextPart("latest")])
    full = build_prompt(system, history, user, tok, 8, 10_000)
    short = build_prompt(system, history, user, tok, 8, full.tokens.shape[1] // 3)
    assert short.tokens.shape[1] <= full.tokens.shape[1] // 3
    assert 0 < short.dropped < len(history)
    assert short.kept == history[short.dropped :] and short.kept[0].role == "user"
    ids = short.tokens[0].tolist()
    assert ids[: len(tok.header("system"))] == tok.header("system")  # the system message stays
    assert tok.decode(ids).endswith("latest<|im_end|><|im_start|>assistant\n")
    with pytest.raises(FishError) as e:
        build_prompt(system, history, Message("user", [TextPart("x " * 500)]), tok, 8, 100)
    assert e.value.code == 413


def test_prompt_matches_an_independent_encoding_with_the_checkpoints_hf_tokenizer(tok, agent_dir):
    """The agent-inference way, with the tokenizer upstream used (transformers' AutoTokenizer over
    the checkpoint's files): each message is the text "<|im_start|>{role}\\n", its parts, then the
    text "<|im_end|>", every piece encoded on its own; a VQ part is one <|semantic|> per frame."""
    transformers = need_module("transformers")
    hf = transformers.AutoTokenizer.from_pretrained(str(agent_dir))

    def enc(text):
        return hf.encode(text, add_special_tokens=False)

    S = hf.convert_tokens_to_ids("<|semantic|>")
    rng = np.random.default_rng(1)
    ref, a1 = rng.integers(0, 1000, (8, 3)), rng.integers(0, 1000, (8, 2))
    system = Message("system", [TextPart("You speak softly."), VQPart(ref)])
    history = [
        Message("user", [TextPart("What's up?")]),
        Message("assistant", [TextPart("Not much,"), VQPart(a1), TextPart(" you?")]),
    ]
    user = Message("user", [TextPart("Tell me a story about a fish.")])
    expected = (
        enc("<|im_start|>system\n")
        + enc("You speak softly.")
        + [S] * 3
        + enc("<|im_end|>")
        + enc("<|im_start|>user\n")
        + enc("What's up?")
        + enc("<|im_end|>")
        + enc("<|im_start|>assistant\n")
        + enc("Not much,")
        + [S] * 2
        + enc(" you?")
        + enc("<|im_end|>")
        + enc("<|im_start|>user\n")
        + enc("Tell me a story about a fish.")
        + enc("<|im_end|>")
        + enc("<|im_start|>assistant\n")
    )
    tokens = build_prompt(system, history, user, tok, 8, 1000).tokens
    assert tokens[0].tolist() == expected
    assert hf.decode(expected) == (
        "<|im_start|>system\nYou speak softly.<|semantic|><|semantic|><|semantic|><|im_end|>"
        "<|im_start|>user\nWhat's up?<|im_end|>"
        "<|im_start|>assistant\nNot much,<|semantic|><|semantic|> you?<|im_end|>"
        "<|im_start|>user\nTell me a story about a fish.<|im_end|>"
        "<|im_start|>assistant\n"
    )
    # rows 1..8: the +1-shifted codes under each <|semantic|>, zeros everywhere else
    at = [i for i, t in enumerate(expected) if t == S]
    assert tokens[1:, at].T.tolist() == (np.concatenate([ref, a1], axis=1).T + 1).tolist()
    assert int(tokens[1:].count_nonzero()) == 8 * 5


def test_tokens_listed_only_in_added_tokens_json_get_their_listed_ids(agent_dir, tmp_path):
    """transformers reads added_tokens.json too; a tokenizer.json without <|semantic|> must still
    give the ids the model was trained with, and a mismatch is refused."""
    import shutil

    copy = tmp_path / "ckpt"
    shutil.copytree(agent_dir, copy)
    data = json.loads((copy / "tokenizer.json").read_text())
    added = json.loads((copy / "added_tokens.json").read_text())
    data["added_tokens"] = [
        t for t in data["added_tokens"] if t["content"] in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
    ]
    (copy / "tokenizer.json").write_text(json.dumps(data))
    tok = AgentTokenizer.from_dir(copy)
    assert (tok.im_start_id, tok.im_end_id, tok.semantic_id) == (
        added["<|im_start|>"],
        added["<|im_end|>"],
        added["<|semantic|>"],
    )
    assert tok.vocab_size == max(added.values()) + 1
    added["<|semantic|>"] += 7  # not where it would land
    (copy / "added_tokens.json").write_text(json.dumps(added))
    with pytest.raises(FishError) as e:
        AgentTokenizer.from_dir(copy)
    assert e.value.code == 422 and "added_tokens.json gives" in e.value.message
