"""The 1.2-era `ref_data/SPEAKER/EMOTION/<clip>.{wav,mp3,flac,...}` + `<clip>.lab` voice layout.

`tools/gen_ref.py` scans the folder into an index file (`ref_data.json` beside the folder);
`pick(speaker, emotion)` then draws one random clip. Paths in the index are relative to the
index file, so the folder can move with it. Without an index the folder is scanned on demand.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

from fish_speech.audio.decode import AUDIO_EXTENSIONS
from fish_speech.errors import FishError

DEFAULT_ROOT = "ref_data"
INDEX_VERSION = 1


def default_index_path(root: str | Path) -> Path:
    root = Path(root)
    return root.parent / f"{root.name}.json"


def _plain_name(value: str, field: str) -> str:
    """Speaker and emotion are single folder names: nothing that could climb out of the root."""
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\x00" in value:
        raise FishError(400, field, f"{value!r} is not a valid {field} name")
    return value


def scan(root: str | Path, relative_to: str | Path | None = None) -> dict:
    """{speaker: {emotion: [{"audio": path, "text": transcript}]}}; clips without a .lab are skipped."""
    root = Path(root)
    base = Path(relative_to) if relative_to is not None else root
    speakers: dict[str, dict[str, list[dict]]] = {}
    if not root.is_dir():
        return speakers
    for speaker_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for emotion_dir in sorted(p for p in speaker_dir.iterdir() if p.is_dir()):
            clips = []
            for audio in sorted(emotion_dir.iterdir()):
                lab = audio.with_suffix(".lab")
                if audio.suffix.lower() not in AUDIO_EXTENSIONS or not lab.is_file():
                    continue
                text = lab.read_text(encoding="utf-8").strip()
                rel = os.path.relpath(audio.absolute(), base.absolute())
                clips.append({"audio": Path(rel).as_posix(), "text": text})
            if clips:
                speakers.setdefault(speaker_dir.name, {})[emotion_dir.name] = clips
    return speakers


def write_index(root: str | Path = DEFAULT_ROOT, index_path: str | Path | None = None) -> tuple[Path, dict]:
    """Scan `root` and write the index; returns (index path, speakers)."""
    root = Path(root)
    if not root.is_dir():
        raise FishError(404, "ref_data", f"folder {str(root)!r} does not exist")
    path = Path(index_path) if index_path else default_index_path(root)
    speakers = scan(root, relative_to=path.absolute().parent)
    doc = {"version": INDEX_VERSION, "root": root.name, "speakers": speakers}
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path, speakers


class RefData:
    """Loaded speaker/emotion index; clip paths are resolved against `base`."""

    def __init__(self, speakers: dict, base: Path):
        self.speakers = speakers
        self.base = base

    @classmethod
    def load(cls, root: str | Path = DEFAULT_ROOT, index_path: str | Path | None = None) -> "RefData":
        """The index file when present, else a fresh scan of `root` (empty if neither exists)."""
        root = Path(root)
        path = Path(index_path) if index_path else default_index_path(root)
        if path.is_file():
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                return cls(dict(doc.get("speakers", {})), path.absolute().parent)
            except (ValueError, AttributeError) as exc:
                raise FishError(500, "ref_data", f"index {str(path)!r} is not valid JSON: {exc}") from None
        return cls(scan(root, relative_to=root.absolute().parent), root.absolute().parent)

    def __bool__(self) -> bool:
        return bool(self.speakers)

    def pick(self, speaker: str, emotion: str | None = None, rng: random.Random | None = None) -> tuple[Path, str]:
        """A random (audio path, transcript) of `speaker`, from `emotion` or from any emotion."""
        rng = rng or random
        _plain_name(speaker, "speaker")
        emotions = self.speakers.get(speaker)
        if not emotions:
            known = ", ".join(sorted(self.speakers)) or "none"
            raise FishError(404, "speaker", f"unknown speaker {speaker!r} in ref_data (known: {known})")
        if emotion:
            _plain_name(emotion, "emotion")
            if emotion not in emotions:
                raise FishError(
                    404,
                    "emotion",
                    f"speaker {speaker!r} has no emotion {emotion!r} (has: {', '.join(sorted(emotions))})",
                )
            clips = emotions[emotion]
        else:
            clips = [c for group in emotions.values() for c in group]
        clip = rng.choice(clips)
        # normpath, not resolve: clips may be symlinks, but the index may not climb out with ".."
        base = os.path.normpath(self.base.absolute())
        path = os.path.normpath(os.path.join(base, clip["audio"]))
        if os.path.commonpath([base, path]) != base:
            raise FishError(400, "speaker", "index entry points outside the ref_data folder")
        return Path(path), clip.get("text", "")
