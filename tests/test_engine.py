"""TTS engine: segments, streaming equals one-shot, references, scheduler."""

import asyncio

import numpy as np
import pytest
import soundfile as sf

from fish_speech.engine.scheduler import Scheduler
from fish_speech.engine.types import Sampling, TTSRequest
from fish_speech.errors import FishError


def _audio(segments):
    return np.concatenate([s.audio for s in segments])


def test_reference_from_real_speech(tiny_engine, speech_wav, speech_text):
    audio, sr = sf.read(speech_wav, dtype="float32")
    ref = tiny_engine.encode_reference(audio, sr, speech_text)
    frames = int(np.ceil(np.floor(len(audio) * 44100 / sr / 512) / 4))
    assert ref.codes.shape[0] == 8 and abs(ref.codes.shape[1] - frames) <= 1
    assert ref.codes.min() >= 0 and ref.codes.max() <= 999


def test_streamed_segments_equal_one_shot(tiny_engine, speech_wav, speech_text):
    audio, sr = sf.read(speech_wav, dtype="float32")
    ref = tiny_engine.encode_reference(audio, sr, speech_text)
    text = "Good morning. The weather is fine today."

    def run(stream_frames):
        req = TTSRequest(
            text=text,
            references=[ref],
            chunk_length=20,
            stream_frames=stream_frames,
            sampling=Sampling(max_new_tokens=12, seed=3),
        )
        return list(tiny_engine.synthesize(req))

    whole, streamed = run(0), run(4)
    assert len(streamed) > len(whole) >= 2
    assert [s.chunk_index for s in whole] == list(range(len(whole))) and all(s.chunk_done for s in whole)
    codes = np.concatenate([s.codes for s in streamed], axis=1)
    assert np.array_equal(codes, np.concatenate([s.codes for s in whole], axis=1))
    a, b = _audio(whole), _audio(streamed)
    assert len(a) == len(b) == 2048 * codes.shape[1]
    assert np.allclose(a, b, atol=1e-4)  # the causal decoder makes pieces join exactly
    # first audio: taken once, at the first piece (before that piece's own elapsed time), not at the end
    first = streamed[0].timings["first_audio_s"]
    assert all(s.timings["first_audio_s"] == first for s in streamed)
    assert 0 < first <= streamed[0].timings["elapsed_s"] < streamed[-1].timings["elapsed_s"]


def test_empty_text_is_a_clear_error(tiny_engine):
    with pytest.raises(FishError) as e:
        list(tiny_engine.synthesize(TTSRequest(text=" ... !!! ")))
    assert (e.value.code, e.value.field) == (400, "text")


def test_normalize_changes_what_is_spoken(tiny_engine):
    req = TTSRequest(text="I have 3 cats.", normalize=True, chunk_length=0, sampling=Sampling(max_new_tokens=2))
    assert [s.text for s in tiny_engine.synthesize(req)][-1] == "I have three cats."


def test_scheduler_streams_in_order_and_stops_early():
    import time

    sched = Scheduler()
    produced = []

    def counter(n):
        for i in range(n):
            time.sleep(0.002)  # like model work: the consumer keeps up
            produced.append(i)
            yield i

    async def main():
        got = [x async for x in sched.stream(counter, 5)]
        async for x in sched.stream(counter, 1000):
            if x == 2:
                break
        with pytest.raises(ZeroDivisionError):
            await sched.call(lambda: 1 / 0)
        return got, await sched.call(lambda: "ok")

    got, last = asyncio.run(main())
    assert got == [0, 1, 2, 3, 4] and last == "ok"
    assert len(produced) < 5 + 100 and sched.pending == 0


def test_scheduler_keeps_event_loop_free():
    import time

    sched = Scheduler()

    def slow():
        time.sleep(0.3)
        yield "done"

    async def main():
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        t = asyncio.create_task(ticker())
        out = [x async for x in sched.stream(slow)]
        t.cancel()
        return out, ticks

    out, ticks = asyncio.run(main())
    assert out == ["done"] and ticks > 10


def test_first_streamed_piece_is_small_then_stream_frames(tiny_engine):
    req = TTSRequest(
        text="One long chunk of text here.",
        chunk_length=0,
        stream_frames=16,
        sampling=Sampling(max_new_tokens=48, seed=1),
    )
    sizes = [s.codes.shape[1] for s in tiny_engine.synthesize(req)]
    assert sizes[0] == 8 and sizes[1:-1] == [16, 16] and sum(sizes) == 48
