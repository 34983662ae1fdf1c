"""Random-weight test checkpoints carry a marker, and the serving process says so at start-up."""

from __future__ import annotations

import logging

from fish_speech.models.random_weights import MARKER, WARNING, is_random


def test_every_writer_marks_its_folder(tiny_checkpoints, tiny_s1_dir, tiny_s2_dir, tmp_path):
    from fish_speech.testing.agent_checkpoint import write_agent_checkpoint
    from fish_speech.testing.dac_checkpoint import write_dac_checkpoint

    dac = write_dac_checkpoint(tmp_path / "dac" / "codec.pth")
    agent = write_agent_checkpoint(tmp_path / "agent")
    for folder in (tiny_checkpoints[0], tiny_checkpoints[1].parent, tiny_s1_dir, tiny_s2_dir, dac.parent, agent):
        text = (folder / MARKER).read_text()
        assert WARNING in text and text.count("\n") == 1
    assert is_random(tiny_checkpoints[1]) and is_random(None, agent)  # a file: its folder decides
    assert not is_random(tmp_path, tmp_path / "missing.pth", None)


def test_real_looking_folder_without_the_marker_is_not_flagged(tiny_checkpoints, tmp_path):
    import shutil

    copy = shutil.copytree(tiny_checkpoints[0], tmp_path / "fish-speech-1.5", ignore=shutil.ignore_patterns(MARKER))
    assert not is_random(copy) and is_random(tiny_checkpoints[0])


def test_worker_start_up_logs_the_warning_once(tiny_checkpoints, caplog):
    from fish_speech.service.runtime import Runtime
    from fish_speech.settings import Settings

    settings = Settings(checkpoint_path=str(tiny_checkpoints[0]), device="cpu")
    with caplog.at_level(logging.WARNING, logger="fish_speech.service"):
        rt = Runtime.load(settings)
    assert rt.error is None and rt.random_weights
    assert [r.getMessage() for r in caplog.records].count(f"{WARNING} ({tiny_checkpoints[0]})") == 1


def test_runtime_flag_on_the_tiny_engine(tiny_engine):
    from fish_speech.service.runtime import Runtime

    assert Runtime(engine=tiny_engine).random_weights
