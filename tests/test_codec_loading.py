"""Checkpoint format and loader: official shapes, key spellings, prefixes, and loud failures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fish_speech.errors import FishError
from fish_speech.models.vqgan.codec import Codec
from fish_speech.models.vqgan.config import CodecConfig, infer_config
from fish_speech.models.vqgan.loading import check_keys, normalize_state_dict
from fish_speech.testing.codec_checkpoint import (
    codec_state_dict,
    module_shapes,
    official_shapes,
    write_codec_checkpoint,
)


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("codec_ckpts")
    write_codec_checkpoint(root / "param.pth", seed=7)
    write_codec_checkpoint(root / "legacy.pth", layout="legacy", seed=7)
    write_codec_checkpoint(root / "wrapped.pth", prefix="generator.", wrap=True, seed=7)
    return root


@pytest.fixture(scope="module")
def probe():
    rng = np.random.default_rng(0)
    audio = (0.2 * rng.standard_normal(20000)).astype(np.float32)
    codes = torch.randint(0, 1000, (8, 5), generator=torch.Generator().manual_seed(0))
    return audio, codes


def _count(shapes, prefix):
    keys = [k for k in shapes if k.startswith(prefix)]
    return len(keys), sum(math.prod(shapes[k]) for k in keys)


def test_full_size_key_and_parameter_counts():
    shapes = official_shapes(tiny=False)
    assert len(shapes) == 547
    assert sum(math.prod(s) for s in shapes.values()) == 47_065_218
    assert _count(shapes, "backbone.") == (180, 19_447_808)
    assert _count(shapes, "quantizer.") == (76, 10_525_216)
    assert _count(shapes, "head.") == (291, 17_092_194)


def test_full_size_listed_shapes():
    s = official_shapes(tiny=False)
    wn = ".conv.parametrizations.weight.original"
    expected = {
        "backbone.downsample_layers.0.0.conv.weight": (128, 160, 7),
        "backbone.downsample_layers.0.1.weight": (128,),
        "backbone.downsample_layers.1.0.weight": (128,),
        "backbone.downsample_layers.1.1.weight": (256, 128, 1),
        "backbone.downsample_layers.3.1.weight": (512, 384, 1),
        "backbone.stages.2.8.dwconv.conv.weight": (384, 1, 7),
        "backbone.stages.3.2.pwconv1.weight": (2048, 512),
        "backbone.stages.0.0.gamma": (128,),
        "backbone.norm.weight": (512,),
        "quantizer.downsample.1.0.conv.weight": (512, 512, 2),
        "quantizer.downsample.0.1.pwconv2.weight": (512, 2048),
        "quantizer.upsample.1.0.conv.weight": (512, 512, 2),
        "quantizer.residual_fsq.rvqs.7.project_in.weight": (4, 64),
        "quantizer.residual_fsq.rvqs.7.project_out.weight": (64, 4),
        "quantizer.residual_fsq.rvqs.0.project_out.bias": (64,),
        "head.conv_pre" + wn + "0": (512, 1, 1),
        "head.conv_pre" + wn + "1": (512, 512, 13),
        "head.ups.0" + wn + "0": (512, 1, 1),
        "head.ups.0" + wn + "1": (512, 256, 16),
        "head.ups.4" + wn + "1": (32, 16, 4),
        "head.ups.4.conv.bias": (16,),
        "head.resblocks.0.blocks.2.convs2.2" + wn + "1": (256, 256, 11),
        "head.resblocks.4.blocks.0.convs1.0" + wn + "0": (16, 1, 1),
        "head.conv_post" + wn + "1": (1, 16, 13),
        "head.conv_post.conv.bias": (1,),
    }
    for key, shape in expected.items():
        assert s[key] == shape, key
    assert not any("window" in k or "fb" in k or "codebook" in k or "_levels" in k for k in s)


def test_full_size_architecture_is_inferred():
    # meta tensors: shapes without data, so no 188 MB allocation
    sd = {k: torch.empty(shape, device="meta") for k, shape in official_shapes(tiny=False).items()}
    fused = normalize_state_dict(sd)
    assert infer_config(fused) == CodecConfig.full()
    check_keys({k: torch.Size(v) for k, v in module_shapes(tiny=False).items()}, fused, "meta")
    with torch.device("meta"):
        assert Codec(CodecConfig.full()).decoder_context_frames == 15


def test_tiny_checkpoint_is_small(ckpt_dir):
    assert (ckpt_dir / "param.pth").stat().st_size < 2_000_000
    assert set(official_shapes(tiny=True)) == set(official_shapes(tiny=False))


def _outputs(codec, probe):
    audio, codes = probe
    return codec.encode(audio, 44100), codec.decode(codes)


def test_legacy_and_prefixed_checkpoints_load_identically(ckpt_dir, probe):
    ref_codes, ref_audio = _outputs(Codec.load(ckpt_dir / "param.pth"), probe)
    for name in ("legacy.pth", "wrapped.pth"):
        codes, audio = _outputs(Codec.load(ckpt_dir / name), probe)
        assert torch.equal(codes, ref_codes), name
        assert torch.equal(audio, ref_audio), name


def test_weight_norm_is_fused_per_input_channel_for_transposed_convs():
    sd = codec_state_dict(seed=3)
    codec = Codec.from_state_dict(sd)
    g = sd["head.ups.0.conv.parametrizations.weight.original0"]
    v = sd["head.ups.0.conv.parametrizations.weight.original1"]
    want = v * (g / v.flatten(1).norm(dim=1).view(-1, 1, 1))
    assert torch.allclose(codec.head.ups[0].conv.weight, want, atol=1e-7)
    assert g.shape[0] == codec.head.ups[0].conv.in_channels


def _expect_422(sd, *names):
    with pytest.raises(FishError) as err:
        Codec.from_state_dict(sd)
    assert err.value.code == 422 and err.value.field == "checkpoint"
    for name in names:
        assert name in err.value.message
    return err.value


def test_missing_key_is_named():
    sd = codec_state_dict()
    del sd["backbone.stages.2.4.pwconv1.bias"]
    _expect_422(sd, "backbone.stages.2.4.pwconv1.bias", "missing")


def test_missing_weight_norm_half_is_named():
    sd = codec_state_dict()
    del sd["head.resblocks.1.blocks.2.convs2.1.conv.parametrizations.weight.original1"]
    _expect_422(sd, "head.resblocks.1.blocks.2.convs2.1.conv.parametrizations.weight.original1")


def test_wrong_shape_is_named():
    sd = codec_state_dict()
    sd["head.resblocks.3.blocks.0.convs1.2.conv.bias"] = torch.zeros(3)
    sd["backbone.stages.1.1.pwconv2.weight"] = torch.zeros(2, 2)
    _expect_422(sd, "head.resblocks.3.blocks.0.convs1.2.conv.bias", "backbone.stages.1.1.pwconv2.weight")


def test_unexpected_key_is_named():
    sd = codec_state_dict()
    sd["backbone.stages.0.0.extra"] = torch.zeros(1)
    _expect_422(sd, "backbone.stages.0.0.extra", "unexpected")


def test_other_models_are_rejected():
    _expect_422({"tok_embeddings.weight": torch.zeros(4, 4)}, "backbone")
    _expect_422([1, 2, 3], "list")


def test_bad_files(tmp_path):
    with pytest.raises(FishError) as err:
        Codec.load(tmp_path / "absent.pth")
    assert err.value.code == 422 and "not found" in err.value.message
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"this is not a checkpoint")
    with pytest.raises(FishError) as err:
        Codec.load(junk)
    assert err.value.code == 422 and "junk.pth" in err.value.message


def test_dtype_and_device_arguments(ckpt_dir, probe):
    codec = Codec.load(ckpt_dir / "param.pth", device="cpu", dtype=torch.bfloat16)
    assert codec.dtype == torch.bfloat16
    assert codec.quantizer.residual_fsq.half_l.dtype == torch.float32  # constants stay exact
    audio, codes = probe
    assert codec.encode(audio, 44100).dtype == torch.int32
    out = codec.decode(codes)
    assert out.dtype == torch.float32 and out.shape == (2048 * 5,)
