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
from fish_speech.models.family import ModelFamily, load_family
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
        prefix_cache_bytes: int = 0,
        packed_weight_bytes: int = 0,
    ) -> "TTSEngine":
        """Any family's folder; the codec defaults to the family's file beside the weights.
        `prefix_cache_bytes`: budget of the voice-prefix KV cache (0: off); `packed_weight_bytes`:
        CPU float32 slow-layer weights also packed for prompts (0: off)."""
        t0 = time.perf_counter()
        family = load_family(
            llama_checkpoint_path,
            decoder_checkpoint_path,
            device=device,
            half=half,
            compile=compile,
            prefix_cache_bytes=prefix_cache_bytes,
            packed_weight_bytes=packed_weight_bytes,
        )
        t1 = time.perf_counter()
        family.codec  # noqa: B018 - load now, so a missing codec fails at start-up and the timing is honest
        t2 = time.perf_counter()
        engine = cls(family)
        engine.load_timings = {"language_model_s": t1 - t0, "codec_s": t2 - t1}
        return engine

    def encode_reference(self, audio: np.ndarray, sample_rate: int, text: str) -> Reference:
        codes = self.codec.encode(audio, sample_rate)
        return Reference(codes=np.asarray(codes.cpu(), dtype=np.int32), text=text)

    def start(self, request: TTSRequest, generator=None) -> "Synthesis":
        """One request, split in two: `.blocks` (the family's code blocks; run by the caller) and
        `.render(block)` (a block -> the audio segments it completes). `generator`: a batch `Slot`
        whose `BatchScheduler` drives `.blocks` between batched decode steps; default: this engine's."""
        return Synthesis(self, request, generator or self.generator)

    def synthesize(self, request: TTSRequest, should_stop=None) -> Iterator[Segment]:
        """Yield audio segments in order: every `stream_frames` frames, and at the end of each chunk.
        `should_stop()` (the scheduler's cancel flag) is polled at every code block: a job whose caller
        has gone ends there even when it yields nothing for a long time (whole-file requests)."""
        job = self.start(request)
        for block in job.blocks:
            if should_stop is not None and should_stop():
                return
            yield from job.render(block)


class Synthesis:
    """Code blocks -> audio segments for one request, with the codec's streaming state and timings."""

    def __init__(self, engine: TTSEngine, request: TTSRequest, generator):
        self.start = time.perf_counter()
        self.engine, self.family, self.generator = engine, engine.family, generator
        s = request.sampling
        generator.seed(s.seed)
        generator.set_sampling(s.temperature, s.top_p, s.repetition_penalty, s.top_k)
        text = normalize_text(request.text, "auto") if request.normalize else request.text
        refs = [(r.text, r.codes) for r in request.references]
        # Streaming starts small: the first piece goes out after FIRST_FRAMES frames (a lower time to
        # first audio), later ones every `stream_frames` (fewer codec calls). Host syncs stay sparse.
        self.every = every = request.stream_frames
        self.first = min(every, FIRST_FRAMES) if every > 0 else 0
        step = min(every, SYNC_FRAMES) if every > 0 else SYNC_FRAMES
        self.first_audio = None
        self.prefill: tuple[float, bool] | None = None  # (seconds, prefix cached) of the first chunk
        self.pending: list[np.ndarray] = []
        self.decoder = None
        self.gen_s = self.dec_s = 0.0
        self.mark = time.perf_counter()
        self.blocks = self.family.generate_long(generator, text, refs, s.max_new_tokens, request.chunk_length, step)

    def render(self, block) -> Iterator[Segment]:
        self.gen_s += time.perf_counter() - self.mark  # batched: waiting for the batch counts as generation
        if self.prefill is None:
            record = self.generator.last_prefill
            self.prefill = (record.seconds, record.cached)
        if self.decoder is None:  # one causal decode across chunks: joins carry their left context
            self.decoder = self.family.streaming_decoder()
        if block.codes.shape[1]:
            self.pending.append(block.codes)
        ready = sum(p.shape[1] for p in self.pending)
        every = self.every
        emit = block.chunk_done or (every > 0 and ready >= (self.first if self.first_audio is None else every))
        if emit and (ready or block.chunk_done):
            pending, self.pending = self.pending, []
            codes = np.concatenate(pending, axis=1) if pending else np.zeros((self.family.num_codebooks, 0), np.int32)
            t = time.perf_counter()
            audio = self.decoder.push(codes) if codes.shape[1] else np.zeros(0, np.float32)
            audio = np.asarray(audio.cpu() if isinstance(audio, torch.Tensor) else audio, dtype=np.float32)
            self.dec_s += time.perf_counter() - t
            if self.first_audio is None and audio.size:
                self.first_audio = time.perf_counter() - self.start
            timings = {
                "first_audio_s": self.first_audio,
                "prefill_s": self.prefill[0],
                "prefix_cached": self.prefill[1],
                "generate_s": self.gen_s,
                "decode_s": self.dec_s,
                "elapsed_s": time.perf_counter() - self.start,
            }
            sr = self.engine.sample_rate
            yield Segment(audio, sr, block.text, codes, block.chunk_index, block.chunk_done, timings)
        self.mark = time.perf_counter()
