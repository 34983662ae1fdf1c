"""Modded DAC invariants (s2.md §8.1) on a tiny random codec in the official layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import fish_speech.models.dac.codec as dac_codec
from fish_speech.errors import FishError
from fish_speech.models.dac.codec import DacCodec, StreamingDecoder, clamp_generated_codes
from fish_speech.models.dac.config import DacConfig
from fish_speech.testing.dac_checkpoint import write_dac_checkpoint

SR = 44100


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return write_dac_checkpoint(tmp_path_factory.mktemp("dac") / "codec.pth", seed=3)


@pytest.fixture(scope="module")
def codec(ckpt):
    return DacCodec.load(ckpt)


@pytest.fixture(scope="module")
def small_window(ckpt):
    """Same weights, attention windows of 8 and 4 steps: long-range behaviour on short inputs."""
    return DacCodec.load(ckpt, config=DacConfig.tiny().with_windows(8, 4))


def noise(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / SR
    return 0.3 * torch.sin(2 * torch.pi * 180 * t) + 0.1 * torch.randn(n, generator=g)


def random_codes(t: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.cat([torch.randint(0, 4096, (1, t), generator=g), torch.randint(0, 1024, (9, t), generator=g)])


def test_surface(codec):
    assert (codec.sample_rate, codec.frame_length, codec.n_codebooks) == (44100, 2048, 10)
    assert codec.codebook_sizes == (4096,) + (1024,) * 9
    assert codec.device.type == "cpu" and codec.dtype == torch.float32
    # post_module windows (2 layers x 127) plus the conv taps of upsampler and decoder
    assert codec.decoder_context_frames > 2 * 127


@pytest.mark.parametrize("n,frames", [(1, 1), (2047, 1), (2048, 1), (2049, 2), (20480, 10), (44100, 22)])
def test_length_arithmetic_and_ranges(codec, n, frames):
    codes = codec.encode(noise(n), SR)
    assert codes.dtype == torch.int32 and tuple(codes.shape) == (10, frames)
    assert 0 <= int(codes[0].min()) and int(codes[0].max()) < 4096
    assert 0 <= int(codes[1:].min()) and int(codes[1:].max()) < 1024
    audio = codec.decode(codes)
    assert audio.dtype == torch.float32 and tuple(audio.shape) == (2048 * frames,)
    assert float(audio.abs().max()) < 1


def test_codes_spread_and_audio_is_not_silent(codec):
    codes = codec.encode(noise(5 * 2048 * 8, seed=1), SR)
    assert all(len(set(row.tolist())) > 20 for row in codes)
    audio = codec.decode(random_codes(20))
    assert 0.05 < float(audio.std()) and float(audio.abs().max()) < 0.999


def test_batched_decode_and_input_forms(codec):
    codes = random_codes(6)
    one = codec.decode(codes)
    both = codec.decode(torch.stack([codes, random_codes(6, seed=1)]))
    assert both.shape == (2, 2048 * 6) and float((both[0] - one).abs().max()) <= 1e-5
    x = noise(9000).numpy()
    stereo = np.stack([x, x])
    assert torch.equal(codec.encode(stereo, SR), codec.encode(x, SR))
    pcm16 = (x * 32767).astype(np.int16)
    assert codec.encode(pcm16, SR).shape == (10, 5)
    # 22.05 kHz is resampled to 44.1 kHz first: twice the samples, twice-ish the frames
    assert codec.encode(x, 22050).shape == (10, 9)


def test_encoder_prefix_causality(codec):
    x = noise(2048 * 9, seed=2)
    full = codec.encode(x, SR)
    for k in (1, 4, 7):
        assert torch.equal(codec.encode(x[: 2048 * k], SR), full[:, :k])


def test_decoder_prefix_causality(codec):
    codes = random_codes(9, seed=4)
    full = codec.decode(codes)
    for k in (1, 3, 7):
        assert float((codec.decode(codes[:, :k]) - full[: 2048 * k]).abs().max()) <= 1e-5


def test_streaming_equals_one_shot_beyond_the_windows(small_window):
    codes = random_codes(40, seed=5)
    full = small_window.decode(codes)
    dec = StreamingDecoder(small_window)
    parts, i = [], 0
    for n in (1, 1, 3, 7, 2, 11, 15):
        out = dec.push(codes[:, i : i + n])
        assert out.shape == (2048 * n,)
        parts.append(out)
        i += n
    assert float((torch.cat(parts) - full).abs().max()) <= 1e-5
    # state stays bounded: window - 1 cached keys per layer, whatever has been pushed
    pipe = dec._pipe
    cache = pipe.parts[0].cache
    assert all(layer[0].shape[2] == 3 for layer in cache.layers)
    dec.reset()
    assert float((dec.push(codes[:, :5]) - full[: 5 * 2048]).abs().max()) <= 1e-5


def test_pieces_equal_one_pass(small_window, monkeypatch):
    """Long inputs go through in pieces (bounded memory); the result matches a single pass."""
    x = noise(2048 * 30, seed=6)
    codes = small_window.encode(x, SR)
    audio = small_window.decode(codes)
    monkeypatch.setattr(dac_codec, "CHUNK_FRAMES", 4)
    assert torch.equal(small_window.encode(x, SR), codes)
    assert float((small_window.decode(codes) - audio).abs().max()) <= 1e-5


def test_single_pass_is_the_plain_module_chain(codec):
    """Up to one piece, encode/decode run exactly upstream's module order (bit-identical)."""
    x = noise(2048 * 5, seed=7)
    with torch.inference_mode():
        z = codec.quantizer.pre_module(codec.quantizer.downsample(codec.encoder(x[None, None])))
        codes = codec.quantizer.codes(z)[0]
        latent = codec.quantizer.latent(codes[None])
        audio = codec.decoder(codec.quantizer.upsample(codec.quantizer.post_module(latent)))[0, 0]
    assert torch.equal(codec.encode(x, SR).long(), codes)
    assert torch.equal(codec.decode(codes), audio)


