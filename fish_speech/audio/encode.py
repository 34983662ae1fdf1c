"""Encode mono float audio into the output formats, whole or as a stream.

| format | codec                     | sample rate                       | streamed as                  |
|--------|---------------------------|-----------------------------------|------------------------------|
| wav    | RIFF, 16-bit PCM          | any (kept)                        | header sizes 0xFFFFFFFF, PCM |
| pcm    | raw int16 little-endian   | any (kept)                        | raw samples                  |
| flac   | FLAC, 16-bit              | any FLAC allows (kept)            | header says length unknown   |
| mp3    | MPEG layer III, CBR       | standard 8000..48000 kept, others | frames, no Xing/LAME tag     |
|        | (128 kbps at >= 32 kHz)   | to 44100 (48000 when above it)    |                              |
| opus   | Ogg Opus                  | always 48000 (resampled)          | Ogg pages                    |

All encoders clip to [-1, 1] first, so loud peaks saturate instead of wrapping around.
Streams: the concatenation of every `feed()` result and `finish()` is one valid file. Whole
files (`encode_audio`) differ only where a format can do better knowing the end: WAV/FLAC carry
their exact length, MP3 a LAME tag so players trim the encoder delay (gapless).
"""

from __future__ import annotations

import io
import os
import struct

import numpy as np
import soundfile as sf

from fish_speech.audio.stream import CaptureSink, StreamResampler
from fish_speech.errors import FishError

FORMATS = ("wav", "mp3", "flac", "opus", "pcm")
_CONTENT_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "flac": "audio/flac",
    "opus": "audio/ogg; codecs=opus",
    "pcm": "audio/pcm",
}
_EXTENSIONS = {"wav": "wav", "mp3": "mp3", "flac": "flac", "opus": "opus", "pcm": "pcm"}
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
_OPUS_RATE = 48000
MP3_KBPS = 128  # at 32 kHz and above; 64 / 32 kbps for the MPEG-2 / 2.5 rates
_UNKNOWN_SIZE = 0xFFFFFFFF
_PIPE_SLICE = 1 << 14  # samples per write into the MP3 pipe: output stays far below its capacity


def check_format(fmt: str, field: str = "format") -> str:
    name = fmt.strip().lower() if isinstance(fmt, str) else fmt
    if name not in FORMATS:
        raise FishError(400, field, f"unsupported format {fmt!r} (supported: {', '.join(FORMATS)})")
    return name


def content_type(fmt: str) -> str:
    """HTTP Content-Type of a format ("pcm" is raw 16-bit little-endian mono)."""
    return _CONTENT_TYPES[check_format(fmt)]


def extension(fmt: str) -> str:
    """File extension without the dot, e.g. "opus" for Ogg Opus."""
    return _EXTENSIONS[check_format(fmt)]


def output_rate(fmt: str, sample_rate: int) -> int:
    """The sample rate a file of `fmt` will have for input at `sample_rate`."""
    fmt, sample_rate = check_format(fmt), int(sample_rate)
    if fmt == "opus":
        return _OPUS_RATE
    if fmt == "mp3" and sample_rate not in _MP3_RATES:
        return 48000 if sample_rate > 48000 else 44100
    return sample_rate


def _as_mono_float(samples) -> np.ndarray:
    if hasattr(samples, "detach"):  # a torch tensor, without importing torch here
        samples = samples.detach().to("cpu").float().numpy()
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise ValueError(f"expected mono samples (1-D), got shape {x.shape}")
    x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(x, -1.0, 1.0)


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.round(x * 32767.0).astype("<i2")


def wav_header(sample_rate: int, data_bytes: int | None) -> bytes:
    """44-byte PCM16 mono header; `data_bytes=None` writes the streaming 'unknown' sizes."""
    data = _UNKNOWN_SIZE if data_bytes is None else data_bytes
    riff = _UNKNOWN_SIZE if data_bytes is None else 36 + data_bytes
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data)
    )


def finalize_wav(data: bytes) -> bytes:
    """A streamed WAV (open-ended sizes) with its real sizes, for saving as a file; other bytes unchanged."""
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE" or data[36:40] != b"data":
        return data
    if struct.unpack("<I", data[40:44])[0] != _UNKNOWN_SIZE:
        return data
    body = len(data) - 44
    return data[:4] + struct.pack("<I", 36 + body) + data[8:40] + struct.pack("<I", body) + data[44:]


def _mp3_settings(sample_rate: int) -> dict:
    # libsndfile maps compression_level c to kbps = top - c * (top - bottom) for each MPEG version.
    top, bottom, kbps = (
        (320, 32, MP3_KBPS) if sample_rate >= 32000 else (160, 8, 64) if sample_rate >= 16000 else (64, 8, 32)
    )
    # CBR: without a Xing tag (streams) players estimate the length from the first frame.
    return {"bitrate_mode": "CONSTANT", "compression_level": (top - kbps) / (top - bottom)}


def _soundfile_args(fmt: str, rate: int) -> dict:
    if fmt == "flac":
        return {"format": "FLAC", "subtype": "PCM_16"}
    if fmt == "opus":
        return {"format": "OGG", "subtype": "OPUS"}
    return {"format": "MP3", "subtype": "MPEG_LAYER_III", **_mp3_settings(rate)}


