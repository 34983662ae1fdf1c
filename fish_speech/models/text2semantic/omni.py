"""Fish Audio S2-Pro's files: the nested `fish_qwen3_omni` config.json and the sharded safetensors.

The config maps onto the same `ModelArgs` as 1.5 (upstream `_from_fish_qwen3_omni`): `text_config`
gives the slow model, `audio_decoder_config` the fast one; `scale_codebook_embeddings` and
`norm_fastlayer_input` are always on; the audio decoder's rope_base / norm_eps / max_seq_len are
ignored (the fast layers use the text values), and a text_config without `head_dim` gets 64 (an
upstream quirk kept so the same file builds the same model).

Published weight names: `text_model.model.X` is the slow model's `X`; `audio_decoder.codebook_embeddings`
belongs to the slow model's input embedding; any other `audio_decoder.X` is the fast model's `fast_X`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from fish_speech.errors import FishError
from fish_speech.models.text2semantic.config import ModelArgs

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"

# model arg <- text_config key
_TEXT_KEYS = (
    "vocab_size",
    "n_layer",
    "n_head",
    "dim",
    "n_local_heads",
    "head_dim",
    "intermediate_size",
    "rope_base",
    "norm_eps",
    "max_seq_len",
    "dropout",
    "tie_word_embeddings",
    "attention_qkv_bias",
    "attention_o_bias",
    "attention_qk_norm",
    "use_gradient_checkpointing",
    "initializer_range",
)
_REQUIRED_TEXT = ("vocab_size", "n_layer", "n_head", "dim")
# model arg <- audio_decoder_config key
_AUDIO_KEYS = {
    "codebook_size": "vocab_size",
    "num_codebooks": "num_codebooks",
    "n_fast_layer": "n_layer",
    "fast_dim": "dim",
    "fast_n_head": "n_head",
    "fast_n_local_heads": "n_local_heads",
    "fast_head_dim": "head_dim",
    "fast_intermediate_size": "intermediate_size",
    "fast_attention_qkv_bias": "attention_qkv_bias",
    "fast_attention_qk_norm": "attention_qk_norm",
    "fast_attention_o_bias": "attention_o_bias",
}
# upstream defaults where text_config omits a key (dataclass defaults of DualARModelArgs)
_TEXT_DEFAULTS = dict(
    n_local_heads=-1, head_dim=64, rope_base=10000, norm_eps=1e-5, max_seq_len=2048, tie_word_embeddings=True
)


def omni_args(data: dict) -> ModelArgs:
    """`ModelArgs` of a `fish_qwen3_omni` config dict."""
    text = data.get("text_config")
    audio = data.get("audio_decoder_config")
    if not isinstance(text, dict) or not isinstance(audio, dict):
        raise FishError(422, "config", "a fish_qwen3_omni config needs text_config and audio_decoder_config objects")
    missing = [f"text_config.{k}" for k in _REQUIRED_TEXT if k not in text]
    missing += [f"audio_decoder_config.{k}" for k in ("vocab_size", "num_codebooks", "n_layer") if k not in audio]
    if missing:
        raise FishError(422, "config", f"missing config keys: {', '.join(missing)}")
    values = {k: text.get(k, _TEXT_DEFAULTS.get(k)) for k in _TEXT_KEYS}
    values.update({arg: audio.get(key) for arg, key in _AUDIO_KEYS.items()})
    values = {k: v for k, v in values.items() if v is not None}
    values.update(model_type="dual_ar", scale_codebook_embeddings=True, norm_fastlayer_input=True)
    return ModelArgs(**values, keep_head_dim=True)


def remap_keys(state: dict) -> dict:
    """Published S2 names -> internal names (a no-op on internal names)."""
    if not any(k.startswith(("text_model.", "audio_decoder.")) for k in state):
        return state
    out = {}
    for k, v in state.items():
        if k.startswith("text_model.model."):
            k = k[len("text_model.model.") :]
        elif k.startswith("audio_decoder.codebook_embeddings."):
            k = k[len("audio_decoder.") :]
        elif k.startswith("audio_decoder."):
            k = "fast_" + k[len("audio_decoder.") :]
        out[k] = v
    return out


def publish_keys(state: dict) -> dict:
    """Internal names -> the names in the official S2-Pro shards (the writer's inverse of `remap_keys`)."""
    out = {}
    for k, v in state.items():
        if k.startswith("codebook_embeddings."):
            out["audio_decoder." + k] = v
        elif k.startswith("fast_"):
            out["audio_decoder." + k[len("fast_") :]] = v
        else:
            out["text_model.model." + k] = v
    return out


def shard_files(directory: Path) -> list[Path]:
    """The safetensors files of a checkpoint: every shard named by the index (sorted), else the single file."""
    index = directory / INDEX_FILE
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise FishError(422, "checkpoint", f"{index} is not a safetensors index: {e}") from None
        files = [directory / name for name in sorted(set(weight_map.values()))]
        absent = [f.name for f in files if not f.is_file()]
        if absent:
            raise FishError(404, "checkpoint", f"{index} names shards that are not there: {', '.join(absent)}")
        return files
    if (directory / SINGLE_FILE).is_file():
        return [directory / SINGLE_FILE]
    raise FishError(404, "checkpoint", f"no {INDEX_FILE} or {SINGLE_FILE} in {directory}")


def read_safetensors(files: list[Path], dtype: torch.dtype) -> dict:
    """Every tensor of the shards, memory-mapped and cast one by one: host memory peaks near one copy
    of the weights in `dtype`, never a whole shard in its stored precision on top."""
    from safetensors import safe_open

    state = {}
    for path in files:
        try:
            with safe_open(str(path), framework="pt", device="cpu") as f:
                for key in f.keys():
                    state[key] = f.get_tensor(key).to(dtype)
        except FishError:
            raise
        except Exception as e:  # a truncated or foreign file: say which
            raise FishError(422, "checkpoint", f"cannot read {path}: {e}") from None
    return remap_keys(state)
