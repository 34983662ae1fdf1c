"""Decode audio a caller sent us (bytes or base64) into mono float32 at the file's own rate.

soundfile (libsndfile) handles WAV, FLAC, Ogg Vorbis, Ogg Opus and MP3 from memory. When it
cannot, and an `ffmpeg` binary is on PATH, ffmpeg decodes instead (M4A/AAC, WebM, ...): data
goes in through a pipe, never through a path a caller chose. Limits are checked before the work
they guard: the byte size before decoding, the duration while decoding.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import shutil
import struct
import subprocess
import tempfile

import numpy as np
import soundfile as sf

from fish_speech.errors import FishError

SUPPORTED = "wav, flac, ogg/vorbis, opus, mp3"
# file names taken as audio in voice folders (references/, ref_data/); ffmpeg decodes the rest
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".wma", ".aac", ".aiff", ".aif", ".aifc")
MIN_SECONDS = 0.05
FFMPEG_TIMEOUT_S = 60
_BLOCK = 1 << 16
# libsndfile reports this many frames when a file does not say its length (streamed FLAC).
_UNKNOWN_FRAMES = 1 << 62
# Demuxers ffmpeg may use on caller data: audio containers only, so that no playlist or
# concat script can make it open other files or URLs.
_FFMPEG_FORMATS = "wav,w64,flac,ogg,mp3,aac,mov,mp4,m4a,3gp,matroska,webm,aiff,caf,amr,asf,au,wv"


class _TooLong(Exception):
    def __init__(self, seconds: float):
        self.seconds = seconds


class _ForwardReader(sf.SoundFile):
    # soundfile seeks after every read when a file claims to be seekable; libFLAC cannot seek
    # in a stream of unknown length, so reading strictly forward works for every file.
    def seekable(self) -> bool:
        return False


def _supported_message(field: str) -> FishError:
    extra = "; others via ffmpeg" if _ffmpeg() else ""
    return FishError(400, field, f"could not decode audio (supported: {SUPPORTED}{extra})")


def _ffmpeg() -> str | None:
    return shutil.which("ffmpeg")


def _mono(block: np.ndarray) -> np.ndarray:
    return block if block.ndim == 1 else block.mean(axis=1, dtype=np.float32)


def _decode_soundfile(data: bytes, max_seconds: float | None) -> tuple[np.ndarray, int]:
    with _ForwardReader(io.BytesIO(data)) as f:
        sr = int(f.samplerate)
        if sr <= 0:
            raise ValueError("bad sample rate")
        limit = None if max_seconds is None else int(max_seconds * sr)
        if limit is not None and 0 < f.frames < _UNKNOWN_FRAMES and f.frames > limit:
            raise _TooLong(f.frames / sr)
        parts, total = [], 0
        while True:
            block = f.read(_BLOCK, dtype="float32", always_2d=True)
            if len(block) == 0:
                break
            parts.append(_mono(block))
            total += len(block)
            if limit is not None and total > limit:
                raise _TooLong(total / sr)  # stop early: a tiny file may expand enormously
    audio = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    return audio, sr


def _parse_ffmpeg_wav(out: bytes) -> tuple[np.ndarray, int]:
    # ffmpeg writing to a pipe cannot fill in sizes, so walk the chunks and take the rest.
    if out[:4] != b"RIFF" or out[8:12] != b"WAVE":
        raise ValueError("ffmpeg gave no WAV")
    pos, sr = 12, 0
    while pos + 8 <= len(out):
        tag, size = out[pos : pos + 4], struct.unpack("<I", out[pos + 4 : pos + 8])[0]
        if tag == b"fmt ":
            sr = struct.unpack("<I", out[pos + 12 : pos + 16])[0]
        elif tag == b"data":
            body = out[pos + 8 :]
            body = body[: len(body) // 4 * 4]
            return np.frombuffer(body, "<f4").astype(np.float32), sr
        pos += 8 + size + (size & 1)
    raise ValueError("ffmpeg WAV without data")


def _run_ffmpeg(exe: str, source: str, data: bytes | None, max_seconds: float | None) -> bytes:
    protocol = "pipe" if data is not None else "file"
    cmd = [
        exe,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-protocol_whitelist",
        protocol,
        "-format_whitelist",
        _FFMPEG_FORMATS,
        "-i",
        source,
    ]
    if max_seconds is not None:
        cmd += ["-t", f"{max_seconds + 1:.3f}"]  # decode a bit past the limit, then judge
    cmd += [
        "-vn",
        "-ac",
        "1",
        "-c:a",
        "pcm_f32le",
        "-map_metadata",
        "-1",
        "-fflags",
        "+bitexact",
        "-f",
        "wav",
        "pipe:1",
    ]
    proc = subprocess.run(
        cmd, input=data if data is not None else b"", capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False
    )
    if proc.returncode != 0:
        raise ValueError(proc.stderr.decode("utf-8", "replace")[-300:])
    return proc.stdout


def _decode_ffmpeg(data: bytes, max_seconds: float | None) -> tuple[np.ndarray, int] | None:
    exe = _ffmpeg()
    if exe is None:
        return None
    try:
        audio, sr = _parse_ffmpeg_wav(_run_ffmpeg(exe, "pipe:0", data, max_seconds))
        if len(audio):
            return audio, sr
    except (ValueError, subprocess.SubprocessError, OSError):
        pass
    # Some containers need a seekable input: an MP4/M4A with its index at the end (no +faststart)
    # decodes from a pipe with exit status 0 and no samples. Then: a private temp file.
    try:
        with tempfile.NamedTemporaryFile(prefix="fish-audio-", suffix=".bin") as tmp:
            tmp.write(data)
            tmp.flush()
            return _parse_ffmpeg_wav(_run_ffmpeg(exe, tmp.name, None, max_seconds))
    except (ValueError, subprocess.SubprocessError, OSError):
        return None


def decode_audio(
    data: bytes, field: str = "audio", max_bytes: int | None = None, max_seconds: float | None = None
) -> tuple[np.ndarray, int]:
    """Any common audio file -> (float32 mono samples, sample rate).

    Stereo and multi-channel audio is averaged to mono. Raises FishError 400 for empty,
    undecodable or too-short (< 0.05 s) audio, 413 above `max_bytes` or `max_seconds`.
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise FishError(400, field, "audio must be bytes")
    if not data:
        raise FishError(400, field, f"empty audio (supported: {SUPPORTED})")
    if max_bytes is not None and len(data) > max_bytes:
        raise FishError(413, field, f"audio too large: {len(data)} bytes, limit {max_bytes}")
    try:
        try:
            audio, sr = _decode_soundfile(data, max_seconds)
        except _TooLong:
            raise
        except Exception:  # libsndfile says little that helps a caller; try ffmpeg instead
            decoded = _decode_ffmpeg(data, max_seconds)
            if decoded is None:
                raise _supported_message(field) from None
            audio, sr = decoded
            if sr <= 0:
                raise _supported_message(field) from None
            if max_seconds is not None and len(audio) > max_seconds * sr:
                raise _TooLong(len(audio) / sr) from None
    except _TooLong as err:
        raise FishError(413, field, f"audio too long: {err.seconds:.2f} s, limit {max_seconds:g} s") from None
    if len(audio) < MIN_SECONDS * sr:
        seconds = len(audio) / sr
        raise FishError(400, field, f"audio too short: {seconds:.3f} s, need at least {MIN_SECONDS} s")
    if not np.all(np.isfinite(audio)):
        audio = np.nan_to_num(audio, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.ascontiguousarray(audio, dtype=np.float32), sr


_DATA_URL = re.compile(r"^\s*data:[^,]*?;base64,", re.IGNORECASE)
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/=]")


