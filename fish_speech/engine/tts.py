"""The TTS engine: references + text in, audio segments out, as soon as each is decoded.

One engine serves every surface (CLI, RunPod worker, HTTP server). It is not thread-safe: run it
on one thread (see `Scheduler`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from fish_speech.engine.types import Reference, Segment, TTSRequest
from fish_speech.models.family import WAIT, ModelFamily, load_family
from fish_speech.text.normalize import normalize_text

FIRST_FRAMES = 8  # frames in the first streamed piece (~0.37 s of audio)
SYNC_FRAMES = 8  # the generator hands frames over (one host sync) every this many frames


class TTSEngine:
    def __init__(self, family: ModelFamily):
        self.family = family
        self.lm, self.codec = family.lm, family.codec
        self.device = family.device
        self.sample_rate = self.codec.sample_rate
        self.generator = family.generator()
        self.compile = family.compile
        self.load_timings: dict = {}

    @classmethod
    def load(
        cls,
        llama_checkpoint_path: str | Path,
        decoder_checkpoint_path: str | Path | None = None,
        device: str | None = None,
        half: bool = False,
        compile: bool = False,
    ) -> "TTSEngine":
        """Any family's folder; the codec defaults to the family's file beside the weights."""
        t0 = time.perf_counter()
        family = load_family(llama_checkpoint_path, decoder_checkpoint_path, device=device, half=half, compile=compile)
        t1 = time.perf_counter()
        family.codec  # noqa: B018 - load now, so a missing codec fails at start-up and the timing is honest
        t2 = time.perf_counter()
        engine = cls(family)
        engine.load_timings = {"language_model_s": t1 - t0, "codec_s": t2 - t1}
        return engine

    def encode_reference(self, audio: np.ndarray, sample_rate: int, text: str) -> Reference:
        codes = self.codec.encode(audio, sample_rate)
        return Reference(codes=np.asarray(codes.cpu(), dtype=np.int32), text=text)

    def synthesize(self, request: TTSRequest, generator=None, should_stop=None) -> Iterator[Segment]:
        """Yield audio segments in order: every `stream_frames` frames, and at the end of each chunk.

        `generator` (a batch `Slot`, see `BatchScheduler`) runs the request in one row of a batch;
        then `WAIT` items come between segments while the batch computes frames. `should_stop()`
        (the scheduler's cancel flag) is polled every few frames: a job whose caller has gone ends there
        even when it yields nothing for a long time (whole-file requests)."""
        start = time.perf_counter()
        s = request.sampling
        generator = generator or self.generator
        generator.seed(s.seed)
        generator.set_sampling(s.temperature, s.top_p, s.repetition_penalty, getattr(s, "top_k", None))
        text = normalize_text(request.text, "auto") if request.normalize else request.text
        refs = [(r.text, r.codes) for r in request.references]
        # Streaming starts small: the first piece goes out after FIRST_FRAMES frames (a lower time to
        # first audio), later ones every `stream_frames` (fewer codec calls). Host syncs stay sparse.
        every = request.stream_frames
        first = min(every, FIRST_FRAMES) if every > 0 else 0
        step = min(every, SYNC_FRAMES) if every > 0 else SYNC_FRAMES
        first_audio = None
        pending: list[np.ndarray] = []
        decoder = None
        gen_s = dec_s = 0.0
        mark = time.perf_counter()
        blocks = self.family.generate_long(generator, text, refs, s.max_new_tokens, request.chunk_length, step)
        for block in blocks:
            if should_stop is not None and should_stop():
                return
            if block is WAIT:  # batched: other requests run meanwhile; the wait counts as generation time
                yield WAIT
                continue
            gen_s += time.perf_counter() - mark
            if decoder is None:  # one causal decode across chunks: joins carry their left context
                decoder = self.family.streaming_decoder()
            if block.codes.shape[1]:
                pending.append(block.codes)
            ready = sum(p.shape[1] for p in pending)
            emit = block.chunk_done or (every > 0 and ready >= (first if first_audio is None else every))
            if emit and (ready or block.chunk_done):
                codes = (
                    np.concatenate(pending, axis=1) if pending else np.zeros((self.family.num_codebooks, 0), np.int32)
                )
                pending = []
                t = time.perf_counter()
                audio = decoder.push(codes) if codes.shape[1] else np.zeros(0, np.float32)
                audio = np.asarray(audio.cpu() if isinstance(audio, torch.Tensor) else audio, dtype=np.float32)
                dec_s += time.perf_counter() - t
                if first_audio is None and audio.size:
                    first_audio = time.perf_counter() - start
                timings = {
                    "first_audio_s": first_audio,
                    "generate_s": gen_s,
                    "decode_s": dec_s,
                    "elapsed_s": time.perf_counter() - start,
                }
                yield Segment(audio, self.sample_rate, block.text, codes, block.chunk_index, block.chunk_done, timings)
            mark = time.perf_counter()
