"""The RunPod handler called directly: fields, formats, streaming, references, errors, modes."""

from __future__ import annotations

import asyncio
import base64
import http.server
import inspect
import io
import json
import logging
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from runpod_testkit import audio_bytes, configure, decode, error_of, run_job

from fish_speech.audio import FORMATS
from fish_speech.service.events import AudioBytes, JobDone, TextOut
from fish_speech.service.output import CHUNK_BYTES, MAX_CHUNK_BYTES
from fish_speech.settings import Settings
from tests.requires import need_tool

SR = 44100
FRAME = 2048  # samples per generated frame


def tts(**fields):
    job = {"text": "Hello there. Nice to meet you.", "tts": True, "max_new_tokens": 8, "seed": 1}
    job.update(fields)
    return job


def done_of(chunks):
    assert chunks, "no chunks"
    assert error_of(chunks) is None, chunks[-1]
    assert chunks[-1]["type"] == "done"
    return chunks[-1]


def test_handler_is_an_async_generator_function(handler_module):
    # the SDK only streams handlers that inspect sees as generator functions
    assert inspect.isasyncgenfunction(handler_module.handler)


def test_streaming_chunks_concatenate_to_one_wav(handler_module, worker):
    async def timed(job):  # each chunk with the time it reached the caller
        start, out = time.perf_counter(), []
        async for chunk in handler_module.handler({"id": "timed", "input": job}):
            out.append((time.perf_counter() - start, chunk))
        return out

    arrivals = asyncio.run(timed(tts(max_new_tokens=24, streaming=True)))
    chunks = [c for _, c in arrivals]
    done = done_of(chunks)
    audio = [c for c in chunks[:-1]]
    assert audio and all(c["type"] == "audio" and c["format"] == "wav" for c in audio)
    assert [c["index"] for c in audio] == list(range(len(audio))) and done["chunks"] == len(audio)
    assert len(audio) >= 3  # 24 frames arrive in pieces of 8, not at the end
    samples, sr = decode(audio_bytes(chunks), "wav")
    assert sr == SR == done["sample_rate"] and len(samples) == 24 * FRAME
    assert done["duration"] == pytest.approx(24 * FRAME / SR, abs=1e-3)
    assert "audio" not in done
    t = done["timings"]
    # the first audio is reported as ready no later than its chunk reached us, well before the end
    assert 0 < t["first_audio_s"] <= arrivals[0][0] < arrivals[-2][0]
    assert t["rtf"] == pytest.approx(t["total_s"] / done["duration"], rel=0.01)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "whole"])
def test_every_format_decodes_back(handler_module, worker, fmt, streaming):
    chunks = run_job(handler_module, tts(format=fmt, streaming=streaming, max_new_tokens=16))
    done = done_of(chunks)
    assert done["format"] == fmt
    if not streaming:
        assert len(chunks) == 1 and done["bytes"] == len(base64.b64decode(done["audio"]))
    samples, sr = decode(audio_bytes(chunks), fmt, done["sample_rate"])
    assert sr == done["sample_rate"] == (48000 if fmt == "opus" else SR)
    if fmt == "wav" and not streaming:  # a whole file's header gives its real length
        with wave.open(io.BytesIO(audio_bytes(chunks))) as w:
            assert (w.getnframes(), w.getframerate()) == (16 * FRAME, SR)
    expected = 16 * FRAME * sr / SR
    # lossy codecs pad: a streamed mp3 has no LAME tag to trim its encoder delay (~2 frames)
    tolerance = 0 if fmt in ("wav", "pcm", "flac") else 0.05 * expected + 2400
    assert abs(len(samples) - expected) <= tolerance


