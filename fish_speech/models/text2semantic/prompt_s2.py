"""Prompt tensors of OpenAudio S1-mini and Fish Audio S2-Pro (s2.md §5).

A prompt is a list of parts: text (tokenized on its own, so BPE never merges across parts; special
strings inside become special ids) or codes [N, F] (F columns: row 0 = semantic_begin + codes[0],
rows 1..N = all N code rows). The result is int32 [N+1, L]; rows 1..N are zero at text columns.

S2-Pro (ChatML): `<|im_start|>system\\n...<|im_end|>\\n<|im_start|>user\\n{text}<|im_end|>\\n
<|im_start|>assistant\\n<|voice|>`; references go into the system message (texts joined by "\\n",
each tagged `<|speaker:i|>` unless it already holds a speaker tag, then all codes in one run); every
`<|im_end|>` is followed by "\\n".
S1-mini: `<|interleave|>` + per reference `<|speaker:0|>{text}{codes}<|im_end|>` + `<|speaker:0|>{text}`.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from fish_speech.models.codes import check_code_array

IM_START, IM_END, VOICE, INTERLEAVE = "<|im_start|>", "<|im_end|>", "<|voice|>", "<|interleave|>"
S2_SYSTEM = "convert the provided text to speech"
S2_SYSTEM_REFS = "convert the provided text to speech reference to the following:\n\nText:\n"
S2_SPEECH = "\n\nSpeech:\n"
SPEAKER_TAG = re.compile(r"<\|speaker:\d+\|>")


def check_codes(codes, num_codebooks: int, codebook_size: int, field: str = "codes") -> np.ndarray:
    return check_code_array(codes, (codebook_size,) * num_codebooks, field, what="prompt codes")


def encode_parts(parts: list, tokenizer, num_codebooks: int, codebook_size: int) -> torch.Tensor:
    ids: list[int] = []
    code_cols: list[tuple[int, np.ndarray]] = []
    for part in parts:
        if isinstance(part, str):
            ids.extend(tokenizer.encode(part))
            continue
        codes = check_codes(part, num_codebooks, codebook_size)
        code_cols.append((len(ids), codes))
        ids.extend((codes[0] + tokenizer.semantic_begin_id).tolist())
    out = torch.zeros(num_codebooks + 1, len(ids), dtype=torch.int32)
    out[0] = torch.tensor(ids, dtype=torch.int32)
    for start, codes in code_cols:
        out[1:, start : start + codes.shape[1]] = torch.from_numpy(codes).to(torch.int32)
    return out


# ---- S2-Pro ------------------------------------------------------------------------------------
def s2_system_parts(references: list[tuple[str, np.ndarray]]) -> list:
    if not references:
        return [f"{IM_START}system\n", S2_SYSTEM, f"{IM_END}\n"]
    texts = [t if SPEAKER_TAG.search(t) else f"<|speaker:{i}|>{t}" for i, (t, _) in enumerate(references)]
    codes = np.concatenate([np.asarray(c) for _, c in references], axis=-1)  # [N, sum F]: no separators
    return [f"{IM_START}system\n", S2_SYSTEM_REFS, "\n".join(texts), S2_SPEECH, codes, f"{IM_END}\n"]


def s2_user_parts(text: str) -> list:
    return [f"{IM_START}user\n", text, f"{IM_END}\n"]


def s2_assistant_parts(codes: np.ndarray | None = None) -> list:
    """The generation header alone (codes None), or a finished voice turn."""
    head = [f"{IM_START}assistant\n{VOICE}"]
    return head if codes is None else head + [codes, f"{IM_END}\n"]


def split_text_by_speaker(text: str) -> list[str]:
    """Speaker turns: each tag with the text up to the next tag, stripped; text before the first tag
    is dropped (upstream). No tag: no turns."""
    pieces = re.split(r"(<\|speaker:\d+\|>)", text)
    turns = []
    for i, piece in enumerate(pieces):
        if SPEAKER_TAG.fullmatch(piece):
            turns.append((piece + (pieces[i + 1] if i + 1 < len(pieces) else "")).strip())
    return turns


def group_turns_into_batches(turns: list[str], max_speakers: int = 5, max_bytes: int = 300) -> list[str]:
    """Greedy batches of at most `max_speakers` turns and `max_bytes` UTF-8 bytes (a longer turn
    stays whole); a batch's text is its turns joined by newlines (not counted)."""
    batches, current, size = [], [], 0
    for turn in turns:
        n = len(turn.encode("utf-8"))
        if len(current) >= max_speakers or (current and size + n > max_bytes):
            batches.append("\n".join(current))
            current, size = [], 0
        current.append(turn)
        size += n
    if current:
        batches.append("\n".join(current))
    return batches


def s2_batches(text: str, chunk_length: int) -> list[str]:
    turns = split_text_by_speaker(text)
    return group_turns_into_batches(turns, max_bytes=chunk_length) if turns else [text]


# ---- S1-mini -----------------------------------------------------------------------------------
def s1_parts(text: str, references: list[tuple[str, np.ndarray]]) -> list:
    parts: list = [INTERLEAVE]
    for ref_text, codes in references:
        parts += ["<|speaker:0|>", ref_text, codes, IM_END]
    return parts + ["<|speaker:0|>", text]