def _resample(x: np.ndarray, sr: int, new_sr: int) -> np.ndarray:
    if sr == new_sr:
        return x
    from fish_speech.audio.resample import resample  # torch-backed: imported only when needed

    return np.clip(resample(x, sr, new_sr), -1.0, 1.0)


def encode_audio(samples, sample_rate: int, fmt: str) -> bytes:
    """Mono float samples in [-1, 1] -> one complete file of `fmt` (see the table above)."""
    fmt, sample_rate = check_format(fmt), int(sample_rate)
    x = _as_mono_float(samples)
    if fmt in ("wav", "pcm"):
        pcm = _to_int16(x).tobytes()
        return pcm if fmt == "pcm" else wav_header(sample_rate, len(pcm)) + pcm
    rate = output_rate(fmt, sample_rate)
    x = _resample(x, sample_rate, rate)
    out = io.BytesIO()
    data = _to_int16(x) if fmt == "flac" else x  # quantise FLAC exactly like WAV
    sf.write(out, data, rate, **_soundfile_args(fmt, rate))
    return out.getvalue()


class _SoundFileStream:
    """libsndfile encoder kept open across feeds, its output captured as it is written.

    FLAC and Ogg go through a capturing file object (libsndfile's final seek back to patch the
    FLAC header is dropped: that header then says "length unknown", which FLAC allows). MP3
    goes through an OS pipe instead: libsndfile then omits the Xing/LAME tag it could only fill
    in by seeking back, where a placeholder frame would otherwise be left at the start.
    """

    def __init__(self, fmt: str, rate: int):
        args = _soundfile_args(fmt, rate)
        self._pipe = None
        if fmt == "mp3":
            read_fd, write_fd = os.pipe()
            os.set_blocking(read_fd, False)
            self._pipe = (read_fd, write_fd)
            target = write_fd
        else:
            self._sink = CaptureSink()
            target = self._sink
        try:
            self._file = sf.SoundFile(target, "w", rate, 1, closefd=False, **args)
        except Exception:
            for fd in self._pipe or ():
                os.close(fd)
            self._pipe = None
            raise
        self._int16 = fmt == "flac"

    def _take(self) -> bytes:
        if self._pipe is None:
            return self._sink.take()
        parts = []
        while True:
            try:
                chunk = os.read(self._pipe[0], 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            parts.append(chunk)
        return b"".join(parts)

    def write(self, x: np.ndarray) -> bytes:
        out = []
        for start in range(0, len(x), _PIPE_SLICE):
            piece = x[start : start + _PIPE_SLICE]
            self._file.write(_to_int16(piece) if self._int16 else piece)
            out.append(self._take())
        return b"".join(out)

    def __del__(self):
        # An abandoned stream must not leak its pipe descriptors.
        try:
            self.close()
        except Exception:
            pass

    def close(self) -> bytes:
        if not hasattr(self, "_file") or self._file.closed:
            return b""
        self._file.close()
        if self._pipe is not None:
            os.close(self._pipe[1])
        tail = self._take()
        if self._pipe is not None:
            os.close(self._pipe[0])
            self._pipe = None
        return tail


class AudioStreamEncoder:
    """Encode audio that arrives in pieces: `feed()` and `finish()` return bytes to send on.

    Everything returned, concatenated in order, is one valid file of `fmt` holding all fed
    samples. A feed may return b"" while the encoder buffers (Ogg pages, MP3 frames).
    """

    def __init__(self, fmt: str, sample_rate: int):
        self.format = check_format(fmt)
        self.sample_rate = int(sample_rate)
        if self.sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        self.output_sample_rate = output_rate(self.format, self.sample_rate)
        self._samples = 0
        self._finished = False
        self._started = False
        self._resampler = None
        if self.output_sample_rate != self.sample_rate:
            self._resampler = StreamResampler(self.sample_rate, self.output_sample_rate, _resample)
        self._codec = None
        if self.format in ("flac", "mp3", "opus"):
            self._codec = _SoundFileStream(self.format, self.output_sample_rate)

    @property
    def samples_written(self) -> int:
        """Samples fed so far, at the input sample rate."""
        return self._samples

    @property
    def duration(self) -> float:
        """Seconds of audio fed so far."""
        return self._samples / self.sample_rate

    def _header(self) -> bytes:
        if self._started:
            return b""
        self._started = True
        return wav_header(self.sample_rate, None) if self.format == "wav" else b""

    def feed(self, samples) -> bytes:
        if self._finished:
            raise RuntimeError("feed() after finish()")
        x = _as_mono_float(samples)
        self._samples += len(x)
        head = self._header()
        if self._codec is None:
            return head + _to_int16(x).tobytes()
        if self._resampler is not None:
            x = self._resampler.push(x)
        return head + (self._codec.write(x) if len(x) else b"")

    def finish(self) -> bytes:
        """Flush the encoder; the stream is complete afterwards."""
        if self._finished:
            return b""
        self._finished = True
        head = self._header()
        if self._codec is None:
            return head
        tail = b""
        if self._resampler is not None:
            rest = self._resampler.flush()
            tail = self._codec.write(rest) if len(rest) else b""
        return head + tail + self._codec.close()

    def close(self) -> None:
        """Drop an unfinished stream and free its encoder (e.g. when the client went away)."""
        self._finished = True
        if self._codec is not None:
            try:
                self._codec.close()
            except Exception:
                pass

    def __enter__(self) -> "AudioStreamEncoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
