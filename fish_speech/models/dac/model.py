"""Encoder, decoder and the top-level module whose attribute names are the checkpoint keys."""

from __future__ import annotations

from torch import nn

from .config import DacConfig
from .layers import CausalConv, CausalTransConv, ResidualUnit, Snake1d
from .quantizer import DownsampleQuantizer
from .transformer import WindowTransformer


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, stride: int, n_layer: int, window: int):
        super().__init__()
        half = dim // 2
        self.block = nn.Sequential(
            ResidualUnit(half, 1),
            ResidualUnit(half, 3),
            ResidualUnit(half, 9),
            Snake1d(half),
            CausalConv(half, dim, 2 * stride, stride=stride),
            WindowTransformer(dim, n_layer, window) if n_layer else nn.Identity(),
        )

    def forward(self, x):
        return self.block(x)


class Encoder(nn.Module):
    """Waveform [B, 1, L] -> latent [B, latent_dim, L / hop]. The single windowed transformer
    (in the last block) splits the stack into `front` (convs before it) and `back` (after it)."""

    def __init__(self, cfg: DacConfig):
        super().__init__()
        dim = cfg.encoder_dim
        blocks: list[nn.Module] = [CausalConv(1, dim, 7)]
        for stride, n_layer in zip(cfg.encoder_rates, cfg.encoder_transformer_layers):
            dim *= 2
            blocks.append(EncoderBlock(dim, stride, n_layer, cfg.encoder_window))
        blocks += [Snake1d(dim), CausalConv(dim, cfg.latent_dim, 3)]
        self.block = nn.Sequential(*blocks)

    def stages(self) -> list[nn.Module]:
        """Flat list of modules in order: convs, the transformers, convs."""
        out: list[nn.Module] = [self.block[0]]
        for b in self.block[1:-2]:
            out += [m for m in b.block if not isinstance(m, nn.Identity)]
        return out + [self.block[-2], self.block[-1]]

    def forward(self, x):
        return self.block(x)


class DecoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.block = nn.Sequential(
            Snake1d(cin),
            CausalTransConv(cin, cout, 2 * stride, stride),
            ResidualUnit(cout, 1),
            ResidualUnit(cout, 3),
            ResidualUnit(cout, 9),
        )

    def forward(self, x):
        return self.block(x)


class Decoder(nn.Module):
    def __init__(self, cfg: DacConfig):
        super().__init__()
        ch = cfg.decoder_dim
        layers: list[nn.Module] = [CausalConv(cfg.latent_dim, ch, 7)]
        for i, stride in enumerate(cfg.decoder_rates):
            layers.append(DecoderBlock(ch // 2**i, ch // 2 ** (i + 1), stride))
        out = ch // 2 ** len(cfg.decoder_rates)
        layers += [Snake1d(out), CausalConv(out, 1, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


class DAC(nn.Module):
    def __init__(self, cfg: DacConfig):
        super().__init__()
        self.config = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = DownsampleQuantizer(cfg)
        self.decoder = Decoder(cfg)
