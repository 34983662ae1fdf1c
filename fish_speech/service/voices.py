"""Which voice a request asks for, and the references it resolves to (through the runtime's library).

Sources, in order: a saved voice (`reference_id`), uploaded clips, then a `ref_data` speaker when
nothing else was given. Upstream's HTTP API lets `reference_id` win over uploads
(`id_overrides_uploads`); the worker uses both, the saved voice first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fish_speech.engine.types import Reference
from fish_speech.errors import FishError
from fish_speech.voices.ref_data import RefData


@dataclass
class VoiceQuery:
    reference_id: str | None = None
    uploads: list = field(default_factory=list)  # [(audio: str | bytes, transcript, field name)]
    speaker: str | None = None  # ref_data speaker (HTTP `--ref-data-dir`)
    emotion: str | None = None
    use_cache: bool = True
    id_overrides_uploads: bool = False


def _named(err: FishError, name: str) -> FishError:
    """Name the request field an audio error came from (decoders only know 'audio')."""
    if err.field in (None, "audio", "system_audio", "reference"):
        err.field = name
    return err


def resolve_voice(rt, query: VoiceQuery, uploads: list[tuple[bytes, str, str]]) -> tuple[list[Reference], dict]:
    """(references, how they were found); runs on the model thread. `uploads` hold file bytes."""
    library = rt.voices
    before = library.encoder.encodes
    refs: list[Reference] = []
    if query.reference_id is not None:
        refs.extend(library.by_id(query.reference_id, query.use_cache))
    if not (refs and query.id_overrides_uploads):
        for data, text, name in uploads:
            try:
                refs.append(library.from_audio(data, text, query.use_cache, field=name))
            except FishError as err:
                raise _named(err, name) from None
    if not refs and query.speaker:
        path, text = RefData.load(rt.ref_data_root).pick(query.speaker, query.emotion)
        refs.append(library.from_audio(path.read_bytes(), text, use_cache=True))
    encoded = library.encoder.encodes - before
    info = {
        "reference_id": query.reference_id,
        "uploaded": bool(uploads),
        "cached": (not encoded) if refs else None,
    }
    return refs, info


# ---- saved voices (HTTP /v1/references): changes run on the model thread, listings off it
async def add_voice(rt, ref_id: str, data: bytes, text: str, filename: str | None, overwrite: bool = False) -> None:
    """Save a voice; an id that exists is a 409 unless `overwrite` (checked on the model thread, where
    every change to the library runs, so two adds of one id cannot both pass the check)."""
    await rt.scheduler.call(rt.voices.add, ref_id, data, text, filename=filename, overwrite=overwrite)


async def delete_voice(rt, ref_id: str) -> None:
    await rt.scheduler.call(rt.voices.delete, ref_id)


async def list_voices(rt) -> list[str]:
    import asyncio

    return await asyncio.to_thread(rt.voices.list_ids)
