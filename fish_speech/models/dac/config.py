"""Sizes of the modded DAC; the official file's values are the defaults, and `infer_config` reads
them back from tensor shapes so a checkpoint alone decides the architecture.

Window sizes and the attention head width are not visible in any tensor shape: upstream fixes
them (512 latent steps in the encoder, 128 frames in the quantizer, 64-wide heads).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

import torch

from fish_speech.errors import FishError

SAMPLE_RATE = 44100
HEAD_DIM = 64
ROPE_BASE = 10000
NORM_EPS = 1e-5
ENCODER_WINDOW = 512
SEMANTIC_CODEBOOK_SIZE = 4096  # row 0 of the codes
CODEBOOK_SIZE = 1024  # rows 1..9
QUANTIZER_WINDOW = 128


@dataclass(frozen=True)
class DacConfig:
    encoder_dim: int = 64
    encoder_rates: tuple[int, ...] = (2, 4, 8, 8)
    encoder_transformer_layers: tuple[int, ...] = (0, 0, 0, 4)
    decoder_dim: int = 1536
    decoder_rates: tuple[int, ...] = (8, 8, 4, 2)
    n_codebooks: int = 9  # residual codebooks; the semantic one comes on top
    codebook_size: int = CODEBOOK_SIZE
    semantic_codebook_size: int = SEMANTIC_CODEBOOK_SIZE
    codebook_dim: int = 8
    downsample_factor: tuple[int, ...] = (2, 2)
    quantizer_layers: int = 8  # each of pre_module and post_module
    encoder_window: int = ENCODER_WINDOW
    quantizer_window: int = QUANTIZER_WINDOW

    @property
    def latent_dim(self) -> int:
        return self.encoder_dim * 2 ** len(self.encoder_rates)

    @property
    def hop_length(self) -> int:
        return math.prod(self.encoder_rates)

    @property
    def frame_length(self) -> int:
        return self.hop_length * math.prod(self.downsample_factor)

    @property
    def codebook_sizes(self) -> tuple[int, ...]:
        return (self.semantic_codebook_size,) + (self.codebook_size,) * self.n_codebooks

    @classmethod
    def full(cls) -> "DacConfig":
        return cls()

    @classmethod
    def tiny(cls) -> "DacConfig":
        """Every key name and rank of the real file, small channel counts (2 heads of 64)."""
        return cls(encoder_dim=8, decoder_dim=64, encoder_transformer_layers=(0, 0, 0, 2), quantizer_layers=2)

    def with_windows(self, encoder: int, quantizer: int) -> "DacConfig":
        return replace(self, encoder_window=int(encoder), quantizer_window=int(quantizer))


def checkpoint_error(message: str) -> FishError:
    return FishError(422, "checkpoint", message)


def _count(sd: Mapping[str, torch.Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    found = {int(m.group(1)) for k in sd if (m := rx.match(k))}
    return max(found) + 1 if found else 0


def _shape(sd: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...]:
    if key not in sd:
        raise checkpoint_error(f"codec checkpoint is missing key {key}")
    return tuple(sd[key].shape)


def infer_config(sd: Mapping[str, torch.Tensor]) -> DacConfig:
    """Sizes from a normalized (weight-norm fused, unprefixed) state dict."""
    enc_blocks = _count(sd, r"encoder\.block\.(\d+)\.block\.4\.conv\.weight$")
    enc_rates = tuple(_shape(sd, f"encoder.block.{i}.block.4.conv.weight")[2] // 2 for i in range(1, enc_blocks))
    enc_layers = tuple(_count(sd, rf"encoder\.block\.{i}\.block\.5\.layers\.(\d+)\.") for i in range(1, enc_blocks))
    dec_blocks = _count(sd, r"decoder\.model\.(\d+)\.block\.1\.conv\.weight$")
    dec_rates = tuple(_shape(sd, f"decoder.model.{i}.block.1.conv.weight")[2] // 2 for i in range(1, dec_blocks))
    sem = _shape(sd, "quantizer.semantic_quantizer.quantizers.0.codebook.weight")
    res = _shape(sd, "quantizer.quantizer.quantizers.0.codebook.weight")
    n_down = _count(sd, r"quantizer\.downsample\.(\d+)\.0\.conv\.weight$")
    factors = tuple(_shape(sd, f"quantizer.downsample.{i}.0.conv.weight")[2] for i in range(n_down))
    return DacConfig(
        encoder_dim=_shape(sd, "encoder.block.0.conv.weight")[0],
        encoder_rates=enc_rates,
        encoder_transformer_layers=enc_layers,
        decoder_dim=_shape(sd, "decoder.model.0.conv.weight")[0],
        decoder_rates=dec_rates,
        n_codebooks=_count(sd, r"quantizer\.quantizer\.quantizers\.(\d+)\."),
        codebook_size=res[0],
        semantic_codebook_size=sem[0],
        codebook_dim=sem[1],
        downsample_factor=factors,
        quantizer_layers=_count(sd, r"quantizer\.pre_module\.layers\.(\d+)\."),
    )


def check_config(cfg: DacConfig) -> None:
    problems = []
    if len(cfg.encoder_rates) == 0 or len(cfg.encoder_transformer_layers) != len(cfg.encoder_rates):
        problems.append(f"encoder rates {cfg.encoder_rates} / transformer layers {cfg.encoder_transformer_layers}")
    if cfg.latent_dim % HEAD_DIM:
        problems.append(f"latent width {cfg.latent_dim} is not a multiple of the {HEAD_DIM}-wide heads")
    for i, n in enumerate(cfg.encoder_transformer_layers):
        if n and (cfg.encoder_dim * 2 ** (i + 1)) % HEAD_DIM:
            problems.append(f"encoder block {i + 1} width is not a multiple of {HEAD_DIM}")
    if not cfg.decoder_rates or cfg.decoder_dim % 2 ** len(cfg.decoder_rates):
        problems.append(f"decoder width {cfg.decoder_dim} with rates {cfg.decoder_rates}")
    if cfg.n_codebooks < 1 or cfg.quantizer_layers < 1:
        problems.append(f"{cfg.n_codebooks} residual codebooks, {cfg.quantizer_layers} quantizer layers")
    if cfg.encoder_window < 1 or cfg.quantizer_window < 1:
        problems.append("attention windows must be positive")
    if problems:
        raise checkpoint_error("codec checkpoint has an unsupported modded DAC layout: " + "; ".join(problems))
