"""Issue 12 probes replayed on the worker: bad numbers and strings are 400s, work per job is bounded."""

from __future__ import annotations

import base64
import http.server
import threading
import time

import pytest
from runpod_testkit import configure, error_of, run_job


def tts(**fields):
    job = {"text": "Hello there.", "tts": True, "max_new_tokens": 8, "seed": 1, "streaming": False}
    job.update(fields)
    return job


def failed(chunks) -> dict:
    err = error_of(chunks)
    assert err is not None, chunks[-1]
    return err


@pytest.fixture()
def spy(worker, monkeypatch):
    """Requests that reached the engine (to prove a refusal came before any generation)."""
    seen = []
    real = worker.engine.synthesize

    def record(request, *args, **kwargs):
        seen.append(request)
        return real(request, *args, **kwargs)

    monkeypatch.setattr(worker.engine, "synthesize", record)
    return seen


@pytest.mark.parametrize("name", ["temperature", "top_p", "max_new_tokens", "seed", "chunk_length"])
def test_huge_numbers_are_400_naming_the_field(handler_module, worker, spy, name):
    err = failed(run_job(handler_module, tts(**{name: 10**400})))
    assert (err["code"], err["field"]) == (400, name)
    assert not spy


@pytest.mark.parametrize("name", ["text", "reference_text"])
def test_lone_surrogates_are_400_naming_the_field(handler_module, worker, spy, name):
    err = failed(run_job(handler_module, tts(**{name: "Hi \ud800 there"})))
    assert (err["code"], err["field"]) == (400, name)
    assert not spy


def test_agent_message_with_a_surrogate_is_400(handler_module, worker):
    err = failed(run_job(handler_module, {"message": "Hi \ud800", "tts": False}))
    assert err["code"] in (400, 503)  # 503 only where the tts-only worker has no agent loaded
    if err["code"] == 400:
        assert err["field"] == "message"


@pytest.mark.parametrize("text", ["\u200b\u200c\u200d\ufeff" * 50, "\x01\x02\x07\x1b" * 30, "\u2060\u00ad \u200b"])
def test_text_with_nothing_to_say_is_400(handler_module, worker, spy, text):
    err = failed(run_job(handler_module, tts(text=text)))
    assert (err["code"], err["field"]) == (400, "text")
    assert not spy


def test_deeply_nested_input_is_400(handler_module, worker):
    nested = "x"
    for _ in range(1000):
        nested = [nested]
    err = failed(run_job(handler_module, tts(text=nested)))
    assert (err["code"], err["field"]) == (400, "text")


def test_text_limit_holds_after_normalisation(handler_module, worker, monkeypatch, spy):
    configure(monkeypatch, worker, max_text_length=200)
    text = "\ufdfa" * 30  # 30 characters that normalise to 18 words each
    err = failed(run_job(handler_module, tts(text=text)))
    assert (err["code"], err["field"]) == (413, "text")
    assert "after normalisation" in err["message"] and "200" in err["message"]
    assert not spy
    # without normalisation the same text is short enough to be tried
    assert error_of(run_job(handler_module, tts(text="1" * 30, normalize=False, max_new_tokens=2))) is None


def test_tiny_chunk_length_is_merged_up_to_the_minimum(handler_module, worker, monkeypatch, spy):
    configure(monkeypatch, worker, min_chunk_length=60)
    assert error_of(run_job(handler_module, tts(text="One. Two. Three. Four.", chunk_length=1))) is None
    assert spy[-1].chunk_length == 60
    assert error_of(run_job(handler_module, tts(chunk_length=0))) is None
    assert spy[-1].chunk_length == 0  # still "one chunk"


def test_audio_per_job_is_capped(handler_module, worker, monkeypatch):
    configure(monkeypatch, worker, max_audio_seconds=0.3)
    err = failed(run_job(handler_module, tts(max_new_tokens=40)))  # 40 frames = 1.86 s
    assert (err["code"], err["field"]) == (413, "text")
    assert "MAX_AUDIO_SECONDS" in err["message"]


def test_text_too_long_for_the_audio_cap_is_refused_before_generating(handler_module, worker, monkeypatch, spy):
    configure(monkeypatch, worker, max_audio_seconds=1)
    err = failed(run_job(handler_module, tts(text="word " * 20)))  # 100 characters: over 30 per second
    assert (err["code"], err["field"]) == (413, "text")
    assert not spy


def test_reference_text_is_capped_and_nothing_is_cached(handler_module, worker, monkeypatch, speech_b64):
    configure(monkeypatch, worker, max_reference_text_length=50)
    cached = len(worker.voices._cache)
    err = failed(run_job(handler_module, tts(system_audio=speech_b64, reference_text="x" * 51)))
    assert (err["code"], err["field"]) == (413, "reference_text")
    assert "50" in err["message"]
    assert len(worker.voices._cache) == cached


def test_reference_total_size_is_checked_before_decoding(handler_module, worker, monkeypatch):
    configure(monkeypatch, worker, max_references_bytes=1000)
    junk = base64.b64encode(b"\0" * 4000).decode()  # not audio: a decode would say so with a 400
    err = failed(run_job(handler_module, tts(system_audio=junk)))
    assert (err["code"], err["field"]) == (413, "references")
    assert "MAX_REFERENCES_BYTES" in err["message"]


class _Trickle(http.server.BaseHTTPRequestHandler):
    """Announces 100 kB of audio, then sends one byte every 0.2 s."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        try:
            for _ in range(100000):
                self.wfile.write(b"\0")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass


def test_a_trickling_url_is_bounded_by_the_whole_timeout(handler_module, worker, monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        configure(monkeypatch, worker, allow_http_audio_urls=True, reference_url_timeout=1.0)
        monkeypatch.setenv("RUNPOD_ALLOW_PRIVATE_DOWNLOAD_URLS", "1")
        url = f"http://127.0.0.1:{server.server_address[1]}/slow.wav"
        started = time.monotonic()
        err = failed(run_job(handler_module, tts(system_audio=url)))
        assert time.monotonic() - started < 4  # each read is quick: only a whole-download bound stops it
        assert (err["code"], err["field"]) == (400, "system_audio")
        assert "REFERENCE_URL_TIMEOUT" in err["message"]
    finally:
        server.shutdown()