def test_every_field_reaches_the_engine(handler_module, worker, monkeypatch, speech_b64, speech_text):
    seen = []
    real = worker.engine.synthesize

    def spy(request):
        seen.append(request)
        return real(request)

    monkeypatch.setattr(worker.engine, "synthesize", spy)
    job = tts(
        text="It costs $5.",
        reference_text=speech_text,
        system_audio=speech_b64,
        streaming=False,
        format="flac",
        temperature=0.5,
        top_p=0.9,
        chunk_length=150,
        max_new_tokens=12,
        repetition_penalty=1.5,
        seed=77,
        normalize=False,
        use_memory_cache=False,
    )
    done = done_of(run_job(handler_module, job))
    (req,) = seen
    assert req.text == "It costs $5." and req.normalize is False and req.chunk_length == 150
    s = req.sampling
    assert (s.temperature, s.top_p, s.repetition_penalty, s.max_new_tokens, s.seed) == (0.5, 0.9, 1.5, 12, 77)
    assert len(req.references) == 1 and req.references[0].text == speech_text
    assert req.stream_frames == 128  # not streaming: pieces only as often as progress needs them
    assert done["format"] == "flac" and done["seed"] == 77 and done["reference"]["uploaded"] is True
    # defaults when nothing optional is sent (and STREAM_FRAMES at its default, not the fixture's 8)
    configure(monkeypatch, worker, stream_frames=Settings().stream_frames)
    seen.clear()
    run_job(handler_module, {"text": "Hi.", "tts": True, "max_new_tokens": 4})
    s = seen[0].sampling
    assert (s.temperature, s.top_p, s.repetition_penalty, s.seed) == (0.7, 0.7, 1.2, None)
    assert seen[0].chunk_length == 200 and seen[0].normalize is True and seen[0].references == []
    assert seen[0].stream_frames == 24  # streaming is the default, in pieces of STREAM_FRAMES = 24


def test_seed_makes_output_repeatable(handler_module, worker):
    a, b, c = (audio_bytes(run_job(handler_module, tts(seed=s, streaming=False))) for s in (5, 5, 6))
    assert a == b and a != c


def test_message_is_accepted_as_the_text(handler_module, worker):
    job = {"message": "Hello.", "tts": True, "max_new_tokens": 4}
    assert done_of(run_job(handler_module, job))["duration"] > 0


def test_second_identical_reference_hits_the_cache(handler_module, worker, speech_b64):
    job = tts(system_audio=speech_b64, reference_text="a fresh transcript", streaming=False)
    encoder = worker.voices.encoder
    before = encoder.encodes
    first = done_of(run_job(handler_module, job))["reference"]
    second = done_of(run_job(handler_module, job))["reference"]
    assert first["cached"] is False and second["cached"] is True and encoder.encodes == before + 1
    off = done_of(run_job(handler_module, {**job, "use_memory_cache": False}))["reference"]
    assert off["cached"] is False and encoder.encodes == before + 2
    # the upstream spellings of the switch work too
    assert done_of(run_job(handler_module, {**job, "use_memory_cache": "on"}))["reference"]["cached"] is True


def test_named_reference_voice(handler_module, worker):
    done = done_of(run_job(handler_module, tts(reference_id="alice")))
    assert done["reference"]["reference_id"] == "alice" and done["reference"]["uploaded"] is False


