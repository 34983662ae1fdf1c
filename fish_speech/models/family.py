"""The model-family seam: everything family-specific an engine needs, loaded from a checkpoint folder.

    family = load_family("checkpoints/s2-pro")        # or openaudio-s1-mini, fish-speech-1.5
    family.name                                        # "fish-audio-s2-pro"
    gen = family.generator(compile=False)              # the shared decode loop with the family's frame rule
    for block in family.generate_long(gen, text, refs, max_new_tokens, chunk_length): ...
    family.codec                                        # loaded on first use (beside the weights by default)

Engines and surfaces import this module only; the families' own modules stay below `fish_speech/models/`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from fish_speech.errors import FishError
from fish_speech.models.text2semantic.detect import CODEC_FILES, FISH_15, S1_MINI, S2_PRO, detect_family
from fish_speech.models.text2semantic.frames import CLI_DEFAULTS, RULES, FrameRule
from fish_speech.models.text2semantic.generate import WAIT, Generator
from fish_speech.models.text2semantic.loader import LanguageModel, load_language_model, pick_device
from fish_speech.models.text2semantic.long_form import CodesBlock, generate_long
from fish_speech.models.text2semantic.prefix import PrefixCache
from fish_speech.models.text2semantic.split_linear import pack_for_prompts

__all__ = ["WAIT", "ModelFamily", "load_family"]  # WAIT: what a batch slot yields while its frames compute

# Request sampling fields each family honours (others are accepted by the API and ignored).
SAMPLING_FIELDS = {
    FISH_15: frozenset({"temperature", "top_p", "repetition_penalty", "seed", "max_new_tokens"}),
    S1_MINI: frozenset({"temperature", "top_p", "repetition_penalty", "seed", "max_new_tokens"}),
    S2_PRO: frozenset({"temperature", "top_p", "top_k", "seed", "max_new_tokens"}),
}


@dataclass(frozen=True)
class PromptBuilder:
    """The family's prompt pieces; `generate_long` assembles them with the family's context rule."""

    system: object  # 1.5: (tokenizer, N) -> tensor; S2: (references) -> parts
    reference: object | None  # 1.5: (text, codes, tokenizer, N) -> tensor; S1/S2: None (refs live in system/turns)
    chunk: object  # 1.5: (text, tokenizer, N) -> tensor; S2: (text) -> user parts; S1: (text, refs) -> parts
    context: object  # how earlier chunks are kept (1.5: select_context; S2: everything; S1: one generation)


def _prompt_builder(name: str) -> PromptBuilder:
    if name == FISH_15:
        from fish_speech.models.text2semantic import prompt as p

        return PromptBuilder(p.system_prompt, p.reference_prompt, p.chunk_prompt, p.select_context)
    from fish_speech.models.text2semantic import prompt_s2 as p

    if name == S2_PRO:
        return PromptBuilder(p.s2_system_parts, None, p.s2_user_parts, "whole conversation")
    return PromptBuilder(p.s1_parts, None, p.s1_parts, "one generation")


@dataclass
class ModelFamily:
    name: str  # "fish-speech-1.5" | "openaudio-s1-mini" | "fish-audio-s2-pro"
    checkpoint_dir: Path
    lm: LanguageModel
    codec_path: Path
    compile: bool = False
    half: bool = False
    prefix_cache: PrefixCache = field(default_factory=PrefixCache)  # voice prompt heads' K/V (budget 0: off)
    rule: FrameRule = field(init=False)  # decode step (`rule.frame`) and its sampling tables (`rule.tables`)
    prompts: PromptBuilder = field(init=False)
    sampling_defaults: dict = field(init=False)  # temperature, top_p, repetition_penalty, top_k, chunk_length
    sampling_fields: frozenset = field(init=False)
    _codec: object = field(default=None, init=False, repr=False)

    def __post_init__(self):
        self.rule = RULES[self.name]
        self.prompts = _prompt_builder(self.name)
        self.sampling_defaults = dict(CLI_DEFAULTS[self.name])
        self.sampling_fields = SAMPLING_FIELDS[self.name]

    @property
    def device(self) -> torch.device:
        return self.lm.device

    @property
    def num_codebooks(self) -> int:
        return self.lm.args.num_codebooks

    @property
    def codec(self):
        """Loaded on first use, so the language model alone (CLI step 2) needs no codec file."""
        if self._codec is None:
            if not self.codec_path.is_file():
                raise FishError(404, "codec", f"codec file not found: {self.codec_path}")
            from fish_speech.models.codecs import load_codec

            self._codec = load_codec(self.codec_path, device=str(self.device))
            if self._codec.n_codebooks != self.num_codebooks:
                raise FishError(
                    422,
                    "codec",
                    f"{self.codec_path} has {self._codec.n_codebooks} codebooks; {self.name} speaks {self.num_codebooks}",
                )
        return self._codec

    def generator(self, compile: bool | None = None) -> Generator:
        return Generator(self.lm, self.compile if compile is None else compile, self.prefix_cache)

    def batch_generator(self, max_batch: int):
        """Continuous batching (1.5 only): `max_batch` rows sharing each decode step and the prefix cache."""
        from fish_speech.models.text2semantic.batch import BatchGenerator

        return BatchGenerator(self.lm, max_batch, self.compile, self.prefix_cache)

    def generate_long(
        self,
        generator,
        text: str,
        references: list[tuple[str, np.ndarray]] = (),
        max_new_tokens: int = 0,
        chunk_length: int | None = None,
        sync_every: int = 8,
    ) -> Iterator[CodesBlock]:
        chunk = self.sampling_defaults["chunk_length"] if chunk_length is None else chunk_length
        return generate_long(generator, text, references, max_new_tokens, chunk, sync_every)

    def streaming_decoder(self):
        """A causal decoder that carries codec context across pushes of codes [N, k]."""
        from fish_speech.models.codecs import StreamingDecoder

        return StreamingDecoder(self.codec)


def load_family(
    checkpoint_dir: str | Path,
    codec_path: str | Path | None = None,
    device: str | None = None,
    half: bool = False,
    compile: bool = False,
    dtype: torch.dtype | None = None,
    prefix_cache_bytes: int = 0,
    packed_weight_bytes: int = 0,
) -> ModelFamily:
    """Detect the family of `checkpoint_dir` and load its language model (the codec on first use).
    `prefix_cache_bytes`: the prefix KV cache's budget (0: no prefix cache); `packed_weight_bytes`:
    CPU float32, slow-layer weights also kept packed for prompts (`split_linear.pack_for_prompts`)."""
    checkpoint_dir = Path(checkpoint_dir)
    name = detect_family(checkpoint_dir)
    lm = load_language_model(checkpoint_dir, device=str(pick_device(device)), half=half, dtype=dtype)
    pack_for_prompts(lm.model.slow_products(), packed_weight_bytes)
    codec = Path(codec_path) if codec_path else checkpoint_dir / CODEC_FILES[name]
    return ModelFamily(
        name, checkpoint_dir, lm, codec, compile=compile, half=half, prefix_cache=PrefixCache(prefix_cache_bytes)
    )
