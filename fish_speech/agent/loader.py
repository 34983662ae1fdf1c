"""Load the fish-agent checkpoint (config.json + model.pth + Hugging Face tokenizer files) onto
the same `DualARTransformer` the tts checkpoints use.

"Agent" is not a model type: the weights load like any dual_ar checkpoint; what differs is the
tokenizer (Qwen2 BPE, one `<|semantic|>` marker instead of 1024 semantic tokens), the prompt
layout (prompt.py) and the decode step (generate.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from fish_speech.agent.tokenizer import AgentTokenizer
from fish_speech.errors import FishError
from fish_speech.models.text2semantic.config import ModelArgs
from fish_speech.models.text2semantic.loader import load_dual_ar
from fish_speech.models.text2semantic.model import DualARTransformer
from fish_speech.models.text2semantic.split_linear import pack_for_prompts


@dataclass
class AgentModel:
    model: DualARTransformer
    tokenizer: AgentTokenizer
    args: ModelArgs
    device: torch.device
    dtype: torch.dtype


def load_agent_model(
    path: str | Path, device: str | None = None, half: bool = False, packed_weight_bytes: int = 0
) -> AgentModel:
    """`packed_weight_bytes`: CPU float32 slow-layer weights also packed for prompts (0: off)."""
    path = Path(path)
    if not path.is_dir():
        raise FishError(404, "checkpoint", f"agent model directory not found: {path} (set AGENT_CHECKPOINT_PATH)")
    args = ModelArgs.load(path)
    if args.model_type != "dual_ar":
        raise FishError(422, "config.model_type", "the agent needs a dual_ar checkpoint")
    tokenizer = AgentTokenizer.from_dir(path)
    if args.vocab_size < tokenizer.vocab_size:
        raise FishError(
            422, "config.vocab_size", f"vocab_size {args.vocab_size} < the tokenizer's {tokenizer.vocab_size} ids"
        )
    # one semantic id: codebook embeddings count only under `<|semantic|>`
    model, dev, dtype = load_dual_ar(
        path / "model.pth", args, tokenizer.semantic_id, tokenizer.semantic_id, device, half
    )
    pack_for_prompts(model.slow_products(), packed_weight_bytes)
    return AgentModel(model, tokenizer, args, dev, dtype)
