"""The tiktoken tokenizers of Fish Speech 1.5 and OpenAudio S1-mini (`tokenizer.tiktoken`).

Special tokens are not stored in the ranks file: their ids are n_ranks + their index in a list.
1.5: the fixed list below (`special_tokens.json` is written beside it but upstream never reads it;
we check it when present). S1-mini: the keys of `special_tokens.json` in file order (its values are
ignored, as upstream), 15 protocol tokens then 4096 semantic tokens; rank lines whose token is "="
are skipped. Every special string typed in user text becomes its special id, as upstream.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import tiktoken

from fish_speech.errors import FishError

PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|\p{P}|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(\?!\S)|\s+"
)
BOS, EOS, PAD = "<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
TEXT, VOICE, INTERLEAVE = "<|text|>", "<|voice|>", "<|interleave|>"
NUM_SEMANTIC = 1024
SPECIAL_TOKENS = (
    [BOS, EOS, PAD, IM_START, IM_END]
    + [f"<|placeholder:{i}|>" for i in range(4)]
    + [TEXT, VOICE, INTERLEAVE]
    + [f"<|semantic:{i}|>" for i in range(NUM_SEMANTIC)]
)
# S1-mini's built-in list (used when special_tokens.json is absent), upstream order
S1_SPECIAL_TOKENS = (
    [BOS, EOS, PAD, IM_START, IM_END, "<|phoneme_start|>", "<|phoneme_end|>", "<|tool_call_start|>"]
    + ["<|tool_call_end|>", TEXT, VOICE, INTERLEAVE, "<|audio_start|>", "<|audio_end|>", "<|audio|>"]
    + [f"<|semantic:{i}|>" for i in range(4096)]
)
MAX_PIECE = 400_000  # upstream encodes longer strings in pieces of this many characters


def read_ranks(path: Path, skip_equals: bool = False) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2:
            raise FishError(422, "tokenizer", f"{path}:{n}: expected '<base64> <rank>'")
        if skip_equals and parts[0] == "=":
            continue
        ranks[base64.b64decode(parts[0])] = int(parts[1])
    return ranks


class FishTokenizer:
    def __init__(self, ranks: dict[bytes, int], name: str = "fish", specials: list[str] = SPECIAL_TOKENS):
        self.n_ranks = len(ranks)
        self.special = {tok: self.n_ranks + i for i, tok in enumerate(specials)}
        self._enc = tiktoken.Encoding(name=name, pat_str=PATTERN, mergeable_ranks=ranks, special_tokens=self.special)
        n_semantic = sum(1 for t in specials if t.startswith("<|semantic:"))
        if not n_semantic or "<|semantic:0|>" not in self.special:
            raise FishError(422, "tokenizer", "the special tokens hold no <|semantic:i|> entries")
        self.num_semantic = n_semantic
        self.semantic_begin_id = self.special["<|semantic:0|>"]
        self.semantic_end_id = self.special[f"<|semantic:{n_semantic - 1}|>"]
        self.im_start_id = self.special[IM_START]
        self.im_end_id = self.special[IM_END]
        self.voice_id = self.special[VOICE]
        self.vocab_size = self.n_ranks + len(specials)

    @classmethod
    def from_s1_dir(cls, directory: str | Path) -> "FishTokenizer":
        """S1-mini: `tokenizer.tiktoken` + `special_tokens.json` (keys in file order)."""
        directory = Path(directory)
        path = directory / "tokenizer.tiktoken"
        if not path.is_file():
            raise FishError(404, "checkpoint", f"tokenizer file not found: {path}")
        specials = S1_SPECIAL_TOKENS
        special_file = directory / "special_tokens.json"
        if special_file.is_file():
            try:
                specials = list(json.loads(special_file.read_text()))
            except json.JSONDecodeError as e:
                raise FishError(422, "tokenizer", f"{special_file} is not valid JSON: {e}") from None
        return cls(read_ranks(path, skip_equals=True), name=directory.name or "s1", specials=specials)

    def token_id(self, token: str) -> int:
        return self.special[token]

    @classmethod
    def from_file(cls, path: str | Path) -> "FishTokenizer":
        path = Path(path)
        if path.is_dir():
            path = path / "tokenizer.tiktoken"
        if not path.is_file():
            raise FishError(404, "checkpoint", f"tokenizer file not found: {path}")
        tok = cls(read_ranks(path), name=path.parent.name or "fish")
        tok._check_special_file(path.parent / "special_tokens.json")
        return tok

    def _check_special_file(self, path: Path):
        if not path.is_file():
            return
        stored = json.loads(path.read_text())
        wrong = [t for t, i in stored.items() if self.special.get(t) != i]
        if wrong:
            raise FishError(422, "tokenizer", f"{path} disagrees with n_ranks + index for {wrong[:3]}")

    def encode(self, text: str) -> list[int]:
        pieces = [text[i : i + MAX_PIECE] for i in range(0, len(text), MAX_PIECE)] or [""]
        return [t for piece in pieces for t in self._enc.encode(piece, allowed_special="all")]

    def decode(self, ids: list[int]) -> str:
        return self._enc.decode(ids)

    def semantic_id(self, code: int) -> int:
        return self.semantic_begin_id + code

    def save(self, directory: str | Path, ranks: dict[bytes, int]):
        """Write `tokenizer.tiktoken` + `special_tokens.json` in the official layout."""
        directory = Path(directory)
        lines = [
            f"{base64.b64encode(tok).decode()} {rank}" for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1])
        ]
        (directory / "tokenizer.tiktoken").write_text("\n".join(lines) + "\n")
        (directory / "special_tokens.json").write_text(json.dumps(self.special, indent=2, ensure_ascii=False))
