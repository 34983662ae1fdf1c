"""Fish Audio S2-Pro's Qwen3 tokenizer (`tokenizer.json`), read with the `tokenizers` package.

Upstream loads it through transformers' AutoTokenizer; the fast tokenizer underneath is this same
file, so `encode(text, add_special_tokens=False)` gives the same ids: added tokens typed in user
text become their single ids, everything else is byte-level BPE. The semantic range is found by
scanning the vocabulary for `<|semantic:i|>` (i < 4096), as upstream.
"""

from __future__ import annotations

from pathlib import Path

from fish_speech.errors import FishError

TOKENIZER_FILE = "tokenizer.json"
IM_START, IM_END, VOICE = "<|im_start|>", "<|im_end|>", "<|voice|>"
MAX_SEMANTIC = 4096


class HFTokenizer:
    def __init__(self, path: str | Path):
        from tokenizers import Tokenizer

        path = Path(path)
        if path.is_dir():
            path = path / TOKENIZER_FILE
        if not path.is_file():
            raise FishError(404, "checkpoint", f"tokenizer file not found: {path}")
        try:
            self._tok = Tokenizer.from_file(str(path))
        except Exception as e:  # not a tokenizers JSON file
            raise FishError(422, "tokenizer", f"cannot read {path}: {e}") from None
        semantic = [self._tok.token_to_id(f"<|semantic:{i}|>") for i in range(MAX_SEMANTIC)]
        found = [i for i in semantic if i is not None]
        if not found:
            raise FishError(422, "tokenizer", f"{path} has no <|semantic:i|> tokens")
        self.semantic_begin_id, self.semantic_end_id = min(found), max(found)
        self.num_semantic = len(found)
        self.im_start_id = self.token_id(IM_START)
        self.im_end_id = self.token_id(IM_END)
        self.voice_id = self.token_id(VOICE)
        self.vocab_size = self._tok.get_vocab_size(with_added_tokens=True)

    def token_id(self, token: str) -> int:
        i = self._tok.token_to_id(token)
        if i is None:
            raise FishError(422, "tokenizer", f"the tokenizer has no {token} token")
        return i

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self._tok.decode(ids, skip_special_tokens=False)

    def semantic_id(self, code: int) -> int:
        return self.semantic_begin_id + code