def test_semantic_code_is_the_best_cosine_and_residuals_chain(codec):
    x = noise(2048 * 4, seed=8)
    with torch.inference_mode():
        z = codec.quantizer.pre_module(codec.quantizer.downsample(codec.encoder(x[None, None])))
        codes = codec.quantizer.codes(z)[0]
        r = z.double()
        for row, vq in enumerate(
            list(codec.quantizer.semantic_quantizer.quantizers) + list(codec.quantizer.quantizer.quantizers)
        ):
            e = F.conv1d(r, vq.in_proj.weight.double(), vq.in_proj.bias.double())[0].T  # [T, 8]
            cos = F.normalize(e, dim=1) @ F.normalize(vq.codebook.weight.double(), dim=1).T
            top2 = cos.topk(2, dim=1).values
            clear = (top2[:, 0] - top2[:, 1]) > 1e-5  # float32 may legitimately differ on near-ties
            assert torch.equal(cos.argmax(1)[clear], codes[row][clear])
            assert clear.float().mean() > 0.9
            row_vec = vq.codebook.weight.double()[codes[row]].T[None]  # the raw row, not normalised
            r = r - F.conv1d(row_vec, vq.out_proj.weight.double(), vq.out_proj.bias.double())


def test_out_of_range_codes_are_rejected(codec):
    codes = random_codes(3)
    for row, value, limit in ((0, 4096, "0..4095"), (1, 1024, "0..1023"), (9, 1024, "0..1023"), (4, -1, "0..1023")):
        bad = codes.clone()
        bad[row, 1] = value
        with pytest.raises(FishError) as err:
            codec.decode(bad)
        assert err.value.code == 400 and limit in err.value.message and f"row {row}" in err.value.message
    ok = codes.clone()
    ok[0, 0], ok[1:, 0] = 4095, 1023
    assert codec.decode(ok).shape == (3 * 2048,)
    for bad, needle in ((codes[:8], "[10, T]"), (codes.float(), "integers"), ([[1, 2]], "numpy array")):
        with pytest.raises(FishError) as err:
            codec.decode(bad)
        assert needle in err.value.message


def test_bad_audio(codec):
    for audio, needle in ((np.zeros(0, np.float32), "empty"), (np.array([0.1, np.nan], np.float32), "NaN")):
        with pytest.raises(FishError) as err:
            codec.encode(audio, SR)
        assert err.value.code == 400 and needle in err.value.message
    with pytest.raises(FishError):
        codec.encode(np.zeros(100, np.float32), 0)


def test_clamp_generated_codes_matches_explicit_clamping(codec):
    g = torch.Generator().manual_seed(9)
    gen = torch.randint(0, 4096, (10, 6), generator=g)  # the LM's fast head samples all 4096 ids
    gen[0, 0], gen[1, 1] = 4095, 4095
    clamped = clamp_generated_codes(gen)
    assert int(gen[1, 1]) == 4095  # a copy: the caller's codes are untouched
    explicit = gen.clone()
    explicit[1:] = torch.minimum(explicit[1:], torch.tensor(1023))
    assert torch.equal(clamped, explicit)
    assert np.array_equal(clamp_generated_codes(gen.numpy()), explicit.numpy())
    assert codec.decode(clamped).shape == (6 * 2048,)