class _Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture()
def file_server(speech_wav):
    handler = lambda *a, **kw: _Files(*a, directory=str(speech_wav.parent), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_reference_audio_from_a_url(handler_module, worker, file_server, speech_wav, monkeypatch):
    url = f"{file_server}/{speech_wav.name}"
    # plain http and loopback addresses are refused unless the operator allows them
    assert error_of(run_job(handler_module, tts(system_audio=url)))["field"] == "system_audio"
    configure(monkeypatch, worker, allow_http_audio_urls=True)
    refused = error_of(run_job(handler_module, tts(system_audio=url)))
    assert refused["code"] == 400 and "non-public" in refused["message"]
    monkeypatch.setenv("RUNPOD_ALLOW_PRIVATE_DOWNLOAD_URLS", "1")
    assert done_of(run_job(handler_module, tts(system_audio=url)))["reference"]["uploaded"] is True
    missing = error_of(run_job(handler_module, tts(system_audio=f"{file_server}/nope.wav")))
    assert missing["code"] == 400 and "404" in missing["message"]
    configure(monkeypatch, worker, max_reference_bytes=1000)
    assert error_of(run_job(handler_module, tts(system_audio=url)))["code"] == 413


def _wav_b64(seconds: float, sr: int = 16000) -> str:
    from fish_speech.audio import encode_audio

    tone = 0.1 * np.sin(np.arange(int(seconds * sr)) * 0.05).astype(np.float32)
    return base64.b64encode(encode_audio(tone, sr, "wav")).decode()


BAD_INPUTS = [
    ("input not an object", "hello", 400, "input"),
    ("text missing", {"tts": True}, 400, "text"),
    ("text empty", {"text": "   "}, 400, "text"),
    ("text huge", {"text": "a" * 3001}, 400, "text"),
    ("text not a string", {"text": 5}, 400, "text"),
    ("tts not a bool", {"text": "hi", "tts": "yes"}, 400, "tts"),
    ("streaming not a bool", {"text": "hi", "streaming": "false"}, 400, "streaming"),
    ("unknown format", {"text": "hi", "format": "aiff"}, 400, "format"),
    ("temperature string", {"text": "hi", "temperature": "0.7"}, 400, "temperature"),
    ("temperature too high", {"text": "hi", "temperature": 5}, 400, "temperature"),
    ("top_p zero", {"text": "hi", "top_p": 0}, 400, "top_p"),
    ("repetition_penalty low", {"text": "hi", "repetition_penalty": 0.5}, 400, "repetition_penalty"),
    ("chunk_length negative", {"text": "hi", "chunk_length": -1}, 400, "chunk_length"),
    ("chunk_length fraction", {"text": "hi", "chunk_length": 10.5}, 400, "chunk_length"),
    ("max_new_tokens negative", {"text": "hi", "max_new_tokens": -3}, 400, "max_new_tokens"),
    ("max_new_tokens bool", {"text": "hi", "max_new_tokens": True}, 400, "max_new_tokens"),
    ("seed negative", {"text": "hi", "seed": -1}, 400, "seed"),
    ("normalize not a bool", {"text": "hi", "normalize": 1}, 400, "normalize"),
    ("bad base64", {"text": "hi", "system_audio": "not base64!!"}, 400, "system_audio"),
    (
        "non-audio bytes",
        {"text": "hi", "system_audio": base64.b64encode(b"hello, not audio" * 50).decode()},
        400,
        "system_audio",
    ),
    ("huge audio", {"text": "hi", "system_audio": "A" * (28 * 1024 * 1024)}, 413, "system_audio"),
    ("overlong audio", {"text": "hi", "system_audio": _wav_b64(91)}, 413, "system_audio"),
    ("path-like reference_id", {"text": "hi", "reference_id": "../etc"}, 400, "reference_id"),
    ("unknown reference_id", {"text": "hi", "reference_id": "nobody"}, 404, "reference_id"),
]


def bad_job(job_input):
    if isinstance(job_input, dict):
        return {"tts": True, "max_new_tokens": 4, **job_input}
    return job_input


@pytest.mark.parametrize("name,job_input,code,field", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_fails_with_code_and_field(handler_module, worker, name, job_input, code, field):
    chunks = run_job(handler_module, bad_job(job_input))
    assert len(chunks) == 1 and set(chunks[0]) == {"error"}  # the SDK turns this into FAILED
    err = json.loads(chunks[0]["error"])
    assert (err["code"], err["field"]) == (code, field), err
    assert err["message"]


def test_worker_keeps_serving_after_bad_input(handler_module, worker):
    assert error_of(run_job(handler_module, bad_job({"text": ""})))
    assert done_of(run_job(handler_module, tts()))


def test_unknown_fields_are_ignored_with_a_warning(handler_module, worker, caplog):
    with caplog.at_level(logging.WARNING, logger="fish_speech.runpod"):
        done_of(run_job(handler_module, tts(colour="blue", speed=2), job_id="warn-job"))
    assert any("colour" in r.getMessage() and "speed" in r.getMessage() for r in caplog.records)


def test_mode_dispatch(handler_module, worker, monkeypatch):
    plain = {"text": "Hi.", "max_new_tokens": 4}
    assert done_of(run_job(handler_module, plain))["mode"] == "tts"  # MODE defaults to tts
    # an agent job loads the agent on first use; here its weights are missing and downloads are off
    err = error_of(run_job(handler_module, {**plain, "tts": False}))
    assert err["code"] == 503 and "agent mode unavailable" in err["message"] and "fish-agent" in err["message"]
    configure(monkeypatch, worker, mode="agent")
    assert error_of(run_job(handler_module, plain))["code"] == 503
    assert done_of(run_job(handler_module, {**plain, "tts": True}))["mode"] == "tts"  # both modes, always


def test_failed_model_load_fails_every_job(handler_module, monkeypatch, tmp_path):
    monkeypatch.setenv("LLAMA_CHECKPOINT_PATH", str(tmp_path / "missing"))
    broken = handler_module.load_worker()
    assert broken.error is not None and broken.error.code == 503
    monkeypatch.setattr(handler_module, "WORKER", broken)
    for _ in range(2):
        err = error_of(run_job(handler_module, tts()))
        assert err["code"] == 503 and "models not loaded" in err["message"]


def test_long_jobs_report_progress(handler_module, worker, monkeypatch):
    updates = []
    # stand in for the platform's progress endpoint: record what the worker would post
    hook = lambda job, settings: lambda value: updates.append((job["id"], value))  # noqa: E731
    monkeypatch.setattr(handler_module.runpod_io, "progress_hook", hook)
    configure(monkeypatch, worker, progress_interval=0, progress_frames=8)
    done_of(run_job(handler_module, tts(streaming=False, max_new_tokens=24, chunk_length=0), job_id="p1"))
    assert len(updates) == 3 and all(job_id == "p1" and v["type"] == "progress" for job_id, v in updates)
    seconds = [v["audio_seconds"] for _, v in updates]
    assert seconds == sorted(seconds) and seconds[-1] == pytest.approx(24 * FRAME / SR, abs=0.01)
    updates.clear()
    done_of(run_job(handler_module, tts(streaming=True, max_new_tokens=16)))
    assert not updates  # streaming jobs show progress by their chunks


class _Agent:
    """An agent backend's events as the service yields them: text, then a whole (non-streamed) file."""

    def __init__(self, data: bytes):
        self.data = data

    async def events(self, raw, scheduler):
        yield TextOut("hi")
        yield AudioBytes(self.data, "wav", whole=True)
        yield JobDone({"mode": "agent", "format": "wav", "text": "hi"})


def chunk_json_sizes(chunks):
    return [len(json.dumps(c)) for c in chunks]


def test_chunks_stay_under_the_stream_limit(handler_module, worker, monkeypatch):
    # the largest chunk the worker can make is still under RunPod's 1 MB per output item
    for size in (CHUNK_BYTES, MAX_CHUNK_BYTES):
        biggest = {"type": "audio", "index": 10**6, "format": "opus", "audio": "A" * (4 * -(-size // 3))}
        assert len(json.dumps(biggest)) < 1_000_000
    configure(monkeypatch, worker, audio_chunk_bytes=99_999_999)  # the setting cannot lift it past the limit
    monkeypatch.setattr(worker, "agent", _Agent(bytes(2_000_000)))
    chunks = run_job(handler_module, {"message": "hello", "tts": False})
    assert max(len(base64.b64decode(c["audio"])) for c in chunks if c["type"] == "audio") == MAX_CHUNK_BYTES
    configure(monkeypatch, worker, audio_chunk_bytes=5000)
    chunks = run_job(handler_module, tts(max_new_tokens=16))
    audio = [c for c in chunks if c["type"] == "audio"]
    assert len(audio) > 10 and all(len(base64.b64decode(c["audio"])) <= 5000 for c in audio)
    assert max(chunk_json_sizes(chunks)) < 5000 * 4 // 3 + 200
    assert len(decode(audio_bytes(chunks), "wav")[0]) == 16 * FRAME


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_a_whole_file_over_the_chunk_limit_comes_in_chunks(handler_module, worker, monkeypatch, fmt):
    # streaming false: the whole file rides in `done` only while it fits in one output item
    configure(monkeypatch, worker, audio_chunk_bytes=5000)
    chunks = run_job(handler_module, tts(streaming=False, format=fmt, max_new_tokens=16))
    done = done_of(chunks)
    audio = chunks[:-1]
    assert "audio" not in done and len(audio) == done["chunks"] > 1
    assert [c["type"] for c in audio] == ["audio"] * len(audio) and [c["index"] for c in audio] == list(
        range(len(audio))
    )
    assert max(chunk_json_sizes(chunks)) < 5000 * 4 // 3 + 200
    data = audio_bytes(chunks)
    assert len(data) == done["bytes"]
    assert len(decode(data, fmt)[0]) == 16 * FRAME
    small = run_job(handler_module, tts(streaming=False, format=fmt, max_new_tokens=1))
    assert len(small) == 1 and small[0]["chunks"] == 0 and len(base64.b64decode(small[0]["audio"])) <= 5000


def test_finished_audio_is_uploaded_when_a_bucket_is_set(handler_module, worker, monkeypatch, tmp_path):
    # without bucket keys the SDK's upload helper keeps the file locally and returns its path
    configure(monkeypatch, worker, bucket_endpoint_url="https://bucket.example.invalid")
    monkeypatch.chdir(tmp_path)
    done = done_of(run_job(handler_module, tts(streaming=False, format="mp3"), job_id="up-1"))
    assert "audio" not in done and done["audio_url"].endswith("up-1.mp3")
    samples, sr = decode(Path(done["audio_url"]).read_bytes(), "mp3")
    assert sr == SR and abs(len(samples) - 8 * FRAME) < 0.05 * 8 * FRAME
    streamed = run_job(handler_module, tts(streaming=True))  # streamed audio is not uploaded
    assert "audio_url" not in streamed[-1] and audio_bytes(streamed)


def _fake_synthesize(worker, pieces, then=None):
    """An engine.synthesize stand-in yielding `pieces` (sample arrays), then raising `then`."""
    from fish_speech.engine.types import Segment

    def synthesize(request):
        for i, audio in enumerate(pieces):
            yield Segment(
                np.asarray(audio, np.float32), SR, request.text, np.zeros((8, 0), np.int32), 0, i == len(pieces) - 1
            )
        if then is not None:
            raise then

    return synthesize


@pytest.mark.parametrize("streaming", [True, False], ids=["stream", "whole"])
def test_no_audio_at_all_is_a_422(handler_module, worker, monkeypatch, streaming):
    # the seed worker reported an empty result as a success
    monkeypatch.setattr(worker.engine, "synthesize", _fake_synthesize(worker, [np.zeros(0)]))
    chunks = run_job(handler_module, tts(streaming=streaming))
    assert len(chunks) == 1
    err = error_of(chunks)
    assert (err["code"], err["field"]) == (422, "text") and "no audio" in err["message"]


def test_an_unexpected_failure_mid_stream_is_a_500(handler_module, worker, monkeypatch, caplog):
    boom = RuntimeError("secret detail /srv/models")
    real = worker.engine.synthesize
    monkeypatch.setattr(worker.engine, "synthesize", _fake_synthesize(worker, [np.zeros(FRAME) + 0.1], boom))
    with caplog.at_level(logging.ERROR, logger="fish_speech.runpod"):
        chunks = run_job(handler_module, tts(streaming=True))
    assert chunks[0]["type"] == "audio"  # audio went out before the failure...
    err = error_of(chunks)  # ...and the job still ends FAILED, without internals
    assert err == {"code": 500, "field": None, "message": "internal error: RuntimeError"}
    assert "secret detail" in caplog.text  # the details stay in the log
    monkeypatch.setattr(worker.engine, "synthesize", real)
    assert done_of(run_job(handler_module, tts()))  # and the worker keeps serving


@pytest.mark.parametrize(
    "env,word",
    [
        ({"MODE": "chat"}, "MODE"),
        ({"MAX_TEXT_LENGTH": "lots"}, "MAX_TEXT_LENGTH"),
        ({"STREAM_FRAMES": "fast"}, "STREAM_FRAMES"),
    ],
)
def test_a_misconfigured_worker_fails_every_job_with_503(handler_module, monkeypatch, env, word):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    broken = handler_module.load_worker()  # no exception: the worker must keep polling for jobs
    assert broken.engine is None and broken.error.code == 503 and word in broken.error.message
    monkeypatch.setattr(handler_module, "WORKER", broken)
    err = error_of(run_job(handler_module, tts()))
    assert err["code"] == 503 and word in err["message"]


def test_concurrency_comes_from_the_settings(handler_module, worker, monkeypatch):
    assert handler_module.max_concurrency(0) == 1
    configure(monkeypatch, worker, max_concurrency=3)
    assert handler_module.max_concurrency(1) == 3
    monkeypatch.setenv("MAX_CONCURRENCY", "many")  # checked at start-up, never inside the SDK's loop
    broken = handler_module.load_worker()
    assert broken.error.code == 503 and "MAX_CONCURRENCY" in broken.error.message


@pytest.mark.parametrize("ffmpeg", [False, True], ids=["soundfile", "ffmpeg"])
def test_reference_audio_in_other_formats(handler_module, worker, speech_wav, tmp_path, ffmpeg):
    import subprocess

    from fish_speech.audio import decode_audio, encode_audio

    samples, sr = decode_audio(speech_wav.read_bytes())
    files = {"flac": encode_audio(samples, sr, "flac"), "mp3": encode_audio(samples, sr, "mp3")}
    import soundfile as sf

    ogg = io.BytesIO()
    sf.write(ogg, samples, sr, format="OGG", subtype="VORBIS")
    files["ogg"] = ogg.getvalue()
    if ffmpeg:  # formats soundfile cannot read go through ffmpeg
        need_tool("ffmpeg")
        m4a = tmp_path / "speech.m4a"
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(speech_wav), "-c:a", "aac", str(m4a)], check=True)
        files = {"m4a": m4a.read_bytes()}
    for name, data in files.items():
        job = tts(system_audio=base64.b64encode(data).decode(), reference_text=name, max_new_tokens=2, streaming=False)
        assert done_of(run_job(handler_module, job))["reference"]["uploaded"] is True, name


def test_any_mode_whole_file_is_kept_under_the_item_limit(handler_module, worker, monkeypatch):
    # the agent slot's non-streaming summary carries its whole file too; the handler splits it
    data = bytes(range(256)) * 60  # 15360 bytes

    monkeypatch.setattr(worker, "agent", _Agent(data))
    configure(monkeypatch, worker, audio_chunk_bytes=5000)
    chunks = run_job(handler_module, {"message": "hello", "tts": False})
    assert [c["type"] for c in chunks] == ["text", "audio", "audio", "audio", "audio", "done"]
    assert [c["index"] for c in chunks[1:5]] == [0, 1, 2, 3] and chunks[-1]["chunks"] == 4
    assert "audio" not in chunks[-1] and chunks[-1]["text"] == "hi"
    assert b"".join(base64.b64decode(c["audio"]) for c in chunks[1:5]) == data
    configure(monkeypatch, worker, audio_chunk_bytes=20000)  # fits: unchanged
    chunks = run_job(handler_module, {"message": "hello", "tts": False})
    assert [c["type"] for c in chunks] == ["text", "done"] and base64.b64decode(chunks[-1]["audio"]) == data


def test_model_settings_come_from_the_environment(handler_module, monkeypatch, tmp_path):
    from fish_speech.engine import tts as tts_module

    calls = []

    def fake_load(llama, codec, device=None, half=False, compile=False, prefix_cache_bytes=0, packed_weight_bytes=0):
        calls.append((str(llama), str(codec), device, half, compile, packed_weight_bytes))
        raise RuntimeError("stop here")

    monkeypatch.setattr(tts_module.TTSEngine, "load", staticmethod(fake_load))
    names = (
        "LLAMA_CHECKPOINT_PATH",
        "DECODER_CHECKPOINT_PATH",
        "DEVICE",
        "HALF",
        "COMPILE",
        "MODE",
        "PACKED_WEIGHT_BYTES",
    )
    for name in names:
        monkeypatch.delenv(name, raising=False)
    handler_module.load_worker()
    default = Path("checkpoints") / "fish-speech-1.5"
    assert calls[-1] == (str(default), "None", None, False, False, 2 * 1024**3)  # None: the family finds its codec
    monkeypatch.setenv("LLAMA_CHECKPOINT_PATH", str(tmp_path / "lm"))
    monkeypatch.setenv("DEVICE", "cpu")
    monkeypatch.setenv("HALF", "true")
    monkeypatch.setenv("COMPILE", "1")
    monkeypatch.setenv("PACKED_WEIGHT_BYTES", "0")
    broken = handler_module.load_worker()
    assert calls[-1] == (str(tmp_path / "lm"), "None", "cpu", True, True, 0)
    assert broken.error.code == 503 and "stop here" in broken.error.message
    monkeypatch.setenv("DECODER_CHECKPOINT_PATH", str(tmp_path / "codec.pth"))
    handler_module.load_worker()
    assert calls[-1][1] == str(tmp_path / "codec.pth")
