"""The worker's `done.timings` show the prefix KV cache: a repeated voice reports `prefix_cached`
true (and its prefill), the first request of a voice false."""

from __future__ import annotations

from runpod_testkit import run_job

from fish_speech.models.text2semantic.prefix import PrefixCache


def _timings(handler_module, job):
    chunks = run_job(handler_module, job)
    assert chunks[-1]["type"] == "done", chunks[-1]
    return chunks[-1]["timings"]


def test_a_repeated_voice_reports_its_cached_prefix(handler_module, worker, monkeypatch):
    monkeypatch.setattr(worker.engine.generator, "prefix_cache", PrefixCache(1 << 26))
    job = {"text": "Hello there.", "tts": True, "max_new_tokens": 8, "seed": 1, "reference_id": "alice"}
    cold = _timings(handler_module, job)
    warm = _timings(handler_module, {**job, "text": "Another sentence."})
    assert cold["prefix_cached"] is False and warm["prefix_cached"] is True
    assert cold["prefill_s"] > 0 and warm["prefill_s"] > 0 and warm["first_audio_s"] > 0
    plain = _timings(handler_module, {**job, "reference_id": None})  # another voice (none): cold again
    assert plain["prefix_cached"] is False
