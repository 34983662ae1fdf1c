"""The modded DAC codec (`codec.pth`): 44.1 kHz audio <-> int codes [10, T], 2048 samples a frame.

Same surface as the firefly codec (`fish_speech.models.vqgan.codec.Codec`). Long inputs are
processed in pieces of `CHUNK_FRAMES` frames through `CausalPipeline`s, which equals one pass
(the codec is causal) while memory stays bounded; inputs up to one piece take exactly
upstream's single pass.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch

from fish_speech.audio.resample import resample
from fish_speech.errors import FishError
from fish_speech.models.codes import check_code_tensor
from fish_speech.models.skeleton import skeleton
from fish_speech.models.vqgan.codec import Codec as FireflyCodec

from .config import CODEBOOK_SIZE, SAMPLE_RATE, SEMANTIC_CODEBOOK_SIZE, DacConfig, check_config, infer_config
from .loading import check_keys, normalize_state_dict, read_checkpoint
from .model import DAC
from .pipeline import CausalPipeline, context_frames

CHUNK_FRAMES = 256  # ~11.9 s of audio per piece


class DacCodec(DAC):
    sample_rate = SAMPLE_RATE

    def __init__(self, config: DacConfig | None = None):
        cfg = config or DacConfig.full()
        check_config(cfg)
        super().__init__(cfg)
        self.frame_length = cfg.frame_length
        self.hop_length = cfg.hop_length
        self.n_codebooks = 1 + cfg.n_codebooks
        self.codebook_sizes = cfg.codebook_sizes
        self.codebook_size = max(self.codebook_sizes)
        # code frames before a decoded frame that can change it (post_module windows + conv taps);
        # StreamingDecoder does not keep these frames, only window - 1 cached keys per layer
        self.decoder_context_frames = context_frames(self._decode_modules())

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_state_dict(
        cls, state_dict, device="cpu", dtype: torch.dtype = torch.float32, source: str = "state dict", config=None
    ) -> "DacCodec":
        sd = normalize_state_dict(state_dict)
        cfg = infer_config(sd)
        if config is not None:  # only what shapes cannot tell (attention windows)
            cfg = cfg.with_windows(config.encoder_window, config.quantizer_window)
        with skeleton():  # no throw-away init; the (memory-mapped) tensors are assigned
            model = cls(cfg)
        check_keys({k: v.shape for k, v in model.state_dict().items()}, sd, source)
        model.load_state_dict(sd, strict=True, assign=True)
        for p in model.parameters():
            p.requires_grad_(False)
            if p.dtype != dtype:
                p.data = p.data.to(dtype)
        return model.to(device).eval()

    @classmethod
    def load(cls, path, device="cpu", dtype: torch.dtype = torch.float32, config=None) -> "DacCodec":
        return cls.from_state_dict(read_checkpoint(path), device, dtype, source=os.fspath(path), config=config)

    @property
    def device(self) -> torch.device:
        return self.decoder.model[0].conv.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.decoder.model[0].conv.weight.dtype

    def _encode_modules(self) -> list:
        return self.encoder.stages() + list(self.quantizer.downsample) + [self.quantizer.pre_module]

    def _decode_modules(self) -> list:
        return [self.quantizer.post_module] + list(self.quantizer.upsample) + list(self.decoder.model)

    # ---- encode -------------------------------------------------------------------------------
    _mono = FireflyCodec._mono  # numpy/tensor, 1-D or [channels, L] -> float32 mono (one rule for both)

    @torch.inference_mode()
    def encode(self, audio, sample_rate: int) -> torch.Tensor:
        """Audio (numpy or tensor, 1-D or [channels, L], any rate) -> int32 codes [10, T] on CPU."""
        x = self._mono(audio)
        if int(sample_rate) <= 0:
            raise FishError(400, "audio", f"sample rate must be positive, got {sample_rate}")
        if not bool(torch.isfinite(x).all()):
            raise FishError(400, "audio", "audio contains NaN or infinite samples")
        x = resample(x, int(sample_rate), SAMPLE_RATE)
        if x.shape[-1] == 0:
            raise FishError(400, "audio", "audio is empty; need at least one sample")
        return self.encode_padded(x[None, None].to(self.device, self.dtype))[0].to("cpu", torch.int32)

    def encode_padded(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 1, L] at 44.1 kHz -> int64 codes [B, 10, ceil(L / 2048)] (zero right-padding)."""
        frames = math.ceil(x.shape[-1] / self.frame_length)
        x = torch.nn.functional.pad(x, (0, frames * self.frame_length - x.shape[-1]))
        pipe = CausalPipeline(self._encode_modules())
        piece = CHUNK_FRAMES * self.frame_length
        out = [self.quantizer.codes(pipe(x[..., a : a + piece])) for a in range(0, x.shape[-1], piece)]
        return out[0] if len(out) == 1 else torch.cat(out, dim=-1)

    # ---- decode -------------------------------------------------------------------------------
    def check_codes(self, codes) -> tuple[torch.Tensor, bool]:
        """Validate codes; returns (int64 [B, N, T] on the model device, whether input was batched)."""
        ids, batched = check_code_tensor(codes, self.codebook_sizes)
        return ids.to(self.device), batched

    def decode_ids(self, ids: torch.Tensor, pipe: CausalPipeline | None = None) -> torch.Tensor:
        """Validated int64 ids [B, 10, T] on device -> float32 audio [B, 2048 * T] on CPU.
        With `pipe` (a decoding pipeline), continues the stream it has seen so far."""
        if ids.shape[-1] == 0:
            return torch.zeros(ids.shape[0], 0)
        pipe = pipe or self.decode_pipeline()
        out = []
        for a in range(0, ids.shape[-1], CHUNK_FRAMES):
            z = self.quantizer.latent(ids[..., a : a + CHUNK_FRAMES]).to(self.dtype)
            out.append(pipe(z)[:, 0].to("cpu", torch.float32))
        return out[0] if len(out) == 1 else torch.cat(out, dim=-1)

    def decode_pipeline(self) -> CausalPipeline:
        return CausalPipeline(self._decode_modules())

    @torch.inference_mode()
    def decode(self, codes) -> torch.Tensor:
        """Codes [10, T] (or [B, 10, T]) -> float32 audio of 2048 * T samples (1-D, or [B, L] if batched)."""
        ids, batched = self.check_codes(codes)
        audio = self.decode_ids(ids)
        return audio if batched else audio[0]


