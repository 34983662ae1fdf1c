"""The files around the worker agree with it: test_input.json, the RunPod Hub files, the README."""

from __future__ import annotations

import json
import re

import pytest
from runpod_testkit import ROOT

from fish_speech.service.fields import TTS_RULES, Limits, parse_tts

HUB = json.loads((ROOT / ".runpod" / "hub.json").read_text())
HUB_TESTS = json.loads((ROOT / ".runpod" / "tests.json").read_text())
README = (ROOT / "runpod" / "README.md").read_text()
# GPU pool ids of the RunPod docs (references/gpu-types, "GPU pools"), which hub.json's gpuIds takes
GPU_POOLS = {"AMPERE_16", "AMPERE_24", "ADA_24", "AMPERE_48", "ADA_48_PRO", "AMPERE_80", "ADA_80_PRO", "HOPPER_141"}


def test_test_input_json_is_a_valid_tts_job():
    job = json.loads((ROOT / "test_input.json").read_text())
    assert set(job) == {"input"} and job["input"]["tts"] is True  # tts whatever MODE says
    values, unknown = parse_tts(job["input"], Limits(), ignore={"tts"})
    assert not unknown and values["text"]


def test_hub_json_follows_the_hub_schema():
    assert HUB["type"] == "serverless" and HUB["category"] == "audio" and HUB["title"] and HUB["description"]
    config = HUB["config"]
    assert config["runsOn"] == "GPU" and isinstance(config["containerDiskInGb"], int)
    assert isinstance(config["gpuCount"], int) and config["gpuCount"] >= 1
    assert set(config["gpuIds"].split(",")) <= GPU_POOLS
    assert all(re.fullmatch(r"\d+\.\d+", v) for v in config["allowedCudaVersions"])
    keys = []
    for env in config["env"]:
        keys.append(env["key"])
        field = env["input"]
        assert field["name"] and field["description"] and field["type"] in ("string", "number", "boolean")
        if field["type"] == "boolean":
            assert (field["trueValue"], field["falseValue"]) == ("true", "false")  # what env_flag reads
        for option in field.get("options", []):
            assert set(option) == {"label", "value"}
    assert len(keys) == len(set(keys)) and {
        "MODE",
        "MAX_TEXT_LENGTH",
        "MAX_REFERENCE_BYTES",
        "MAX_REFERENCE_SECONDS",
        "BUCKET_ENDPOINT_URL",
    } <= set(keys)
    for preset in config["presets"]:
        assert preset["name"] and set(preset["defaults"]) <= set(keys)
    for key in keys:  # every variable a Hub user can set is documented
        assert f"`{key}`" in README, key


def test_hub_tests_are_valid_tts_jobs():
    assert HUB_TESTS["tests"]
    for case in HUB_TESTS["tests"]:
        assert case["name"] and isinstance(case["timeout"], int) and case["timeout"] >= 60_000  # milliseconds
        assert case["input"]["tts"] is True
        parse_tts(case["input"], Limits(), ignore={"tts"})
    config = HUB_TESTS["config"]
    assert config["gpuTypeId"] and config["gpuCount"] == 1
    assert {"key": "MODE", "value": "tts"} in config["env"]


@pytest.mark.parametrize("name", sorted(TTS_RULES) + ["tts"])
def test_readme_documents_every_field(name):
    row = re.search(rf"^\| `{name}` \|.*$", README, re.M)
    assert row, f"no table row for {name}"
    rule = TTS_RULES.get(name)
    if rule is not None and not rule.required and rule.default not in (None, ""):
        default = (
            str(rule.default).lower()
            if isinstance(rule.default, bool)
            else f"{rule.default:g}"
            if isinstance(rule.default, float)
            else str(rule.default)
        )
        assert default in row.group(0), (name, default)


def test_readme_documents_errors_limits_and_endpoints():
    for code in (400, 404, 413, 422, 500, 503):
        assert re.search(rf"^\| {code} \|", README, re.M), code
    limits = Limits()
    for env, value in (
        ("MAX_TEXT_LENGTH", limits.max_text_length),
        ("MAX_REFERENCE_BYTES", limits.max_reference_bytes),
        ("MAX_REFERENCE_SECONDS", limits.max_reference_seconds),
        ("MAX_NEW_TOKENS_LIMIT", limits.max_new_tokens),
        ("REFERENCE_URL_TIMEOUT", limits.reference_url_timeout),
    ):
        shown = int(value) if float(value).is_integer() else value
        assert re.search(rf"`{env}` \| {shown} \|", README), env
    for route in ("/run", "/runsync", "/stream", "/status"):
        assert f'"$EP{route}' in README or f"$EP{route}/" in README, route
    for call in ("endpoint.run(", "endpoint.run_sync(", "job.stream(", "job.status("):
        assert call in README, call


def test_the_image_runs_the_torch_the_tests_run_on():
    import re

    ci = re.search(r"^TORCH_VERSION=(\S+)", (ROOT / ".ci" / "run").read_text(), re.M)
    image = re.search(r"^ARG TORCH_VERSION=(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert ci and image and ci.group(1) == image.group(1)
    assert "torch==${TORCH_VERSION}" in (ROOT / "Dockerfile").read_text()


def test_the_sdk_logs_no_chunks_by_default(capsys):
    from runpod.serverless.modules.rp_logger import RunPodLogger

    from fish_speech import runpod_io
    from fish_speech.settings import Settings

    sdk = RunPodLogger()
    before = sdk.level
    try:
        runpod_io.quiet_sdk_logs(Settings.from_env({}))  # RUNPOD_LOG_LEVEL unset
        capsys.readouterr()
        sdk.debug("an output chunk: " + "A" * 2000)  # what the SDK logs per streamed item at DEBUG
        sdk.info("job done")
        out = capsys.readouterr().out
        assert "job done" in out and "AAAA" not in out
        runpod_io.quiet_sdk_logs(Settings.from_env({"RUNPOD_LOG_LEVEL": "DEBUG"}))  # asked for: shown
        sdk.debug("an output chunk: " + "A" * 20)
        assert "AAAA" in capsys.readouterr().out
    finally:
        sdk.set_level(before)
