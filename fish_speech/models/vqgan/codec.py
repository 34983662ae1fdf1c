"""The firefly-gan-vq-fsq-8x1024-21hz codec: 44.1 kHz audio <-> integer codes [8, T] at 21.5 Hz.

Attribute names (`backbone`, `quantizer`, `head`) reproduce the official state-dict keys, so a
checkpoint loads with plain `load_state_dict` once `loading.normalize_state_dict` has run.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from fish_speech.audio.resample import resample
from fish_speech.errors import FishError
from fish_speech.models.codes import check_code_tensor
from fish_speech.models.skeleton import skeleton

from .config import FRAME_LENGTH, CodecConfig, check_config, infer_config
from .encoder import ConvNeXtEncoder
from .fsq import CODEBOOK_SIZE
from .generator import HiFiGANGenerator
from .loading import check_keys, normalize_state_dict, read_checkpoint
from .mel import HOP, MIN_SAMPLES, N_MELS, SAMPLE_RATE, LogMelSpectrogram
from .quantizer import DownsampleFSQ

CHECKPOINT_FILE = "firefly-gan-vq-fsq-8x1024-21hz-generator.pth"  # its name in the official folder
MAX_CHANNELS = 64  # a 2-D input with more "channels" than this is almost surely [samples, channels]


class Codec(nn.Module):
    sample_rate = SAMPLE_RATE
    frame_length = FRAME_LENGTH
    hop_length = HOP
    codebook_size = CODEBOOK_SIZE

    def __init__(self, config: CodecConfig | None = None):
        super().__init__()
        cfg = config or CodecConfig.full()
        check_config(cfg)
        self.config = cfg
        self.spec_transform = LogMelSpectrogram()
        self.backbone = ConvNeXtEncoder(N_MELS, cfg.encoder_dims, cfg.encoder_depths, cfg.block_kernel, cfg.stem_kernel)
        self.quantizer = DownsampleFSQ(
            cfg.encoder_dims[-1], cfg.groups, cfg.quant_factors, cfg.quant_dims, cfg.block_kernel
        )
        self.head = HiFiGANGenerator(
            cfg.encoder_dims[-1],
            cfg.head_channels,
            cfg.up_kernels,
            cfg.resblock_kernels,
            cfg.pre_kernel,
            cfg.post_kernel,
        )
        self.n_codebooks = cfg.groups
        self.codebook_sizes = (CODEBOOK_SIZE,) * cfg.groups  # valid ids per row: 0..size-1
        # code frames of left context that affect a decoded frame (for exact streaming)
        self.decoder_context_frames = self.quantizer.upsample_context(self.head.context())

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_state_dict(
        cls, state_dict, device="cpu", dtype: torch.dtype = torch.float32, source: str = "state dict"
    ) -> "Codec":
        sd = normalize_state_dict(state_dict)
        cfg = infer_config(sd)
        with skeleton():  # no throw-away random init; checkpoint tensors are assigned
            model = cls(cfg)
        check_keys({k: v.shape for k, v in model.state_dict().items()}, sd, source)
        model.load_state_dict(sd, strict=True, assign=True)
        for p in model.parameters():
            p.requires_grad_(False)
            p.data = p.data.to(dtype)  # buffers (mel, FSQ constants) stay float32
        return model.to(device).eval()

    @classmethod
    def load(cls, path, device="cpu", dtype: torch.dtype = torch.float32) -> "Codec":
        return cls.from_state_dict(read_checkpoint(path), device, dtype, source=os.fspath(path))

    @property
    def device(self) -> torch.device:
        return self.spec_transform.window.device

    @property
    def dtype(self) -> torch.dtype:
        return self.head.conv_post.conv.weight.dtype

    # ---- encode -------------------------------------------------------------------------------
    def _mono(self, audio) -> torch.Tensor:
        if isinstance(audio, np.ndarray):
            if audio.dtype.kind in "iu":
                audio = audio.astype(np.float32) / float(np.iinfo(audio.dtype).max + 1)
            elif audio.dtype.kind != "f":
                raise FishError(400, "audio", f"audio samples must be numbers, got dtype {audio.dtype}")
            audio = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
        elif not isinstance(audio, torch.Tensor):
            raise FishError(400, "audio", f"audio must be a numpy array or tensor, got {type(audio).__name__}")
        elif not audio.is_floating_point():
            raise FishError(400, "audio", f"audio tensor must be floating point, got {audio.dtype}")
        if audio.dim() == 2:
            if audio.shape[0] > MAX_CHANNELS:
                raise FishError(400, "audio", f"audio must be [channels, samples]; got shape {list(audio.shape)}")
            audio = audio.float().mean(dim=0)
        elif audio.dim() != 1:
            raise FishError(400, "audio", f"audio must be 1-D or [channels, samples]; got shape {list(audio.shape)}")
        return audio.float()

    @torch.inference_mode()
    def encode(self, audio, sample_rate: int) -> torch.Tensor:
        """Audio (numpy or tensor, 1-D or [channels, L], any rate) -> int32 codes [8, T] on CPU."""
        x = self._mono(audio).to(self.device)
        if int(sample_rate) <= 0:
            raise FishError(400, "audio", f"sample rate must be positive, got {sample_rate}")
        if not bool(torch.isfinite(x).all()):
            raise FishError(400, "audio", "audio contains NaN or infinite samples")
        x = resample(x, int(sample_rate), SAMPLE_RATE)
        if x.shape[-1] < MIN_SAMPLES:
            raise FishError(
                400,
                "audio",
                f"audio too short: {x.shape[-1]} samples at {SAMPLE_RATE} Hz "
                f"({x.shape[-1] / SAMPLE_RATE * 1000:.1f} ms), need at least {MIN_SAMPLES}",
            )
        mel = self.spec_transform(x[None])
        z = self.backbone(mel.to(self.dtype))
        return self.quantizer.encode(z)[0].to("cpu", torch.int32)

    # ---- decode -------------------------------------------------------------------------------
    def check_codes(self, codes) -> tuple[torch.Tensor, bool]:
        """Validate codes; returns (int64 [B, N, T] on the model device, whether input was batched)."""
        ids, batched = check_code_tensor(codes, self.codebook_sizes)
        return ids.to(self.device), batched

    def decode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """Validated int64 ids [B, groups, T] on device -> float32 audio [B, 2048 * T] on CPU."""
        if ids.shape[-1] == 0:
            return torch.zeros(ids.shape[0], 0)
        z = self.quantizer.decode(ids, self.dtype)
        return self.head(z)[:, 0].to("cpu", torch.float32)

    @torch.inference_mode()
    def decode(self, codes) -> torch.Tensor:
        """Codes [8, T] (or [B, 8, T]) -> float32 audio of 2048 * T samples (1-D, or [B, L] if batched)."""
        ids, batched = self.check_codes(codes)
        audio = self.decode_ids(ids)
        return audio if batched else audio[0]


class StreamingDecoder:
    """Decode codes chunk by chunk; the concatenated pushes equal one `decode` of all frames.

    The decoder is causal, so re-running it over the last `context_frames` already-seen frames
    plus the new ones reproduces exactly the samples a one-shot decode would give for the new ones.
    """

    def __init__(self, codec: Codec, context_frames: int | None = None):
        self.codec = codec
        self.context_frames = codec.decoder_context_frames if context_frames is None else int(context_frames)
        self._history: torch.Tensor | None = None

    def reset(self) -> None:
        self._history = None

    @torch.inference_mode()
    def push(self, codes) -> torch.Tensor:
        """codes [8, n] -> float32 tensor of the 2048 * n new samples (CPU)."""
        ids, batched = self.codec.check_codes(codes)
        if batched:
            raise FishError(400, "codes", f"push takes codes of shape [{self.codec.n_codebooks}, n]")
        n = ids.shape[-1]
        if n == 0:
            return torch.zeros(0)
        window = ids if self._history is None else torch.cat([self._history, ids], dim=-1)
        audio = self.codec.decode_ids(window)[0, -n * FRAME_LENGTH :]
        keep = self.context_frames
        self._history = window[..., -keep:] if keep > 0 else None
        return audio
