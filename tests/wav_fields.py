"""A hand parser of RIFF/WAVE files for the tests (independent of the code under test): every field
of the `fmt ` chunk and the data, including a streamed header's "unknown" sizes (0xFFFFFFFF)."""

from __future__ import annotations

import struct

import numpy as np

UNKNOWN = 0xFFFFFFFF


def parse_wav(data: bytes) -> dict:
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", data[:12]
    out = {"riff_size": struct.unpack_from("<I", data, 4)[0]}
    pos = 12
    while pos + 8 <= len(data):
        kind, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if kind == b"fmt ":
            fields = struct.unpack_from("<HHIIHH", data, pos + 8)
            keys = ("format_tag", "channels", "sample_rate", "byte_rate", "block_align", "bits")
            out.update(zip(keys, fields))
        elif kind == b"data":
            out["data_size"] = size
            payload = data[pos + 8 :] if size == UNKNOWN else data[pos + 8 : pos + 8 + size]
            assert len(payload) % out["block_align"] == 0, "data is not whole sample frames"
            out["samples"] = np.frombuffer(payload, dtype="<i2").astype(np.float64) / 32767
            return out
        pos += 8 + size + (size & 1)
    raise AssertionError("no data chunk")


def check_pcm16_mono(info: dict, rate: int = 44100) -> None:
    """The fmt fields every WAV this project writes must carry (WAVE spec: byte rate = rate * block
    align, block align = channels * bits / 8)."""
    assert (info["format_tag"], info["channels"], info["bits"]) == (1, 1, 16)
    assert info["sample_rate"] == rate
    assert info["block_align"] == 1 * 16 // 8 == 2
    assert info["byte_rate"] == rate * 2 == 88200
