"""Codec invariants (spec codec.md §11) on a tiny random-weight checkpoint."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fish_speech.errors import FishError
from fish_speech.models.vqgan.codec import Codec, StreamingDecoder
from fish_speech.models.vqgan.fsq import GroupedFSQ
from fish_speech.models.vqgan.mel import LogMelSpectrogram, slaney_mel_filterbank
from fish_speech.testing.codec_checkpoint import write_codec_checkpoint


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    path = write_codec_checkpoint(tmp_path_factory.mktemp("codec") / "tiny.pth")
    return Codec.load(path)


@pytest.fixture(scope="module")
def mel():
    return LogMelSpectrogram()


def noise(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 44100
    return (0.3 * np.sin(2 * np.pi * 180 * t * (1 + t)) + 0.1 * rng.standard_normal(n)).astype(np.float32)


# ---- mel front end ---------------------------------------------------------------------------


@pytest.mark.parametrize("length", [769, 1023, 1024, 2048, 5000])
def test_mel_shape(mel, length):
    assert mel(torch.zeros(1, 1, length)).shape == (1, 160, length // 512)


def test_mel_rejects_short_audio(mel):
    with pytest.raises(FishError) as err:
        mel(torch.zeros(1, 1, 768))
    assert err.value.code == 400 and err.value.field == "audio"


def test_mel_silence(mel):
    out = mel(torch.zeros(1, 3000))[0]
    expected = torch.log(1e-3 * mel.fb.sum(0).double()).float()
    assert torch.allclose(out, expected[:, None].expand_as(out), atol=1e-4)
    assert -10.0443 < out.min() and out.max() < -9.8858


def test_mel_sine_440(mel):
    n = np.arange(44100, dtype=np.float64)
    x = torch.from_numpy((0.5 * np.sin(2 * np.pi * 440 * n / 44100)).astype(np.float32))
    out = mel(x[None])[0]
    assert out.shape == (160, 86)
    assert int(out[:, 40].argmax()) == 17
    for value, ref in (
        (out[17, 40], 2.2735),
        (out[0, 40], -7.4604),
        (out[159, 40], -9.9774),
        (out.mean(), -8.5121),
        (out.min(), -10.0028),
        (out.max(), 2.2735),
    ):
        assert abs(float(value) - ref) < 1e-3


def test_filterbank_properties():
    fb = slaney_mel_filterbank()
    assert fb.shape == (1025, 160)
    assert np.all(fb[0] == 0) and np.all(fb[1024] == 0)
    assert list(np.nonzero(fb[:, 0])[0]) == [1, 2]
    band = np.nonzero(fb[:, 159])[0]
    assert band[0] == 973 and band[-1] == 1023
    sums = fb.sum(0)
    assert 0.04343 < sums.min() and sums.max() < 0.05089
    assert np.all(fb >= 0) and np.all(np.argmax(fb, axis=0)[1:] >= np.argmax(fb, axis=0)[:-1])


# ---- FSQ algebra -----------------------------------------------------------------------------

FSQ_CASES = [
    ((0, 0, 0, 0), 500, (0, 0, 0, 0)),
    ((10, 10, 10, 10), 999, (0.75, 1, 1, 1)),
    ((-10, -10, -10, -10), 0, (-1, -1, -1, -1)),
    ((0.5, 0.5, 0.5, 0.5), 751, (0.75, 0.5, 0.5, 0.5)),
    ((1, -1, 0.3, -0.3), 327, (0.75, -1, 0.5, -0.5)),
    ((0.2, 0.4, 0.6, 0.8), 990, (0.5, 0.5, 1, 1)),
    ((-0.2, -0.4, -0.6, -0.8), 10, (-0.5, -0.5, -1, -1)),
    ((2, -2, 1, -1), 167, (0.75, -1, 1, -1)),
    ((0.25, 0.26, 0.27, 0.28), 750, (0.5, 0.5, 0.5, 0.5)),
]


def test_fsq_reference_table():
    fsq = GroupedFSQ(8, 2)
    p = torch.tensor([c[0] for c in FSQ_CASES], dtype=torch.float32)
    ids = fsq.quantize_projected(p)
    assert ids.dtype == torch.int32
    assert ids.tolist() == [c[1] for c in FSQ_CASES]
    assert fsq.codebook[ids.long()].tolist() == [list(map(float, c[2])) for c in FSQ_CASES]


def test_fsq_index_digit_bijection():
    fsq = GroupedFSQ(8, 2)
    ids = torch.arange(1000)
    digits = (fsq.codebook * fsq.half_width + fsq.half_width).round().long()
    assert torch.equal(digits[:, 0] + 8 * digits[:, 1] + 40 * digits[:, 2] + 200 * digits[:, 3], ids)
    assert len({tuple(r) for r in digits.tolist()}) == 1000
    # the codebook value of every id quantizes back to that id (atanh inverts the double bound)
    assert fsq.codebook[500].tolist() == [0, 0, 0, 0]
    assert fsq.codebook[0].tolist() == [-1, -1, -1, -1]
    assert fsq.codebook[999].tolist() == [0.75, 1, 1, 1]


def test_fsq_group_independence(codec):
    rvq = codec.quantizer.residual_fsq
    z = torch.randn(1, 5, 32)
    base = rvq.encode(z)
    width = 32 // rvq.groups
    for g in (0, 3, 7):
        z2 = z.clone()
        z2[..., g * width : (g + 1) * width] += 3 * torch.randn(1, 5, width)
        changed = (rvq.encode(z2) != base).any(dim=-1)[0]
        assert changed[g] and changed.sum() == 1


# ---- encode / decode -------------------------------------------------------------------------


@pytest.mark.parametrize("length,frames", [(1000, 1), (2048, 1), (4096, 2), (44100, 22), (88205, 43)])
def test_encode_lengths(codec, length, frames):
    codes = codec.encode(noise(length), 44100)
    assert codes.dtype == torch.int32 and codes.device.type == "cpu"
    assert codes.shape == (8, frames) == (8, math.ceil((length // 512) / 4))
    assert int(codes.min()) >= 0 and int(codes.max()) <= 999


def test_encode_spreads_codes(codec):
    codes = codec.encode(noise(44100 * 2), 44100)
    assert len(torch.unique(codes)) > 40


def test_encode_rejects_short_and_bad_audio(codec):
    for bad in (np.zeros(768, np.float32), np.zeros(0, np.float32), np.zeros((2, 3, 900), np.float32)):
        with pytest.raises(FishError) as err:
            codec.encode(bad, 44100)
        assert err.value.code == 400 and err.value.field == "audio"
    with pytest.raises(FishError):
        codec.encode(np.full(4000, np.nan, np.float32), 44100)
    # 400 samples at 16 kHz become 1103 at 44.1 kHz: long enough
    assert codec.encode(np.zeros(400, np.float32), 16000).shape == (8, 1)


def test_encode_accepts_kinds_and_channels(codec):
    x = noise(6000)
    ref = codec.encode(x, 44100)
    assert torch.equal(codec.encode(torch.from_numpy(x), 44100), ref)
    stereo = np.stack([x * 0.5, x * 1.5])
    mono = torch.from_numpy(stereo).mean(0)
    assert torch.equal(codec.encode(stereo, 44100), codec.encode(mono, 44100))  # channel mean
    assert codec.encode(noise(22050), 22050).shape == (8, 22)


def test_decode_length_and_range(codec):
    codes = torch.randint(0, 1000, (8, 7), generator=torch.Generator().manual_seed(1))
    audio = codec.decode(codes)
    assert audio.dtype == torch.float32 and audio.shape == (2048 * 7,)
    assert torch.isfinite(audio).all() and float(audio.abs().max()) < 1
    assert torch.equal(codec.decode(codes.numpy().astype(np.int32)), audio)
    batch = codec.decode(torch.stack([codes, codes.flip(-1)]))
    assert batch.shape == (2, 2048 * 7)
    assert torch.allclose(batch[0], audio, atol=1e-6)


def test_decode_rejects_bad_codes(codec):
    good = torch.zeros(8, 4, dtype=torch.long)
    for value in (1000, -1, 1023):
        bad = good.clone()
        bad[2, 3] = value
        with pytest.raises(FishError) as err:
            codec.decode(bad)
        assert err.value.code == 400 and err.value.field == "codes"
        assert str(value) in err.value.message and "0..999" in err.value.message
    for bad in (torch.zeros(7, 4, dtype=torch.long), torch.zeros(4, dtype=torch.long), good.float()):
        with pytest.raises(FishError) as err:
            codec.decode(bad)
        assert err.value.field == "codes"


def test_decoder_prefix_causality(codec):
    codes = torch.randint(0, 1000, (8, 12), generator=torch.Generator().manual_seed(2))
    full = codec.decode(codes)
    for k in (1, 5, 9):
        assert torch.allclose(codec.decode(codes[:, :k]), full[: 2048 * k], atol=1e-6)


def test_encoder_prefix_causality(codec):
    x = noise(2048 * 14 + 300, seed=3)
    full = codec.encode(x, 44100)
    for k in (3, 7, 10):
        part = codec.encode(x[: 2048 * k + 2816], 44100)
        assert torch.equal(part[:, : k + 1], full[:, : k + 1])


def test_streaming_matches_one_shot(codec):
    codes = torch.randint(0, 1000, (8, 40), generator=torch.Generator().manual_seed(4))
    full = codec.decode(codes)
    assert codec.decoder_context_frames == 15
    stream = StreamingDecoder(codec)
    pieces, start = [], 0
    for n in (1, 3, 0, 7, 2, 16, 11):
        chunk = stream.push(codes[:, start : start + n])
        assert chunk.shape == (2048 * n,)
        pieces.append(chunk)
        start += n
    assert start == 40
    assert torch.allclose(torch.cat(pieces), full, atol=1e-5)


def test_streaming_needs_its_context(codec):
    codes = torch.randint(0, 1000, (8, 24), generator=torch.Generator().manual_seed(5))
    full = codec.decode(codes)
    short = StreamingDecoder(codec, context_frames=1)
    joined = torch.cat([short.push(codes[:, i : i + 4]) for i in range(0, 24, 4)])
    assert not torch.allclose(joined, full, atol=1e-5)
