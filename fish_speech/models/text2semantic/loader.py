"""Load an official text2semantic checkpoint directory of any family (see `detect.py`).

1.5 and S1-mini: config.json + model.pth + tokenizer.tiktoken; S2-Pro: nested config.json + sharded
safetensors + tokenizer.json. Key handling follows upstream (a Lightning `state_dict` wrapper; a
leading `model.` prefix removed from every key; separate wq/wk/wv merged into wqkv; S1/S2 `.pth`
files drop keys containing "audio_"; S2 published names remapped), but unlike upstream a missing
key or a wrong shape (and for S1/S2 an unexpected key) is an error that names it instead of
silently keeping random weights.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from fish_speech.errors import FishError
from fish_speech.models.file_kind import check_model_dir, check_torch_file
from fish_speech.models.skeleton import skeleton
from fish_speech.models.text2semantic.config import ModelArgs
from fish_speech.models.text2semantic.detect import FISH_15, S2_PRO, detect_family, read_config
from fish_speech.models.text2semantic.hf_tokenizer import HFTokenizer
from fish_speech.models.text2semantic.model import DualARTransformer, FeedForward
from fish_speech.models.text2semantic.omni import omni_args, read_safetensors, shard_files
from fish_speech.models.text2semantic.split_linear import split_linears, splits
from fish_speech.models.text2semantic.tokenizer import FishTokenizer

log = logging.getLogger(__name__)


def pick_device(device: str | None = None) -> torch.device:
    """The device asked for (None/"auto": CUDA when available, else CPU); one that does not exist or
    cannot be used here is a FishError naming `device`, not a torch traceback."""
    if device in (None, "", "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise FishError(
            400, "device", f"unknown device {device!r}; pass cpu, cuda, cuda:N or mps, or leave it out (auto)"
        ) from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = "this PyTorch build has no CUDA support" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise FishError(400, "device", f"{device!r} asked for, but {why}; pass cpu, or leave it out (auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise FishError(400, "device", f"{device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise FishError(400, "device", f"{device!r} asked for, but MPS is not available; pass cpu or leave it out")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise FishError(400, "device", f"device {device!r} is not supported; pass cpu, cuda, cuda:N or mps")
    return dev


def pick_dtype(device: torch.device, half: bool = False, family: str = FISH_15) -> torch.dtype:
    """CPU runs float32 (S2-Pro bfloat16: 18 GB of float32 would not fit); CUDA bfloat16; `half`
    forces float16 (GPUs without bf16)."""
    if half:
        return torch.float16
    return torch.bfloat16 if device.type == "cuda" or family == S2_PRO else torch.float32


def normalize_keys(state: dict) -> dict:
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    keys = list(state)
    if keys and keys[0].startswith("model."):
        state = {k.replace("model.", ""): v for k, v in state.items()}
    merged = dict(state)
    for k in list(state):
        if k.endswith(".attention.wq.weight"):
            prefix = k[: -len("wq.weight")]
            parts = [merged.pop(prefix + n + ".weight", None) for n in ("wq", "wk", "wv")]
            if any(p is None for p in parts):
                raise FishError(
                    422, "checkpoint", f"{prefix}wq/wk/wv: found some but not all of the split q/k/v weights"
                )
            merged[prefix + "wqkv.weight"] = torch.cat(parts, dim=0)
    return merged


def check_state(model: torch.nn.Module, state: dict, source: str, strict: bool = False):
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    wrong = [
        f"{k} {list(state[k].shape)} != {list(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    unexpected = [k for k in state if k not in expected and "kv_cache" not in k]
    if missing:
        raise FishError(422, "checkpoint", f"{source} is missing {len(missing)} keys: {', '.join(missing[:8])}")
    if wrong:
        raise FishError(422, "checkpoint", f"{source} has wrong shapes: {'; '.join(wrong[:8])}")
    if unexpected and strict:
        raise FishError(
            422, "checkpoint", f"{source} has {len(unexpected)} unexpected keys: {', '.join(unexpected[:8])}"
        )
    if unexpected:
        log.warning("%s: ignoring %d unexpected keys: %s", source, len(unexpected), ", ".join(unexpected[:8]))


@dataclass
class LanguageModel:
    model: DualARTransformer
    tokenizer: FishTokenizer | HFTokenizer
    args: ModelArgs
    device: torch.device
    dtype: torch.dtype
    family: str = FISH_15


def load_language_model(
    path: str | Path, device: str | None = None, half: bool = False, dtype: torch.dtype | None = None
) -> LanguageModel:
    """The language model of any family's folder; `dtype` overrides the device's default precision."""
    path = Path(path)
    check_model_dir(path)
    data = read_config(path)
    family = detect_family(path, data)
    if family == S2_PRO:
        args, tokenizer = omni_args(data), HFTokenizer(path)
    elif family == FISH_15:
        args, tokenizer = ModelArgs.from_dict(data), FishTokenizer.from_file(path / "tokenizer.tiktoken")
    else:
        args, tokenizer = ModelArgs.from_dict(data, keep_head_dim=True), FishTokenizer.from_s1_dir(path)
    if args.model_type != "dual_ar":
        raise FishError(
            422, "config.model_type", "only dual_ar checkpoints can generate (upstream's naive path is broken too)"
        )
    if args.vocab_size <= tokenizer.semantic_end_id:
        raise FishError(
            422,
            "config.vocab_size",
            f"vocab_size {args.vocab_size} is too small for the tokenizer's {tokenizer.semantic_end_id + 1} ids",
        )
    if tokenizer.num_semantic != args.codebook_size:
        raise FishError(
            422,
            "config.codebook_size",
            f"codebook_size {args.codebook_size} but the tokenizer has {tokenizer.num_semantic} semantic tokens",
        )
    dev = pick_device(device)
    dtype = dtype or pick_dtype(dev, half, family)
    weights = path / "model.pth"
    if family == S2_PRO:
        files = shard_files(path)
        state, weights = read_safetensors(files, dtype), files[0].parent / "model-*.safetensors"
    else:
        state = read_pth(weights, drop_audio=family != FISH_15)
    model = build_model(state, args, tokenizer, str(weights), strict=family != FISH_15)
    return LanguageModel(place(model, dev, dtype), tokenizer, args, dev, dtype, family)


def read_pth(weights: Path, drop_audio: bool = False) -> dict:
    check_torch_file(weights, "checkpoint", "the model.pth of the official download")
    try:
        state = torch.load(weights, map_location="cpu", mmap=True, weights_only=True)
    except Exception as e:  # a truncated or foreign file: say which
        raise FishError(422, "checkpoint", f"cannot read {weights}: {e}") from None
    if not isinstance(state, dict):
        raise FishError(422, "checkpoint", f"{weights} does not hold a state dict")
    state = normalize_keys(state)
    if drop_audio:  # S1-era rule: audio-encoder leftovers are not part of the LM
        state = {k: v for k, v in state.items() if "audio_" not in k}
    return state


def build_model(state: dict, args: ModelArgs, tokenizer, source: str, strict: bool = False) -> DualARTransformer:
    """Adopt `state`'s tensors (no copy) into a model built on the meta device."""
    with skeleton():  # no throw-away random init: checkpoint tensors are assigned
        model = DualARTransformer(args, tokenizer.semantic_begin_id, tokenizer.semantic_end_id)
    check_state(model, state, source, strict)
    model.load_state_dict(state, strict=False, assign=True)
    return model


