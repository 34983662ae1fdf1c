"""What a file given on a command line really is, from its first bytes, so a wrong file gets an error
that names what it is and what to pass instead (not a library's advice about pickles or `weights_only`).

`check_torch_file` runs before every `torch.load` of a checkpoint; `check_npy_file` before every
`np.load` of a codes file.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from fish_speech.errors import FishError

_MAGIC = (  # (prefix, what the file is)
    (b"\x93NUMPY", "a NumPy .npy array"),
    (b"RIFF", "a WAV audio file"),
    (b"fLaC", "a FLAC audio file"),
    (b"OggS", "an Ogg audio file"),
    (b"ID3", "an MP3 audio file"),
    (b"\xff\xfb", "an MP3 audio file"),
    (b"\xff\xf3", "an MP3 audio file"),
    (b"PK\x03\x04", "a zip file"),
    (b"\x80\x02", "a legacy PyTorch pickle"),
    (b"\x89HDF", "an HDF5 file"),
)


def sniff(path: str | Path) -> str:
    """A few words on what `path` is: 'a directory', 'a JSON file', 'a WAV audio file', ..."""
    path = Path(path)
    if path.is_dir():
        return "a directory"
    if not path.exists():
        return "missing"
    with open(path, "rb") as f:
        head = f.read(64)
    if not head:
        return "an empty file"
    for prefix, what in _MAGIC:
        if head.startswith(prefix):
            return what
    if len(head) >= 8 and int.from_bytes(head[:8], "little") < 100_000_000 and head[8:9] == b"{":
        return "a safetensors file"
    text = head.lstrip()
    if text[:1] in (b"{", b"["):
        return "a JSON file"
    try:
        head.decode("utf-8")
        return "a text file"
    except UnicodeDecodeError:
        return "an unknown binary file"


def check_torch_file(path: str | Path, field: str, wanted: str) -> None:
    """Raise a FishError naming `field` unless `path` looks like a complete PyTorch checkpoint.

    `wanted` says what to pass, e.g. "the codec file firefly-gan-vq-fsq-8x1024-21hz-generator.pth"."""
    path = Path(path)  # 422 throughout: an unusable checkpoint, as the loaders report it
    if path.is_dir():
        raise FishError(422, field, f"cannot read {path}: it is a directory; pass {wanted}")
    if not path.is_file():
        raise FishError(422, field, f"{path} not found; pass {wanted}")
    what = sniff(path)
    if what == "a zip file":
        if not zipfile.is_zipfile(path):  # the central directory sits at the end: gone when cut short
            size = os.path.getsize(path)
            raise FishError(
                422,
                field,
                f"cannot read {path}: a truncated or damaged PyTorch checkpoint ({size:,} bytes); download it again",
            )
        return
    if what == "a legacy PyTorch pickle":
        return
    raise FishError(422, field, f"cannot read {path}: it is {what}, not a PyTorch checkpoint; pass {wanted}")


def check_npy_file(path: str | Path, field: str, wanted: str) -> None:
    """Raise a FishError naming `field` unless `path` is a .npy file."""
    path = Path(path)
    if path.is_dir():
        raise FishError(400, field, f"{path} is a directory; pass {wanted}")
    if not path.is_file():
        raise FishError(404, field, f"file not found: {path}; pass {wanted}")
    what = sniff(path)
    if what != "a NumPy .npy array":
        raise FishError(400, field, f"{path} is {what}, not a .npy codes file; pass {wanted}")


MODEL_FOLDER = "the model folder of the download (config.json + weights + tokenizer), e.g. checkpoints/fish-speech-1.5"


def check_model_dir(path: str | Path, field: str = "checkpoint") -> None:
    """Raise a FishError naming `field` unless `path` is a directory."""
    path = Path(path)
    if path.is_dir():
        return
    if not path.exists():
        raise FishError(404, field, f"model folder not found: {path}; pass {MODEL_FOLDER}")
    raise FishError(400, field, f"{path} is {sniff(path)}, not a model folder; pass {MODEL_FOLDER}")
