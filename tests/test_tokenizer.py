"""Tokenizer ids and pre-tokenization (text2semantic.md §3, §8.11)."""

import json

import pytest

from fish_speech.errors import FishError
from fish_speech.models.text2semantic.tokenizer import SPECIAL_TOKENS, FishTokenizer


def byte_ranks(extra=()):
    ranks = {bytes([i]): i for i in range(256)}
    for tok in extra:
        ranks[tok] = len(ranks)
    return ranks


def test_special_ids_follow_rank_count():
    tok = FishTokenizer(byte_ranks())
    assert len(SPECIAL_TOKENS) == 1036
    assert tok.special["<|begin_of_text|>"] == 256 and tok.im_end_id == 260 and tok.voice_id == 266
    assert tok.semantic_begin_id == 268 and tok.semantic_end_id == 1291
    assert list(tok.special.values()) == list(range(256, 256 + 1036))


def test_special_strings_in_user_text_become_special_ids():
    tok = FishTokenizer(byte_ranks())
    assert tok.encode("a<|im_end|>b<|semantic:3|>") == [97, 260, 98, 271]
    assert tok.decode(tok.encode("héllo 你好")) == "héllo 你好"


def test_regex_pieces_limit_merges():
    # " OK" may merge (one piece), but "  " + "world" stay apart and digits are single pieces
    tok = FishTokenizer(byte_ranks([b" O", b" OK", b"  ", b"  w", b"12"]))
    assert b" OK" in [tok._enc.decode_single_token_bytes(i) for i in tok.encode("It's OK?! yes")]
    pieces = [tok._enc.decode_single_token_bytes(i) for i in tok.encode("Hello  world 12")]
    assert b"  " in pieces and b"  w" not in pieces  # runs of spaces never join the next word
    assert b"12" not in pieces  # every digit is its own piece


def test_from_file_round_trip_and_special_file_check(tmp_path):
    ranks = byte_ranks([b"th", b"the"])
    tok = FishTokenizer(ranks)
    tok.save(tmp_path, ranks)
    again = FishTokenizer.from_file(tmp_path)
    assert again.n_ranks == 258 and again.encode("the") == tok.encode("the") == [257]
    special = json.loads((tmp_path / "special_tokens.json").read_text())
    special["<|im_end|>"] = 5
    (tmp_path / "special_tokens.json").write_text(json.dumps(special))
    with pytest.raises(FishError, match="special_tokens.json"):
        FishTokenizer.from_file(tmp_path)
    with pytest.raises(FishError, match="not found"):
        FishTokenizer.from_file(tmp_path / "missing")
