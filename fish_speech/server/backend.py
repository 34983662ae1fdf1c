"""What the routes call: one engine, one scheduler thread, the voice libraries.

Everything that touches the model (reference encoding, synthesis, codec calls, the reference
cache) runs on the scheduler's thread, so requests queue for the model while their sockets stay
served by the event loop. Routes never see tensors; this module turns them into numpy.
"""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any, AsyncIterator

import numpy as np

from fish_speech.engine.types import Reference, Segment, TTSRequest
from fish_speech.errors import FishError
from fish_speech.fields import Limits, sampling_from
from fish_speech.ref_data import RefData


def _refield(err: FishError, field: str) -> FishError:
    """Name the request field an audio error came from (decoders only know 'audio')."""
    if err.field in (None, "audio", "system_audio", "reference"):
        err.field = field
    return err


class Backend:
    def __init__(
        self,
        engine,
        scheduler,
        library,
        limits: Limits,
        ref_data_root: str | Path = "ref_data",
        agent=None,
    ):
        self.engine = engine
        self.scheduler = scheduler
        self.library = library
        self.limits = limits
        self.ref_data_root = Path(ref_data_root)
        self.agent = agent

    @property
    def sample_rate(self) -> int:
        return int(self.engine.sample_rate)

    # ---- audio in --------------------------------------------------------------------------

    def decode(self, data: bytes, field: str) -> tuple[np.ndarray, int]:
        from fish_speech.audio import decode_audio

        return decode_audio(
            data,
            field,
            max_bytes=self.limits.max_reference_bytes or None,
            max_seconds=self.limits.max_reference_seconds or None,
        )

    def encode_bytes(self, data: bytes, text: str) -> Reference:
        """The library's encoder: audio file bytes + transcript → Reference (model thread)."""
        audio, sr = self.decode(data, "audio")
        return self.engine.encode_reference(audio, sr, text)

    # ---- references ------------------------------------------------------------------------

    def _resolve(self, values: dict, uploads: list[tuple[bytes, str]]) -> list[Reference]:
        use_cache = bool(values.get("use_memory_cache", True))
        if values.get("reference_id"):
            return list(self.library.by_id(values["reference_id"], use_cache=use_cache))
        refs = []
        for i, (data, text) in enumerate(uploads):
            try:
                refs.append(self.library.from_audio(data, text, use_cache=use_cache))
            except FishError as err:
                raise _refield(err, f"references[{i}].audio") from None
        if not refs and values.get("speaker"):
            path, text = RefData.load(self.ref_data_root).pick(values["speaker"], values.get("emotion"))
            refs.append(self.library.from_audio(path.read_bytes(), text, use_cache=True))
        return refs

    async def references(self, values: dict, uploads: list[tuple[bytes, str]]) -> list[Reference]:
        """reference_id first (as upstream), then uploaded clips, then a ref_data speaker."""
        return await self.scheduler.call(self._resolve, values, uploads)

    # ---- synthesis -------------------------------------------------------------------------

    def tts_request(self, values: dict, references: list[Reference]) -> TTSRequest:
        return TTSRequest(
            text=values["text"],
            references=references,
            sampling=sampling_from(values),
            chunk_length=values["chunk_length"],
            normalize=values["normalize"],
            stream_frames=values.get("stream_frames", 0),
        )

    def segments(self, request: TTSRequest) -> AsyncIterator[Segment]:
        return self.scheduler.stream(self.engine.synthesize, request)

    # ---- codec -----------------------------------------------------------------------------

    @property
    def codec(self):
        return self.engine.codec

    def _encode_all(self, audios: list[bytes]) -> list[np.ndarray]:
        out = []
        for i, data in enumerate(audios):
            try:
                audio, sr = self.decode(data, f"audios[{i}]")
            except FishError as err:
                raise _refield(err, f"audios[{i}]") from None
            codes = self.codec.encode(audio, sr)
            out.append(np.asarray(codes.detach().cpu() if hasattr(codes, "detach") else codes, dtype=np.int64))
        return out

    async def encode_audios(self, audios: list[bytes]) -> list[np.ndarray]:
        return await self.scheduler.call(self._encode_all, audios)

    def _decode_all(self, codes: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for c in codes:
            wave = self.codec.decode(c)
            out.append(np.asarray(wave.detach().float().cpu().reshape(-1), dtype=np.float32))
        return out

    async def decode_codes(self, codes: list[np.ndarray]) -> list[np.ndarray]:
        return await self.scheduler.call(self._decode_all, codes)

    # ---- voices ----------------------------------------------------------------------------

    async def add_reference(self, ref_id: str, data: bytes, text: str, filename: str | None) -> None:
        await self.scheduler.call(self.library.add, ref_id, data, text, filename=filename)

    async def delete_reference(self, ref_id: str) -> None:
        await self.scheduler.call(self.library.delete, ref_id)

    async def list_references(self) -> list[str]:
        return await asyncio.to_thread(self.library.list_ids)

    def ref_data(self) -> RefData:
        return RefData.load(self.ref_data_root)

    def info(self) -> dict[str, Any]:
        from fish_speech.audio import FORMATS

        return {
            "sample_rate": self.sample_rate,
            "formats": list(FORMATS),
            "agent": self.agent is not None and getattr(self.agent, "engine", None) is not None,
            "limits": dataclasses.asdict(self.limits),
        }