class StreamingDecoder:
    """Decode frames as they arrive; the concatenated pushes equal one `decode` of all frames.

    Keeps only what the next frame needs: window - 1 keys/values per post_module layer and a
    few frames of post_module output for the conv taps of the upsampler and decoder.
    """

    def __init__(self, codec: DacCodec, context_frames: int | None = None):
        self.codec = codec  # context_frames: accepted for interface parity; the state is exact
        self._pipe = codec.decode_pipeline()

    def reset(self) -> None:
        self._pipe = self.codec.decode_pipeline()

    @torch.inference_mode()
    def push(self, codes) -> torch.Tensor:
        """codes [10, n] -> float32 tensor of the 2048 * n new samples (CPU)."""
        ids, batched = self.codec.check_codes(codes)
        if batched:
            raise FishError(400, "codes", f"push takes codes of shape [{self.codec.n_codebooks}, n]")
        return self.codec.decode_ids(ids, self._pipe)[0]


def clamp_generated_codes(codes):
    """Residual ids the language model emits can reach 4095, but those codebooks have 1024
    entries: upstream's decoder clamps them to 1023 (and row 0 to 4095). Apply this on the
    generation path only; the API boundary rejects out-of-range codes instead. Returns a copy."""
    if isinstance(codes, np.ndarray):
        out = codes.copy()
        out[..., 0, :] = np.minimum(out[..., 0, :], SEMANTIC_CODEBOOK_SIZE - 1)
        out[..., 1:, :] = np.minimum(out[..., 1:, :], CODEBOOK_SIZE - 1)
        return out
    out = codes.clone()
    out[..., 0, :] = out[..., 0, :].clamp(max=SEMANTIC_CODEBOOK_SIZE - 1)
    out[..., 1:, :] = out[..., 1:, :].clamp(max=CODEBOOK_SIZE - 1)
    return out
