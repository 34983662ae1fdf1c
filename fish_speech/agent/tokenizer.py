"""The fish-agent checkpoint's Hugging Face tokenizer (a Qwen2 byte-level BPE), read with the
`tokenizers` library from `tokenizer.json`; `transformers` is not needed.

Special tokens come from the tokenizer file itself (`added_tokens`), looked up by string as the
agent-inference code did. Text parts are encoded with special-token matching switched off, so a
user typing "<|im_end|>" gets plain text, not a turn boundary.
"""

from __future__ import annotations

import json
from pathlib import Path

from fish_speech.errors import FishError

IM_START, IM_END, SEMANTIC = "<|im_start|>", "<|im_end|>", "<|semantic|>"
END_OF_TEXT = "<|endoftext|>"


class AgentTokenizer:
    def __init__(self, tokenizer):
        from tokenizers import Tokenizer

        self._special = tokenizer
        # A copy that treats special-token strings in text as ordinary characters.
        self._plain = Tokenizer.from_str(tokenizer.to_str())
        self._plain.encode_special_tokens = True
        self.im_start_id = self.token_id(IM_START)
        self.im_end_id = self.token_id(IM_END)
        self.semantic_id = self.token_id(SEMANTIC)
        self.end_of_text_id = tokenizer.token_to_id(END_OF_TEXT)  # optional
        # Ids past this are padding rows of the embedding table: no text, never sampled.
        self.vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)

    @classmethod
    def from_dir(cls, path: str | Path) -> AgentTokenizer:
        try:
            from tokenizers import Tokenizer
        except ImportError as e:
            raise FishError(500, None, "agent mode needs the 'tokenizers' package (pip install tokenizers)") from e
        file = Path(path) / "tokenizer.json"
        if not file.is_file():
            raise FishError(404, "checkpoint", f"agent tokenizer not found: {file}")
        try:
            tokenizer = Tokenizer.from_file(str(file))
        except Exception as e:  # noqa: BLE001 - any parse failure of the file
            raise FishError(422, "checkpoint", f"cannot read {file}: {e}") from None
        add_listed_tokens(tokenizer, Path(path) / "added_tokens.json")
        return cls(tokenizer)

    def token_id(self, token: str) -> int:
        tid = self._special.token_to_id(token)
        if tid is None:
            raise FishError(422, "checkpoint", f"the agent tokenizer has no {token} token")
        return tid

    def encode(self, text: str) -> list[int]:
        """Plain text -> ids (no special tokens added or recognised)."""
        return self._plain.encode(text, add_special_tokens=False).ids if text else []

    def header(self, role: str) -> list[int]:
        """`<|im_start|>{role}\\n`, the opening of every message."""
        return [self.im_start_id] + self.encode(f"{role}\n")

    def decode(self, ids: list[int]) -> str:
        return self._special.decode(list(ids), skip_special_tokens=False)

    def stop_ids(self) -> tuple[int, ...]:
        return tuple(i for i in (self.im_end_id, self.end_of_text_id) if i is not None)


def add_listed_tokens(tokenizer, file: Path) -> None:
    """Tokens that `added_tokens.json` lists but `tokenizer.json` lacks (transformers reads both
    files; a download may carry `<|semantic|>` only in the former): add them in id order and
    check each lands on the id the file gives, so prompts use the ids the model was trained on."""
    if not file.is_file():
        return
    from tokenizers import AddedToken

    try:
        listed = json.loads(file.read_text(encoding="utf-8"))
        missing = sorted((int(i), str(t)) for t, i in listed.items() if tokenizer.token_to_id(t) is None)
    except Exception as e:  # noqa: BLE001 - malformed JSON or ids
        raise FishError(422, "checkpoint", f"cannot read {file}: {e}") from None
    for want, token in missing:
        tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False)])
        got = tokenizer.token_to_id(token)
        if got != want:
            raise FishError(422, "checkpoint", f"{file.name} gives {token} id {want}, but it would get id {got}")
