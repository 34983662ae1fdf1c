"""Codec architecture sizes, and how to read them back from a checkpoint's tensor shapes.

What the file format fixes (44.1 kHz, 160 mels, hop 512, FSQ levels [8,5,5,5], 2048 samples
per code frame) is checked; channel counts, depths and kernel sizes are free, so the same loader
reads the official 47M-parameter file and tiny test checkpoints with the same key names.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from fish_speech.errors import FishError

from .fsq import LEVELS
from .mel import HOP, N_MELS

FRAME_LENGTH = 2048  # audio samples per code frame


@dataclass
class CodecConfig:
    encoder_dims: list[int] = field(default_factory=lambda: [128, 256, 384, 512])
    encoder_depths: list[int] = field(default_factory=lambda: [3, 3, 9, 3])
    block_kernel: int = 7  # ConvNeXt depthwise kernel (encoder and quantizer)
    stem_kernel: int = 7
    quant_dims: list[int] = field(default_factory=lambda: [512, 512])
    quant_factors: list[int] = field(default_factory=lambda: [2, 2])
    groups: int = 8
    head_channels: list[int] = field(default_factory=lambda: [512, 256, 128, 64, 32, 16])
    up_kernels: list[int] = field(default_factory=lambda: [16, 16, 4, 4, 4])
    resblock_kernels: list[int] = field(default_factory=lambda: [3, 7, 11])
    pre_kernel: int = 13
    post_kernel: int = 13

    @classmethod
    def full(cls) -> "CodecConfig":
        return cls()

    @classmethod
    def tiny(cls) -> "CodecConfig":
        return cls(
            encoder_dims=[16, 16, 24, 32],
            quant_dims=[32, 32],
            head_channels=[32, 16, 8, 4, 4, 2],
        )


def _fail(message: str) -> FishError:
    return FishError(422, "checkpoint", message)


def _shape(sd: dict, key: str, rank: int) -> tuple[int, ...]:
    if key not in sd:
        raise _fail(f"checkpoint is missing key {key}")
    shape = tuple(sd[key].shape)
    if len(shape) != rank:
        raise _fail(f"checkpoint key {key} has shape {list(shape)}, expected a rank-{rank} tensor")
    return shape


def _count(sd: dict, pattern: str) -> int:
    """1 + the largest index captured by `pattern` at the start of any key (0 if none)."""
    rx = re.compile(pattern)
    found = [int(m.group(1)) for k in sd if (m := rx.match(k))]
    return max(found) + 1 if found else 0


def infer_config(sd: dict) -> CodecConfig:
    """Sizes from a key-normalised state dict (weight norm already fused into `.weight`)."""
    levels = _count(sd, r"backbone\.downsample_layers\.(\d+)\.")
    if levels == 0:
        raise _fail("checkpoint has no backbone.downsample_layers.* keys; is this the firefly-gan-vq codec?")
    stem = _shape(sd, "backbone.downsample_layers.0.0.conv.weight", 3)
    if stem[1] != N_MELS:
        raise _fail(f"backbone stem expects {stem[1]} mel bands; this codec format uses {N_MELS}")
    dims = [stem[0]] + [_shape(sd, f"backbone.downsample_layers.{i}.1.weight", 3)[0] for i in range(1, levels)]
    depths = [_count(sd, rf"backbone\.stages\.{i}\.(\d+)\.") for i in range(levels)]
    block_kernel = _shape(sd, "backbone.stages.0.0.dwconv.conv.weight", 3)[2]

    stages = _count(sd, r"quantizer\.downsample\.(\d+)\.")
    down = [_shape(sd, f"quantizer.downsample.{s}.0.conv.weight", 3) for s in range(stages)]
    groups = _count(sd, r"quantizer\.residual_fsq\.rvqs\.(\d+)\.")
    if groups == 0:
        raise _fail("checkpoint has no quantizer.residual_fsq.rvqs.* keys")
    proj = _shape(sd, "quantizer.residual_fsq.rvqs.0.project_in.weight", 2)
    if proj[0] != len(LEVELS):
        raise _fail(f"quantizer projects to {proj[0]} values per group; FSQ levels {list(LEVELS)} need {len(LEVELS)}")

    n_ups = _count(sd, r"head\.ups\.(\d+)\.")
    pre = _shape(sd, "head.conv_pre.conv.weight", 3)
    ups = [_shape(sd, f"head.ups.{i}.conv.weight", 3) for i in range(n_ups)]
    n_branches = _count(sd, r"head\.resblocks\.0\.blocks\.(\d+)\.")
    rb = [_shape(sd, f"head.resblocks.0.blocks.{b}.convs1.0.conv.weight", 3)[2] for b in range(n_branches)]
    post = _shape(sd, "head.conv_post.conv.weight", 3)

    cfg = CodecConfig(
        encoder_dims=dims,
        encoder_depths=depths,
        block_kernel=block_kernel,
        stem_kernel=stem[2],
        quant_dims=[d[0] for d in down],
        quant_factors=[d[2] for d in down],
        groups=groups,
        head_channels=[pre[0]] + [u[1] for u in ups],
        up_kernels=[u[2] for u in ups],
        resblock_kernels=rb,
        pre_kernel=pre[2],
        post_kernel=post[2],
    )
    check_config(cfg, head_in=pre[1], quant_in=down[0][1] if down else None, group_dim=proj[1])
    return cfg


def check_config(
    cfg: CodecConfig, head_in: int | None = None, quant_in: int | None = None, group_dim: int | None = None
) -> None:
    """Reject sizes that contradict the format (frame length, group split, module hand-offs)."""
    if math.prod(cfg.quant_factors) * HOP != FRAME_LENGTH:
        raise _fail(
            f"quantizer downsampling x{math.prod(cfg.quant_factors)} does not give "
            f"{FRAME_LENGTH} samples per code frame (needs x{FRAME_LENGTH // HOP})"
        )
    if any(k % 2 for k in cfg.up_kernels) or math.prod(k // 2 for k in cfg.up_kernels) != HOP:
        raise _fail(f"head upsample kernels {cfg.up_kernels} do not upsample by {HOP}")
    latent = cfg.quant_dims[-1]
    if latent % cfg.groups or (group_dim is not None and group_dim * cfg.groups != latent):
        raise _fail(f"quantizer latent of {latent} channels does not split into {cfg.groups} groups")
    width = cfg.encoder_dims[-1]
    for name, got in (("quantizer input", quant_in), ("head input", head_in)):
        if got is not None and got != width:
            raise _fail(f"{name} has {got} channels but the encoder produces {width}")
