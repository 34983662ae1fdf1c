"""Loading the S1-mini / S2-Pro folders, loader errors and family detection (s2.md §1.4, §1.8)."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from fish_speech.errors import FishError
from fish_speech.models.text2semantic.detect import FISH_15, S1_MINI, S2_PRO, detect_family
from fish_speech.models.text2semantic.loader import load_language_model
from fish_speech.models.text2semantic.omni import remap_keys


@pytest.fixture()
def s2(tiny_s2_dir, tmp_path):
    return shutil.copytree(tiny_s2_dir, tmp_path / "s2")


@pytest.fixture()
def s1(tiny_s1_dir, tmp_path):
    return shutil.copytree(tiny_s1_dir, tmp_path / "s1")


def test_detects_every_family(tiny_lm_dir, tiny_s1_dir, tiny_s2_dir):
    assert detect_family(tiny_lm_dir) == FISH_15
    assert detect_family(tiny_s1_dir) == S1_MINI
    assert detect_family(tiny_s2_dir) == S2_PRO


def test_unknown_or_mixed_folder_names_what_was_found(s1, s2, tmp_path):
    shutil.copy(s2 / "tokenizer.json", s1 / "tokenizer.json")
    with pytest.raises(FishError, match="openaudio-s1-mini.*tokenizer.json") as e:
        detect_family(s1)
    assert "mixed" in e.value.message
    cfg = json.loads((s2 / "config.json").read_text())
    (s2 / "config.json").write_text(json.dumps(dict(cfg, model_type="llama")))
    with pytest.raises(FishError, match="'llama'.*model-00001-of-00002.safetensors"):
        detect_family(s2)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FishError, match="config file not found"):
        detect_family(empty)


def test_s2_weights_read_into_target_dtype_and_match_the_shards(s2):
    lm = load_language_model(s2, device="cpu")
    assert lm.dtype == torch.bfloat16  # S2-Pro on CPU: bf16 by default
    published = {
        **load_file(s2 / "model-00001-of-00002.safetensors"),
        **load_file(s2 / "model-00002-of-00002.safetensors"),
    }
    state = lm.model.state_dict()
    for name, t in remap_keys(published).items():
        assert torch.equal(state[name], t), name
    assert lm.tokenizer.semantic_begin_id == json.loads((s2 / "config.json").read_text())["semantic_start_token_id"]


def test_s2_missing_unexpected_and_wrong_shape_keys_are_named(s2):
    shard = s2 / "model-00002-of-00002.safetensors"
    tensors = load_file(shard)
    name = sorted(tensors)[0]
    save_file({k: v for k, v in tensors.items() if k != name}, str(shard))
    with pytest.raises(FishError, match="missing 1 keys") as e:
        load_language_model(s2, device="cpu")
    assert remap_keys({name: 0}).popitem()[0] in e.value.message
    save_file(dict(tensors, **{"audio_decoder.bogus.weight": torch.zeros(2)}), str(shard))
    with pytest.raises(FishError, match="unexpected keys: fast_bogus.weight"):
        load_language_model(s2, device="cpu")
    save_file(dict(tensors, **{"text_model.model.norm.weight": torch.zeros(7)}), str(shard))
    with pytest.raises(FishError, match=r"norm.weight \[7\]"):
        load_language_model(s2, device="cpu")


def test_s2_index_naming_an_absent_shard(s2):
    (s2 / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(FishError, match="model-00002-of-00002.safetensors"):
        load_language_model(s2, device="cpu")


def test_s1_loads_float32_drops_audio_keys_and_names_bad_keys(s1):
    lm = load_language_model(s1, device="cpu")
    assert lm.dtype == torch.float32 and lm.family == S1_MINI
    assert lm.tokenizer.num_semantic == 4096 and lm.args.head_dim == 32
    state = torch.load(s1 / "model.pth", weights_only=True)
    state["audio_projector.weight"] = torch.zeros(3)  # the S1-era loader drops "audio_" keys
    torch.save(state, s1 / "model.pth")
    load_language_model(s1, device="cpu")
    state["bogus.weight"] = torch.zeros(3)
    torch.save(state, s1 / "model.pth")
    with pytest.raises(FishError, match="unexpected keys: bogus.weight"):
        load_language_model(s1, device="cpu")
    del state["bogus.weight"], state["layers.0.attention.q_norm.weight"]
    torch.save(state, s1 / "model.pth")
    with pytest.raises(FishError, match="layers.0.attention.q_norm.weight"):
        load_language_model(s1, device="cpu")


def test_s1_split_qkv_weights_are_fused(s1):
    state = torch.load(s1 / "model.pth", weights_only=True)
    want = load_language_model(s1, device="cpu").model.layers[1].attention.wqkv.weight
    w = state.pop("layers.1.attention.wqkv.weight")
    q, k = 4 * 32, 2 * 32
    state.update(
        {
            "layers.1.attention.wq.weight": w[:q],
            "layers.1.attention.wk.weight": w[q : q + k],
            "layers.1.attention.wv.weight": w[q + k :],
        }
    )
    torch.save(state, s1 / "model.pth")
    assert torch.equal(load_language_model(s1, device="cpu").model.layers[1].attention.wqkv.weight, want)
