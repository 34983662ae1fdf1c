"""The cascade backend's language model: any Hugging Face causal chat model directory
(`AGENT_LLM_PATH`), writing the reply text token by token.

`transformers` is imported only here and only when this backend is chosen. The prompt comes from
the model's own chat template (ChatML when it has none); decoding is our own loop over the KV
cache so text streams out as it is produced and the job can stop between tokens. Sampling uses
the shared sampler (repetition penalty over the last 64 tokens, top-p, temperature; 0 = greedy):
AGENT_LLM_TEMPERATURE (0.7), AGENT_LLM_TOP_P (0.9), AGENT_LLM_REPETITION_PENALTY (1.05).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from fish_speech.errors import FishError
from fish_speech.models.text2semantic.loader import pick_device, pick_dtype
from fish_speech.models.text2semantic.sampling import sample

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
PENALTY_WINDOW = 64


class ChatLLM:
    def __init__(self, model, tokenizer, device: torch.device, knobs: tuple[float, float, float] = (0.7, 0.9, 1.05)):
        self.model, self.tokenizer, self.device = model, tokenizer, device
        if not getattr(tokenizer, "chat_template", None):
            tokenizer.chat_template = CHATML
        ids = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")}
        gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        ids.update(gen_eos if isinstance(gen_eos, (list, tuple)) else [gen_eos])
        self.stop_ids = {i for i in ids if isinstance(i, int) and i != tokenizer.unk_token_id}
        cfg = model.config
        self.context = int(getattr(cfg, "max_position_embeddings", 0) or getattr(tokenizer, "model_max_length", 4096))
        self.last_tokens = 0  # tokens of the latest reply (a cap hit shows as max_new_tokens)
        self.knobs = tuple(knobs)  # temperature, top_p, repetition penalty (AGENT_LLM_* settings)

    @classmethod
    def load(cls, path: str | Path, device: str | None = None, half: bool = False, knobs=(0.7, 0.9, 1.05)) -> ChatLLM:
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
            from transformers.utils import logging as hf_logging
        except ImportError as e:
            raise FishError(500, "AGENT_BACKEND", "AGENT_BACKEND=llm needs the 'transformers' package") from e
        if not Path(path).is_dir():
            raise FishError(404, "AGENT_LLM_PATH", f"LLM directory not found: {path}")
        hf_logging.disable_progress_bar()  # worker logs, not terminal progress bars
        dev = pick_device(device)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=pick_dtype(dev, half))
        return cls(model.to(dev).eval(), tokenizer, dev, knobs)

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):  # newer transformers return a BatchEncoding
            ids = ids["input_ids"]
        return list(ids)

    @torch.inference_mode()
    def stream(self, prompt: list[int], max_new_tokens: int) -> Iterator[str]:
        """Yield pieces of reply text as they become printable, until an end token or the cap."""
        temperature, top_p, penalty = (torch.tensor(v, device=self.device) for v in self.knobs)
        generated: list[int] = []
        self.last_tokens = 0
        prefix, read = 0, 0  # incremental detokenisation: text is only final once it stops changing
        past, inp = None, torch.tensor([prompt], device=self.device)
        for _ in range(max_new_tokens):
            out = self.model(input_ids=inp, past_key_values=past, use_cache=True)
            past = out.past_key_values
            history = torch.tensor([(generated or [prompt[-1]])[-PENALTY_WINDOW:]], device=self.device)
            token = int(sample(out.logits[:, -1].float(), temperature, top_p, penalty, history)[0])
            if token in self.stop_ids:
                break
            generated.append(token)
            self.last_tokens = len(generated)
            inp = torch.tensor([[token]], device=self.device)
            before = self.tokenizer.decode(generated[prefix:read], skip_special_tokens=True)
            now = self.tokenizer.decode(generated[prefix:], skip_special_tokens=True)
            if len(now) > len(before) and not now.endswith("\ufffd"):
                yield now[len(before) :]
                prefix, read = read, len(generated)
        rest = self.tokenizer.decode(generated[prefix:], skip_special_tokens=True)
        done = self.tokenizer.decode(generated[prefix:read], skip_special_tokens=True)
        if len(rest) > len(done):  # a last piece that never became printable on its own
            yield rest[len(done) :]
