"""Codec round trips for a surface (HTTP /v1/vqgan/*): audio files -> codes, codes -> waveforms."""

from __future__ import annotations

import numpy as np

from fish_speech.errors import FishError


def _encode_all(rt, audios: list[bytes]) -> list[np.ndarray]:
    out = []
    for i, data in enumerate(audios):
        name = f"audios[{i}]"
        try:
            out.append(rt.voices.encoder.codes(data, name).astype(np.int64))
        except FishError as err:
            if err.field in (None, "audio"):
                err.field = name
            raise
    return out


def _decode_all(rt, codes: list[np.ndarray]) -> list[np.ndarray]:
    codec = rt.engine.codec
    return [np.asarray(codec.decode(c).detach().float().cpu().reshape(-1), dtype=np.float32) for c in codes]


async def encode_audios(rt, audios: list[bytes]) -> list[np.ndarray]:
    return await rt.scheduler.call(_encode_all, rt, audios)


async def decode_codes(rt, codes: list[np.ndarray]) -> list[np.ndarray]:
    return await rt.scheduler.call(_decode_all, rt, codes)
