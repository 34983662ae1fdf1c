"""Write a tiny random Hugging Face causal chat model directory (for the cascade backend's tests
and smoke runs): a 1-layer Llama with the agent test tokenizer and a ChatML chat template.
Needs `transformers`.

    python -m fish_speech.testing.tiny_llm --out checkpoints/tiny-llm
"""

from __future__ import annotations

import argparse
from pathlib import Path

from fish_speech.agent.llm import CHATML
from fish_speech.models.random_weights import write_marker
from fish_speech.testing.agent_checkpoint import build_tokenizer


def write_tiny_llm(directory: str | Path, seed: int = 0) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tok = PreTrainedTokenizerFast(tokenizer_object=build_tokenizer(), eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = CHATML
    tok.save_pretrained(directory)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(directory)
    write_marker(directory)
    return directory


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="checkpoints/tiny-llm")
    print(write_tiny_llm(ap.parse_args(argv).out))


if __name__ == "__main__":
    main()
