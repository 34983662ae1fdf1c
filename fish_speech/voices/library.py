"""Reference voices: named folders under `references/<id>/` and a content-keyed cache.

A reference is audio plus the text spoken in it. Named voices live as `references/<id>/*.wav`
(or flac, mp3, ogg, ...) each with a same-stem `.lab` text file; only audio is stored on disk, never
codes, so a saved voice is always encoded by the codec that is loaded. Encoded references are cached
by (codec, SHA-256 of audio bytes and text), so the same upload is encoded once per codec and codes of
one codec are never handed to another. Ids are checked against a strict
pattern and resolved inside the root, so a request can never name a path outside it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable

from fish_speech.audio.decode import AUDIO_EXTENSIONS
from fish_speech.engine.types import Reference
from fish_speech.errors import FishError
from fish_speech.voices.encode import VoiceEncoder

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def valid_id(ref_id) -> bool:
    """The whole string must match: `fullmatch`, so a trailing newline ("nl\\n") is not an id."""
    return isinstance(ref_id, str) and bool(_ID.fullmatch(ref_id)) and ".." not in ref_id


def _size(value) -> int:
    """Rough bytes an encoded reference (or a list of them) holds: its codes and its transcript."""
    if isinstance(value, list):
        return sum(_size(v) for v in value)
    codes = getattr(value, "codes", None)
    return (getattr(codes, "nbytes", 0) or 0) + len(getattr(value, "text", "") or "") * 4 + 64


class ReferenceLibrary:
    def __init__(
        self,
        encoder: VoiceEncoder,
        root: str | Path = "references",
        cache_size: int = 128,
        cache_bytes: int = 0,
        max_voices: int = 0,
    ):
        self.encoder = encoder
        self.root = Path(root)
        self.cache_size, self.cache_bytes, self.max_voices = cache_size, cache_bytes, max_voices
        self._cache: OrderedDict[str, object] = OrderedDict()
        self._sizes: dict[str, int] = {}
        self._held = 0  # bytes in the cache
        self._lock = threading.Lock()
        self._listing: tuple[tuple, list[str]] | None = None
        self.hits = self.misses = 0

    # ---- cache ----------------------------------------------------------------------------
    def _cached(self, key: str, make: Callable[[], object], use_cache: bool, pending: list | None = None):
        """pending: a job's list of new entries, cached by `commit` only once the job succeeded."""
        if use_cache:
            with self._lock:
                if key in self._cache:
                    self._cache.move_to_end(key)
                    self.hits += 1
                    return self._cache[key]
        value = make()
        with self._lock:
            self.misses += 1
        if pending is not None:
            pending.append((key, value))
            return value
        return self._keep(key, value)

    def commit(self, pending: list) -> None:
        """Cache what a job that succeeded encoded (see `from_audio(pending=...)`)."""
        for key, value in pending:
            self._keep(key, value)

    def _keep(self, key: str, value):
        size = _size(value)
        with self._lock:
            if key in self._cache:
                self._held -= self._sizes.pop(key, 0)
                del self._cache[key]
            if self.cache_size <= 0 or (self.cache_bytes and size > self.cache_bytes):
                return value  # caching off, or one entry larger than the whole cache
            self._cache[key], self._sizes[key] = value, size
            self._held += size
            # least recently used go first, until both the count and the byte caps hold
            while len(self._cache) > self.cache_size or (self.cache_bytes and self._held > self.cache_bytes):
                old, _ = self._cache.popitem(last=False)
                self._held -= self._sizes.pop(old, 0)
        return value

    @property
    def cached_bytes(self) -> int:
        return self._held

    def from_audio(
        self, audio: bytes, text: str, use_cache: bool = True, field: str = "audio", pending: list | None = None
    ) -> Reference:
        key = f"{self.encoder.key}|sha256:" + hashlib.sha256(audio + b"\0" + text.encode()).hexdigest()
        return self._cached(key, lambda: self.encoder(audio, text, field), use_cache, pending)

    # ---- named voices ---------------------------------------------------------------------
    def folder(self, ref_id, field: str = "reference_id") -> Path:
        if not valid_id(ref_id):
            raise FishError(
                400, field, "must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
            )
        root = self.root.resolve()
        path = (root / ref_id).resolve()
        if path.parent != root:
            raise FishError(400, field, "must name a folder directly inside the references root")
        return path

    def _files(self, folder: Path) -> list[Path]:
        """Audio files under `folder`; symbolic links (files or folders) are never followed."""
        out = []
        for top, dirs, names in os.walk(folder, followlinks=False):
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(top, d))]
            for name in names:
                path = Path(top, name)
                if path.suffix.lower() in AUDIO_EXTENSIONS and not path.is_symlink() and path.is_file():
                    out.append(path)
        return sorted(out)

    def by_id(self, ref_id, use_cache: bool = True, field: str = "reference_id") -> list[Reference]:
        folder = self.folder(ref_id, field)
        files = self._files(folder) if folder.is_dir() else []
        if not files:
            raise FishError(404, field, f"no reference voice named {ref_id!r}")

        def load():
            out = []
            for f in files:
                lab = f.with_suffix(".lab")
                text = lab.read_text(encoding="utf-8").strip() if lab.is_file() else ""
                out.append(self.from_audio(f.read_bytes(), text, use_cache))
            return out

        stamp = ",".join(f"{f.name}:{f.stat().st_mtime_ns}" for f in files)
        return self._cached(f"{self.encoder.key}|id:{ref_id}:{stamp}", load, use_cache)

    def add(self, ref_id, audio: bytes, text: str, filename: str | None = None, overwrite: bool = False) -> Path:
        """Store a voice; one of the same id is replaced only with `overwrite` (else a 409).
        The audio is validated by encoding it first."""
        folder = self.folder(ref_id)
        if folder.is_dir() and not overwrite:
            raise FishError(409, "id", f"a voice named {ref_id!r} is already saved; send overwrite: true to replace it")
        if self.max_voices and not folder.is_dir() and self.root.is_dir():
            count = len(self._entries())
            if count >= self.max_voices:
                raise FishError(
                    413, "reference_id", f"{count} voices are saved; the limit is {self.max_voices} (MAX_SAVED_VOICES)"
                )
        self.from_audio(audio, text)  # fails with a clear error before anything is written
        ext = Path(filename or "audio.wav").suffix.lower()
        ext = ext if ext in AUDIO_EXTENSIONS else ".wav"
        tmp = folder.with_name(f".{folder.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        (tmp / f"{folder.name}{ext}").write_bytes(audio)
        (tmp / f"{folder.name}.lab").write_text(text, encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        return folder

    def _entries(self) -> list[os.DirEntry]:
        """Real folders directly in the root with a valid id (symbolic links are skipped, not walked)."""
        with os.scandir(self.root) as it:
            return [e for e in it if e.is_dir(follow_symlinks=False) and valid_id(e.name)]

    def list_ids(self) -> list[str]:
        """Saved voice ids; cached until a folder in the root (or the root itself) changes."""
        if not self.root.is_dir():
            return []
        entries = self._entries()
        stamp = (self.root.stat().st_mtime_ns, tuple(sorted((e.name, e.stat().st_mtime_ns) for e in entries)))
        listing = self._listing
        if listing is not None and listing[0] == stamp:
            return list(listing[1])
        ids = sorted(e.name for e in entries if self._files(Path(e.path)))
        self._listing = (stamp, ids)
        return list(ids)

    def delete(self, ref_id) -> None:
        folder = self.folder(ref_id)
        if not folder.is_dir():
            raise FishError(404, "reference_id", f"no reference voice named {ref_id!r}")
        shutil.rmtree(folder)