def load_dual_ar(
    weights: Path,
    args: ModelArgs,
    semantic_begin_id: int,
    semantic_end_id: int,
    device: str | None = None,
    half: bool = False,
) -> tuple[DualARTransformer, torch.device, torch.dtype]:
    """Read a 1.5-layout `model.pth` into a DualARTransformer on the chosen device and precision (agent)."""
    state = read_pth(weights)
    with skeleton():  # no throw-away random init: checkpoint tensors are assigned
        model = DualARTransformer(args, semantic_begin_id, semantic_end_id)
    check_state(model, state, str(weights))
    model.load_state_dict(state, strict=False, assign=True)
    dev = pick_device(device)
    dtype = pick_dtype(dev, half)
    return place(model, dev, dtype), dev, dtype


def place(model: DualARTransformer, dev: torch.device, dtype: torch.dtype) -> DualARTransformer:
    """Move a loaded model to its device and precision (rope tables keep their bf16 rounding); on
    the CPU in float32 its linear layers take the layout that few-row decode steps read fastest."""
    if splits(dev, dtype):  # before the move: one copy per weight does layout and precision
        for m in model.modules():
            if isinstance(m, FeedForward):
                m.fuse_gates(dtype)
        split_linears(model, dtype)
    return model.to(device=dev, dtype=dtype).eval()
