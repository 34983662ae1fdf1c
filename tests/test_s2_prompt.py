"""S2-Pro and S1-mini prompt layouts token by token, and S2's speaker batching (s2.md §5)."""

import numpy as np
import pytest

from fish_speech.errors import FishError
from fish_speech.models.text2semantic.hf_tokenizer import HFTokenizer
from fish_speech.models.text2semantic.prompt_s2 import (
    encode_parts,
    group_turns_into_batches,
    s1_parts,
    s2_assistant_parts,
    s2_system_parts,
    s2_user_parts,
    split_text_by_speaker,
)
from fish_speech.models.text2semantic.tokenizer import FishTokenizer

# ids of the tiny tokenizers: bytes are their own ids (no merges); specials follow at 256..
S2_IM_START, S2_IM_END, S2_VOICE, S2_SB = 257, 258, 263, 268
S1_IM_END, S1_INTERLEAVE, S1_SB = 260, 267, 271


def b(text: str) -> list[int]:
    return list(text.encode())


@pytest.fixture(scope="module")
def s2_tok(tiny_s2_dir):
    return HFTokenizer(tiny_s2_dir)


@pytest.fixture(scope="module")
def s1_tok(tiny_s1_dir):
    return FishTokenizer.from_s1_dir(tiny_s1_dir)


def s2_prompt(tok, text, refs):
    parts = s2_system_parts(refs) + s2_user_parts(text) + s2_assistant_parts()
    return encode_parts(parts, tok, 10, 4096)


def test_s2_special_ids_of_the_tiny_tokenizer(s2_tok):
    assert (s2_tok.im_start_id, s2_tok.im_end_id, s2_tok.voice_id) == (S2_IM_START, S2_IM_END, S2_VOICE)
    assert (s2_tok.semantic_begin_id, s2_tok.semantic_end_id) == (S2_SB, S2_SB + 4095)
    assert s2_tok.encode("a<|im_end|>b") == [97, S2_IM_END, 98]  # special strings in text are single ids
    assert s2_tok.encode("<|speaker:0|>") == b("<|speaker:0|>")  # plain text in S2


def test_s2_zero_references_token_by_token(s2_tok):
    p = s2_prompt(s2_tok, "Hi", [])
    want = (
        [S2_IM_START]
        + b("system\n")
        + b("convert the provided text to speech")
        + [S2_IM_END]
        + b("\n")
        + [S2_IM_START]
        + b("user\n")
        + b("Hi")
        + [S2_IM_END]
        + b("\n")
        + [S2_IM_START]
        + b("assistant\n")
        + [S2_VOICE]
    )
    assert p[0].tolist() == want
    assert not p[1:].any()


@pytest.mark.parametrize("count", [1, 2])
def test_s2_references_in_the_system_message(s2_tok, count):
    rng = np.random.default_rng(0)
    refs = [(f"ref {i}", rng.integers(0, 1024, (10, 3 + i))) for i in range(count)]
    p = s2_prompt(s2_tok, "Hi", refs)
    texts = "\n".join(f"<|speaker:{i}|>ref {i}" for i in range(count))
    head = (
        [S2_IM_START]
        + b("system\n")
        + b("convert the provided text to speech reference to the following:\n\nText:\n")
        + b(texts)
        + b("\n\nSpeech:\n")
    )
    codes = np.concatenate([c for _, c in refs], axis=1)
    f = codes.shape[1]
    assert p[0, : len(head)].tolist() == head
    assert p[0, len(head) : len(head) + f].tolist() == (codes[0] + S2_SB).tolist()
    assert np.array_equal(p[1:, len(head) : len(head) + f].numpy(), codes)
    rest = [S2_IM_END] + b("\n") + [S2_IM_START] + b("user\n") + b("Hi") + [S2_IM_END] + b("\n")
    assert p[0, len(head) + f :].tolist() == rest + [S2_IM_START] + b("assistant\n") + [S2_VOICE]
    assert not p[1:, : len(head)].any() and not p[1:, len(head) + f :].any()


def test_s2_reference_with_its_own_tag_is_kept(s2_tok):
    refs = [("<|speaker:3|>tagged", np.zeros((10, 1), np.int64))]
    ids = encode_parts(s2_system_parts(refs), s2_tok, 10, 4096)[0].tolist()
    text = s2_tok.decode(ids)
    assert "Text:\n<|speaker:3|>tagged\n\nSpeech:\n" in text and "<|speaker:0|>" not in text


def test_s1_one_and_several_references_token_by_token(s1_tok):
    rng = np.random.default_rng(1)
    assert encode_parts(s1_parts("Yo", []), s1_tok, 10, 4096)[0].tolist() == [S1_INTERLEAVE] + b("<|speaker:0|>Yo")
    refs = [("one", rng.integers(0, 1024, (10, 2))), ("two", rng.integers(0, 1024, (10, 3)))]
    p = encode_parts(s1_parts("Yo", refs), s1_tok, 10, 4096)
    want = [S1_INTERLEAVE]
    for text, codes in refs:
        want += b("<|speaker:0|>" + text) + (codes[0] + S1_SB).tolist() + [S1_IM_END]
    want += b("<|speaker:0|>Yo")
    assert p[0].tolist() == want
    start = 1 + len(b("<|speaker:0|>one"))
    assert np.array_equal(p[1:, start : start + 2].numpy(), refs[0][1])
    assert int((p[1:].sum(0) != 0).sum()) <= 5


def test_codes_are_checked():
    with pytest.raises(FishError, match=r"\[10, T\]"):
        encode_parts([np.zeros((8, 3), np.int64)], None, 10, 4096)
    with pytest.raises(FishError, match="0..4095"):
        encode_parts([np.full((10, 3), 4096)], None, 10, 4096)


def test_split_text_by_speaker_vectors():
    assert split_text_by_speaker("Hello <|speaker:0|>World") == ["<|speaker:0|>World"]
    assert split_text_by_speaker("<|speaker:0|><|speaker:1|>hi") == ["<|speaker:0|>", "<|speaker:1|>hi"]
    assert split_text_by_speaker("  <|speaker:2|>  a  \n <|speaker:3|>b ") == ["<|speaker:2|>  a", "<|speaker:3|>b"]
    assert split_text_by_speaker("no tags at all") == []


def test_group_turns_into_batches():
    turns = [f"<|speaker:{i}|>x" for i in range(7)]
    batches = group_turns_into_batches(turns, max_bytes=1000)
    assert [b.count("<|speaker") for b in batches] == [5, 2]
    assert batches[1] == "<|speaker:5|>x\n<|speaker:6|>x"
    long = "<|speaker:0|>" + "y" * 30  # 43 bytes
    assert group_turns_into_batches([long], max_bytes=20) == [long]
    assert group_turns_into_batches(["<|speaker:0|>aaaa", "<|speaker:1|>bbbb"], max_bytes=20) == [
        "<|speaker:0|>aaaa",
        "<|speaker:1|>bbbb",
    ]
