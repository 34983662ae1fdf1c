"""codec.pth layout, loader variants and loud failures; family detection between the two codecs."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch

from fish_speech.errors import FishError
from fish_speech.models import codecs
from fish_speech.models.dac.codec import DacCodec
from fish_speech.models.dac.codec import StreamingDecoder as DacStreaming
from fish_speech.models.vqgan.codec import Codec as FireflyCodec
from fish_speech.models.vqgan.codec import StreamingDecoder as FireflyStreaming
from fish_speech.testing.codec_checkpoint import write_codec_checkpoint
from fish_speech.testing.dac_checkpoint import dac_state_dict, official_layout, write_dac_checkpoint


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("dac_ckpts")
    return {
        "official": write_dac_checkpoint(root / "codec.pth", seed=11),
        "legacy": write_dac_checkpoint(root / "legacy.pth", layout="legacy", seed=11),
        "wrapped": write_dac_checkpoint(root / "wrapped.pth", prefix="generator.", wrap=True, seed=11),
        "firefly": write_codec_checkpoint(root / "firefly.pth"),
        "root": root,
    }


@pytest.fixture(scope="module")
def probe():
    g = torch.Generator().manual_seed(1)
    codes = torch.cat([torch.randint(0, 4096, (1, 4), generator=g), torch.randint(0, 1024, (9, 4), generator=g)])
    return codes, 0.2 * torch.randn(9000, generator=g)


def test_full_layout_counts_and_shapes():
    layout = official_layout(tiny=False)
    params = {k: v[0] for k, v in layout.items() if v[2] in ("param", "g", "v")}
    assert len(layout) == 541 and len(params) == 535
    assert sum(math.prod(s) for s in params.values()) == 391_430_530
    for prefix, total in (("encoder.", 76_851_328), ("quantizer.", 260_475_040), ("decoder.", 54_104_162)):
        assert sum(math.prod(s) for k, s in params.items() if k.startswith(prefix)) == total
    wn = ".conv.parametrizations.weight.original"
    expected = {
        "encoder.block.0" + wn + "1": (64, 1, 7),
        "encoder.block.4.block.4" + wn + "1": (1024, 512, 16),
        "encoder.block.4.block.5.layers.3.attention.wqkv.weight": (3072, 1024),
        "encoder.block.6" + wn + "1": (1024, 1024, 3),
        "quantizer.downsample.0.0.conv.weight": (1024, 1024, 2),
        "quantizer.semantic_quantizer.quantizers.0.in_proj.weight_v": (8, 1024, 1),
        "quantizer.quantizer.quantizers.8.out_proj.weight_g": (1024, 1, 1),
        "quantizer.quantizer.quantizers.8.codebook.weight": (1024, 8),
        "quantizer.semantic_quantizer.quantizers.0.codebook.weight": (4096, 8),
        "quantizer.post_module.layers.7.feed_forward.w2.weight": (1024, 3072),
        "decoder.model.1.block.1" + wn + "0": (1536, 1, 1),  # transposed: g follows the input dim
        "decoder.model.1.block.1" + wn + "1": (1536, 768, 16),
        "decoder.model.6" + wn + "1": (1, 96, 7),
        "decoder.model.5.alpha": (1, 96, 1),
    }
    for key, shape in expected.items():
        assert tuple(layout[key][0]) == shape, key
    bufs = {k: (tuple(v[0]), v[1]) for k, v in layout.items() if v[2] in ("rope", "mask")}
    assert bufs["encoder.block.4.block.5.causal_mask"] == ((16384, 16384), torch.bool)
    assert bufs["quantizer.pre_module.freqs_cis"] == ((4096, 32, 2), torch.bfloat16)


def test_variants_load_to_the_same_codec(files, probe):
    codes, audio = probe
    ref = DacCodec.load(files["official"])
    want_audio, want_codes = ref.decode(codes), ref.encode(audio, 44100)
    for name in ("legacy", "wrapped"):
        other = DacCodec.load(files[name])
        assert torch.equal(other.decode(codes), want_audio), name
        assert torch.equal(other.encode(audio, 44100), want_codes), name


def test_weight_norm_is_fused_once(files):
    sd = torch.load(files["official"], weights_only=True)
    codec = DacCodec.load(files["official"])
    assert not any("parametrizations" in n or "weight_g" in n for n, _ in codec.named_parameters())
    base = "decoder.model.1.block.1.conv"
    g, v = (
        sd[base + ".parametrizations.weight.original0"].double(),
        sd[base + ".parametrizations.weight.original1"].double(),
    )
    expected = g * v / v.flatten(1).norm(dim=1).view(-1, 1, 1)
    assert torch.allclose(codec.decoder.model[1].block[1].conv.weight.double(), expected, atol=1e-6)
    vq = "quantizer.quantizer.quantizers.3.in_proj"
    g, v = sd[vq + ".weight_g"].double(), sd[vq + ".weight_v"].double()
    got = codec.quantizer.quantizer.quantizers[3].in_proj.weight.double()
    assert torch.allclose(got, g * v / v.flatten(1).norm(dim=1).view(-1, 1, 1), atol=1e-6)


def test_derived_buffers_are_ignored_and_sizes_inferred(files):
    sd = dac_state_dict(seed=2, buffers=False)
    codec = DacCodec.from_state_dict(sd)
    assert codec.config.encoder_dim == 8 and codec.config.decoder_dim == 64
    assert codec.config.encoder_transformer_layers == (0, 0, 0, 2) and codec.config.quantizer_layers == 2


@pytest.mark.parametrize(
    "edit,needle",
    [
        (lambda sd: sd.pop("quantizer.quantizer.quantizers.8.codebook.weight"), "missing keys"),
        (lambda sd: sd.__setitem__("decoder.model.9.alpha", torch.ones(1, 4, 1)), "unexpected keys"),
        (lambda sd: sd.__setitem__("decoder.model.5.alpha", torch.ones(1, 5, 1)), "wrong shapes"),
        (lambda sd: sd.pop("encoder.block.6.conv.parametrizations.weight.original0"), "weight-norm pair"),
        (lambda sd: sd.__setitem__("encoder.block.5.alpha", "x"), "not tensors"),
    ],
)
def test_mismatched_state_dicts_name_the_keys(edit, needle):
    sd = dac_state_dict(seed=2)
    edit(sd)
    with pytest.raises(FishError) as err:
        DacCodec.from_state_dict(sd)
    assert err.value.code == 422 and needle in err.value.message


def test_unreadable_files(files):
    junk = files["root"] / "junk.pth"
    junk.write_bytes(b"\x00 not a checkpoint")
    for path, needle in ((junk, "junk.pth"), (files["root"] / "absent.pth", "not found")):
        with pytest.raises(FishError) as err:
            DacCodec.load(path)
        assert needle in err.value.message


def test_family_detection_and_shared_surface(files, probe):
    assert codecs.codec_kind(files["official"]) == "modded_dac"
    assert codecs.codec_kind(files["wrapped"]) == "modded_dac"
    assert codecs.codec_kind(files["firefly"]) == "firefly"
    other = files["root"] / "other.pth"
    torch.save({"model.layers.0.weight": torch.zeros(2)}, other)
    with pytest.raises(FishError) as err:
        codecs.codec_kind(other)
    assert "model.layers.0.weight" in err.value.message and "neither" in err.value.message
    dac, firefly = codecs.load_codec(files["official"]), codecs.load_codec(files["firefly"])
    assert isinstance(dac, DacCodec) and isinstance(firefly, FireflyCodec)
    assert firefly.codebook_sizes == (1000,) * 8 and dac.codebook_sizes == (4096,) + (1024,) * 9
    for codec in (dac, firefly):
        assert codec.sample_rate == 44100 and codec.frame_length == 2048
        assert len(codec.codebook_sizes) == codec.n_codebooks and codec.decoder_context_frames > 0
        codes = codec.encode(probe[1], 44100)
        assert codes.dtype == torch.int32 and codes.shape == (codec.n_codebooks, 5)
        stream = codecs.StreamingDecoder(codec)
        assert isinstance(stream, DacStreaming if codec is dac else FireflyStreaming)
        joined = torch.cat([stream.push(codes[:, :2]), stream.push(codes[:, 2:])])
        assert float((joined - codec.decode(codes)).abs().max()) <= 1e-5


def test_writer_command_line(tmp_path):
    out = tmp_path / "w" / "codec.pth"
    proc = subprocess.run(
        [sys.executable, "-m", "fish_speech.testing.dac_checkpoint", str(out), "--seed", "4"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    sd = torch.load(out, weights_only=True)
    assert list(sd) == list(official_layout(tiny=True))
    assert sd["encoder.block.4.block.5.causal_mask"].dtype == torch.bool
