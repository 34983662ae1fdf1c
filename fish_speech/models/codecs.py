"""Which codec a checkpoint file holds, told from its keys alone, and loading the matching class.

    firefly     Fish Speech 1.5 `firefly-gan-vq-fsq-8x1024-21hz-generator.pth`: 8 codebooks of 1000
    modded_dac  OpenAudio S1-mini / Fish Audio S2-Pro `codec.pth`: 10 codebooks (4096, then 9 x 1024)

Both classes share one surface: `sample_rate`, `frame_length`, `n_codebooks`, `codebook_sizes`,
`encode(audio, sample_rate)`, `decode(codes)`, `check_codes`, `decoder_context_frames`,
`device`, `dtype`; `StreamingDecoder(codec)` here picks the matching streaming decoder.
"""

from __future__ import annotations

import os

import torch

from fish_speech.errors import FishError
from fish_speech.models.vqgan.loading import read_checkpoint, select_generator

# key prefixes that only one family has (after unwrapping and dropping `generator.`)
_MARKERS = {
    "firefly": ("backbone.", "head.", "quantizer.residual_fsq."),
    "modded_dac": ("encoder.block.", "decoder.model.", "quantizer.semantic_quantizer."),
}


def kind_of_state_dict(obj, source: str = "state dict") -> str:
    sd = select_generator(obj)
    for kind, markers in _MARKERS.items():
        if all(any(k.startswith(m) for k in sd) for m in markers):
            return kind
    sample = ", ".join(sorted(sd)[:4]) or "no tensors"
    raise FishError(
        422,
        "checkpoint",
        f"{source} is neither a firefly (Fish Speech 1.5) nor a modded DAC (S1-mini / S2-Pro) codec: "
        f"found {len(sd)} entries ({sample}{', ...' if len(sd) > 4 else ''})",
    )


def codec_kind(path) -> str:
    """ "firefly" or "modded_dac"; reads only the key list (tensors stay memory-mapped)."""
    return kind_of_state_dict(read_checkpoint(path), os.fspath(path))


def load_codec(path, device="cpu", dtype: torch.dtype = torch.float32):
    obj = read_checkpoint(path)
    kind = kind_of_state_dict(obj, os.fspath(path))
    if kind == "firefly":
        from fish_speech.models.vqgan.codec import Codec

        return Codec.from_state_dict(obj, device, dtype, source=os.fspath(path))
    from fish_speech.models.dac.codec import DacCodec

    return DacCodec.from_state_dict(obj, device, dtype, source=os.fspath(path))


def StreamingDecoder(codec, context_frames: int | None = None):  # noqa: N802 (a class-like factory)
    """The streaming decoder of `codec`'s family; pushes concatenate to one `decode`."""
    from fish_speech.models.dac.codec import DacCodec
    from fish_speech.models.dac.codec import StreamingDecoder as DacStreaming
    from fish_speech.models.vqgan.codec import StreamingDecoder as FireflyStreaming

    cls = DacStreaming if isinstance(codec, DacCodec) else FireflyStreaming
    return cls(codec, context_frames)