def decode_base64(text: str | bytes, field: str, max_bytes: int | None = None) -> bytes:
    """Base64 (optionally a `data:...;base64,` URL, URL-safe alphabet, missing padding) -> bytes."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("ascii")
        except UnicodeDecodeError:
            raise FishError(400, field, "invalid base64: not ASCII text") from None
    if not isinstance(text, str):
        raise FishError(400, field, "must be a base64 string")
    text = "".join(_DATA_URL.sub("", text, count=1).split())
    text = text.replace("-", "+").replace("_", "/")
    if not text:
        raise FishError(400, field, f"empty audio (supported: {SUPPORTED})")
    if max_bytes is not None and (len(text) * 3) // 4 - 2 > max_bytes:
        raise FishError(413, field, f"audio too large: about {(len(text) * 3) // 4} bytes, limit {max_bytes}")
    bad = _NOT_BASE64.search(text)
    if bad or "=" in text.rstrip("="):
        where = bad.start() if bad else text.index("=")
        raise FishError(400, field, f"invalid base64: unexpected character at position {where}")
    text = text.rstrip("=")
    if len(text) % 4 == 1:
        raise FishError(400, field, "invalid base64: truncated data")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as err:
        raise FishError(400, field, f"invalid base64: {err}") from None


def decode_base64_audio(
    text: str | bytes, field: str = "audio", max_bytes: int | None = None, max_seconds: float | None = None
) -> tuple[np.ndarray, int]:
    """`decode_base64` then `decode_audio`: the base64 is checked before any audio decoding."""
    data = decode_base64(text, field, max_bytes)
    return decode_audio(data, field, max_bytes=max_bytes, max_seconds=max_seconds)
