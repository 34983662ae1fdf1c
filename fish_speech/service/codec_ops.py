"""Codec round trips for a surface (HTTP /v1/vqgan/*): audio files -> codes, codes -> waveforms.

Both directions are bounded by MAX_CODEC_FRAMES per request, checked before the model thread is
asked for anything: decode counts the frames it was sent; encode decodes the files first (off the
model thread) and counts the frames their duration will make.
"""

from __future__ import annotations

import asyncio

import numpy as np

from fish_speech.errors import FishError

DEFAULT_HOP = 2048  # samples per codec frame (`frame_length`) at 44.1 kHz, when the codec does not say


def frames_of(rt, samples: int, sample_rate: int) -> int:
    """Codec frames that `samples` at `sample_rate` become."""
    codec = rt.engine.codec
    hop = getattr(codec, "frame_length", DEFAULT_HOP)
    own_rate = getattr(codec, "sample_rate", rt.engine.sample_rate)
    return int(np.ceil(samples * own_rate / sample_rate / hop))


def check_frames(total: int, cap: int, field: str) -> None:
    if cap and total > cap:
        raise FishError(413, field, f"{total} codec frames in this request; the limit is {cap} (MAX_CODEC_FRAMES)")


def _named(err: FishError, name: str) -> FishError:
    if err.field in (None, "audio"):
        err.field = name
    return err


def _decode_files(rt, audios: list[bytes]) -> list[tuple[np.ndarray, int]]:
    out = []
    for i, data in enumerate(audios):
        try:
            out.append(rt.voices.encoder.decode(data, f"audios[{i}]"))
        except FishError as err:
            raise _named(err, f"audios[{i}]") from None
    return out


def _encode_all(rt, waves: list[tuple[np.ndarray, int]]) -> list[np.ndarray]:
    codec = rt.engine.codec
    return [np.asarray(codec.encode(samples, sr), dtype=np.int64) for samples, sr in waves]


def _decode_all(rt, codes: list[np.ndarray]) -> list[np.ndarray]:
    codec = rt.engine.codec
    return [np.asarray(codec.decode(c).detach().float().cpu().reshape(-1), dtype=np.float32) for c in codes]


async def encode_audios(rt, audios: list[bytes]) -> list[np.ndarray]:
    waves = await asyncio.to_thread(_decode_files, rt, audios)
    check_frames(sum(frames_of(rt, len(s), sr) for s, sr in waves), rt.limits.max_codec_frames, "audios")
    return await rt.scheduler.call(_encode_all, rt, waves)


async def decode_codes(rt, codes: list[np.ndarray]) -> list[np.ndarray]:
    check_frames(sum(int(c.shape[-1]) for c in codes), rt.limits.max_codec_frames, "tokens")
    return await rt.scheduler.call(_decode_all, rt, codes)
