"""Which model family a checkpoint folder holds, from its files alone.

| family | config.json | weights | tokenizer | codec |
| fish-speech-1.5 | "dual_ar", no QK-norm | model.pth | tokenizer.tiktoken | firefly-gan-vq-fsq-8x1024-21hz-generator.pth |
| openaudio-s1-mini | "dual_ar" + attention_qk_norm | model.pth | tokenizer.tiktoken + special_tokens.json | codec.pth |
| fish-audio-s2-pro | "fish_qwen3_omni" (nested) | model.safetensors.index.json + shards | tokenizer.json | codec.pth |

A folder that matches none, or mixes the files of two, is an error naming what was found.
"""

from __future__ import annotations

import json
from pathlib import Path

from fish_speech.errors import FishError
from fish_speech.models.file_kind import MODEL_FOLDER, check_model_dir
from fish_speech.models.vqgan.codec import CHECKPOINT_FILE as FIREFLY_FILE

FISH_15 = "fish-speech-1.5"
S1_MINI = "openaudio-s1-mini"
S2_PRO = "fish-audio-s2-pro"
FAMILIES = (FISH_15, S1_MINI, S2_PRO)
CODEC_FILES = {
    FISH_15: FIREFLY_FILE,
    S1_MINI: "codec.pth",
    S2_PRO: "codec.pth",
}
_SAFETENSORS = ("model.safetensors.index.json", "model.safetensors")


def read_config(directory: Path) -> dict:
    path = directory / "config.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FishError(404, "checkpoint", f"config file not found: {path}; pass {MODEL_FOLDER}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise FishError(422, "checkpoint", f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise FishError(422, "checkpoint", f"{path} does not hold a JSON object")
    return data


def _found(directory: Path, config: dict) -> str:
    names = sorted(p.name for p in directory.iterdir())[:12]
    return f"model_type {config.get('model_type')!r}, files: {', '.join(names) or 'none'}"


def detect_family(directory: str | Path, config: dict | None = None) -> str:
    """One of FAMILIES for the checkpoint folder `directory`."""
    directory = Path(directory)
    check_model_dir(directory)
    config = read_config(directory) if config is None else config
    kind = config.get("model_type")
    has = {name: (directory / name).is_file() for name in ("model.pth", "tokenizer.tiktoken", "tokenizer.json")}
    has_st = any((directory / n).is_file() for n in _SAFETENSORS)
    if kind == "fish_qwen3_omni":
        family, weights_ok, tok_ok = S2_PRO, has_st and not has["model.pth"], has["tokenizer.json"]
        wanted = "model.safetensors.index.json + shards and tokenizer.json"
    elif kind == "dual_ar":
        family = S1_MINI if config.get("attention_qk_norm") else FISH_15
        weights_ok, tok_ok = has["model.pth"] and not has_st, has["tokenizer.tiktoken"] and not has["tokenizer.json"]
        wanted = "model.pth and tokenizer.tiktoken" + (" + special_tokens.json" if family == S1_MINI else "")
    else:
        raise FishError(
            422,
            "checkpoint",
            f"{directory} is not a Fish Speech 1.5, OpenAudio S1-mini or S2-Pro folder ({_found(directory, config)})",
        )
    if not (weights_ok and tok_ok):
        raise FishError(
            422,
            "checkpoint",
            f"{directory} looks like {family} but does not hold exactly its files "
            f"(needs {wanted}; found {_found(directory, config)}): missing tokenizer or weights, or a mixed folder",
        )
    return family
