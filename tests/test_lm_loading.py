"""Loading model.pth in the layouts upstream accepts, and failing clearly on broken files."""

import shutil

import pytest
import torch

from fish_speech.errors import FishError
from fish_speech.models.text2semantic.loader import load_language_model


@pytest.fixture()
def ckpt(tiny_lm_dir, tmp_path):
    d = tmp_path / "ckpt"
    shutil.copytree(tiny_lm_dir, d)
    return d


def _logits(lm):
    inp = torch.zeros(1, 9, 5, dtype=torch.int32)
    inp[0, 0] = torch.tensor([1, 2, 3, 4, 5])
    with torch.inference_mode():
        return lm.model(inp)[0]


def test_official_layout_loads_bf16_as_float32_on_cpu(ckpt):
    lm = load_language_model(ckpt, device="cpu")
    assert lm.dtype == torch.float32 and lm.model.embeddings.weight.dtype == torch.float32
    raw = torch.load(ckpt / "model.pth", weights_only=True)
    assert all(t.dtype == torch.bfloat16 for t in raw.values())
    assert torch.equal(lm.model.embeddings.weight, raw["embeddings.weight"].float())


def test_wrapper_prefix_and_split_qkv_load_identically(ckpt):
    want = _logits(load_language_model(ckpt, device="cpu"))
    state = torch.load(ckpt / "model.pth", weights_only=True)
    q_w = 4 * 16
    kv_w = 2 * 16
    split = {}
    for k, v in state.items():
        if k.startswith("layers.") and k.endswith("attention.wqkv.weight"):
            p = k[: -len("wqkv.weight")]
            q, kk, vv = v.split([q_w, kv_w, kv_w])
            split.update({p + "wq.weight": q, p + "wk.weight": kk, p + "wv.weight": vv})
        else:
            split[k] = v
    torch.save({"state_dict": {"model." + k: v for k, v in split.items()}}, ckpt / "model.pth")
    assert torch.allclose(_logits(load_language_model(ckpt, device="cpu")), want)


def test_missing_key_is_named(ckpt):
    state = torch.load(ckpt / "model.pth", weights_only=True)
    del state["layers.1.feed_forward.w2.weight"]
    torch.save(state, ckpt / "model.pth")
    with pytest.raises(FishError, match="layers.1.feed_forward.w2.weight") as e:
        load_language_model(ckpt, device="cpu")
    assert e.value.code == 422


def test_wrong_shape_is_named(ckpt):
    state = torch.load(ckpt / "model.pth", weights_only=True)
    state["norm.weight"] = torch.ones(7, dtype=torch.bfloat16)
    torch.save(state, ckpt / "model.pth")
    with pytest.raises(FishError, match=r"norm.weight \[7\]"):
        load_language_model(ckpt, device="cpu")


def test_unreadable_or_missing_files(ckpt, tmp_path):
    (ckpt / "model.pth").write_bytes(b"not a zip file")
    with pytest.raises(FishError, match="cannot read"):
        load_language_model(ckpt, device="cpu")
    (ckpt / "tokenizer.tiktoken").unlink()
    with pytest.raises(FishError, match="tokenizer"):
        load_language_model(ckpt, device="cpu")
    with pytest.raises(FishError, match="not found"):
        load_language_model(tmp_path / "nothing", device="cpu")
