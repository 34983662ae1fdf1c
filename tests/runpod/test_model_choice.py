"""MODEL (or the checkpoint folder) picks what the worker serves and downloads: fish_speech/catalog.py,
as entrypoint.sh runs it. No network: downloads go through a stand-in `huggingface_hub`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from runpod_testkit import ROOT, child_env, echoing_python, fake_hub

from fish_speech.catalog import CHECKPOINTS, plan
from fish_speech.settings import Settings, SettingsError


@pytest.mark.parametrize(
    "env,model,repo",
    [
        ({}, "fish-speech-1.5", "fishaudio/fish-speech-1.5"),
        ({"MODEL": "s2-pro"}, "s2-pro", "fishaudio/s2-pro"),
        ({"MODEL": "OpenAudio-S1-mini"}, "openaudio-s1-mini", "fishaudio/openaudio-s1-mini"),
        ({"MODEL": "fish-audio-s2-pro"}, "s2-pro", "fishaudio/s2-pro"),  # the family's name works too
        ({"LLAMA_CHECKPOINT_PATH": "/data/openaudio-s1-mini"}, "openaudio-s1-mini", "fishaudio/openaudio-s1-mini"),
        ({"MODEL": "s2-pro", "HF_REPO": "me/my-s2"}, "s2-pro", "me/my-s2"),
    ],
)
def test_model_or_folder_name_picks_checkpoint_and_repository(env, model, repo, tmp_path):
    p = plan(Settings.from_env(env), tmp_path)
    assert (p.checkpoint.model, p.repo) == (model, repo)
    folder = Path(env["LLAMA_CHECKPOINT_PATH"]) if "LLAMA_CHECKPOINT_PATH" in env else tmp_path / model
    assert p.path == folder and p.codec == folder / CHECKPOINTS[model].files[-1]
    assert p.missing()[0] == folder / "config.json"


def test_a_folder_is_known_by_its_files_and_needs_its_shards(tiny_family_dir, tmp_path):
    folder = tmp_path / "snapshots" / "0123abcd"  # e.g. RunPod's cached-model folder
    shutil.copytree(tiny_family_dir("s2-pro"), folder)
    for env in ({}, {"MODEL": "fish-speech-1.5"}):  # its files win over a MODEL left in an image
        p = plan(Settings.from_env({"LLAMA_CHECKPOINT_PATH": str(folder), **env}), tmp_path / "unused")
        assert p.checkpoint.family == "fish-audio-s2-pro" and p.path == folder and p.missing() == []
    shard = next(folder.glob("model-*.safetensors"))
    shard.unlink()
    assert p.missing() == [shard]  # the index lists it: a half download is not a checkpoint


def test_memory_and_licences_are_stated_per_family():
    s2, s1, v15 = CHECKPOINTS["s2-pro"], CHECKPOINTS["openaudio-s1-mini"], CHECKPOINTS["fish-speech-1.5"]
    assert (s2.weights_gb, s1.weights_gb, v15.weights_gb) == (9.2, 1.7, 1.0)
    assert s2.gpu_gb > s2.weights_gb and "Research" in s2.licence and s1.licence == v15.licence == "CC-BY-NC-SA-4.0"
    hub = json.loads((ROOT / ".runpod" / "hub.json").read_text())
    option = next(e for e in hub["config"]["env"] if e["key"] == "MODEL")["input"]
    assert [o["value"] for o in option["options"]] == list(CHECKPOINTS)
    with pytest.raises(SettingsError, match="MODEL"):
        Settings.from_env({"MODEL": "s3-ultra"})


def _entrypoint(tmp_path, env, timeout=120):
    # the catalog runs for real, the handler's command line is echoed
    env = {
        k: v
        for k, v in child_env(**env, PYTHON=echoing_python(tmp_path)).items()
        if k not in ("DECODER_CHECKPOINT_PATH",)
    }
    env.pop("LLAMA_CHECKPOINT_PATH", None)
    # the entrypoint keeps checkpoints beside itself: run a copy of it in a scratch tree
    shutil.copy(ROOT / "entrypoint.sh", tmp_path / "entrypoint.sh")
    (tmp_path / "fish_speech").symlink_to(ROOT / "fish_speech")
    cmd = [str(tmp_path / "entrypoint.sh")]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)


def test_entrypoint_downloads_the_model_named_by_model(tiny_family_dir, tmp_path):
    hub = fake_hub(tmp_path, tiny_family_dir("s2-pro"))
    result = _entrypoint(
        tmp_path, {"MODEL": "s2-pro", "PYTHONPATH": hub, "HF_TOKEN": "hf_x", "DOWNLOAD_CHECKPOINTS": "true"}
    )
    assert result.returncode == 0, result.stderr
    assert "fake download of fishaudio/s2-pro token" in result.stderr
    assert "fish-audio-s2-pro model" in result.stderr and f"{tmp_path}/checkpoints/s2-pro/codec.pth" in result.stderr
    assert (tmp_path / "checkpoints" / "s2-pro" / "model.safetensors.index.json").is_file()


def test_entrypoint_says_a_gated_model_needs_a_token(tmp_path):
    result = _entrypoint(tmp_path, {"MODEL": "openaudio-s1-mini", "DOWNLOAD_CHECKPOINTS": "false"}, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "checkpoints/openaudio-s1-mini/model.pth" in result.stderr and "HF_TOKEN" in result.stderr
    assert "fishaudio/openaudio-s1-mini is gated" in result.stderr
