"""`python tools/gen_ref.py` builds the ref_data index; RefData draws clips and refuses escapes."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys

import pytest

from fish_speech.errors import FishError
from fish_speech.voices.ref_data import RefData, write_index
from tests.server.helpers import ROOT


@pytest.fixture()
def project(tmp_path, workdir):
    shutil.copytree(workdir / "ref_data", tmp_path / "ref_data")
    (tmp_path / "ref_data" / "SPEAKER1" / "HAPPY" / "orphan.wav").write_bytes(b"no .lab next to me")
    (tmp_path / "ref_data" / "SPEAKER1" / "HAPPY" / "notes.txt").write_text("not audio")
    return tmp_path


def test_script_writes_the_index(project):
    r = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_ref.py")],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ""},
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert "1 speakers, 4 clips" in r.stdout
    doc = json.loads((project / "ref_data.json").read_text())
    happy = doc["speakers"]["SPEAKER1"]["HAPPY"]
    assert [c["audio"] for c in happy] == ["ref_data/SPEAKER1/HAPPY/0.0-1.5.wav", "ref_data/SPEAKER1/HAPPY/1.0-2.5.wav"]
    assert happy[0]["text"] == "happy clip 0"


def test_pick_uses_the_index_or_scans(project):
    scanned = RefData.load(project / "ref_data")
    path, text = scanned.pick("SPEAKER1", "CALM", random.Random(0))
    assert path.parent.name == "CALM" and path.is_file() and text.startswith("calm clip")
    write_index(project / "ref_data")
    indexed = RefData.load(project / "ref_data")
    assert indexed.speakers == scanned.speakers
    seen = {indexed.pick("SPEAKER1", rng=random.Random(i))[0].parent.name for i in range(20)}
    assert seen == {"CALM", "HAPPY"}  # no emotion: any clip of the speaker


def test_names_and_index_entries_cannot_escape(project):
    data = RefData.load(project / "ref_data")
    for speaker, emotion in (("..", None), ("SPEAKER1", "../HAPPY"), ("a/b", None)):
        with pytest.raises(FishError) as err:
            data.pick(speaker, emotion)
        assert err.value.code == 400
    with pytest.raises(FishError) as err:
        data.pick("NOBODY")
    assert err.value.code == 404
    tampered = RefData({"S": {"E": [{"audio": "../../etc/passwd", "text": ""}]}}, project)
    with pytest.raises(FishError):
        tampered.pick("S", "E")


def test_missing_folder_is_an_error(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "tools.gen_ref", "--root", str(tmp_path / "nope")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1 and "does not exist" in r.stderr
