"""Send one text-to-speech request to the API server and save (and play) the audio.

    python -m tools.api_client --text "Hello" --reference_audio ref.wav --reference_text "..." --streaming True
    python -m tools.api_client --text "Hello" --reference_id alice --output hello.mp3 --format mp3
    python -m tools.api_client --text "Hello" --speaker SPEAKER1 --emotion EMOTION1

Needs only the standard library (plus ormsgpack for msgpack bodies, and sounddevice or pyaudio
to play). Without a sound device the audio is only written to --output.
"""

from __future__ import annotations

import argparse
import base64
import json
import struct
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from fish_speech.errors import FishError
from fish_speech.settings import Settings
from fish_speech.voices.ref_data import DEFAULT_ROOT, RefData


def str2bool(value: str) -> bool:
    """The seed passes booleans as words: `--streaming True`."""
    lowered = str(value).strip().lower()
    if lowered in ("true", "1", "yes", "y", "on"):
        return True
    if lowered in ("false", "0", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {value!r}")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.api_client", description="Fish Speech API client")
    p.add_argument("--url", "-u", default="http://127.0.0.1:8080/v1/tts", help="the /v1/tts endpoint")
    p.add_argument("--text", "-t", required=True, help="text to speak")
    p.add_argument("--reference_id", "-id", default=None, help="a voice saved on the server (references/<id>)")
    p.add_argument("--reference_audio", "-ra", nargs="+", default=[], help="reference audio file(s)")
    p.add_argument("--reference_text", "-rt", nargs="+", default=[], help="transcript of each reference file")
    p.add_argument("--speaker", default=None, help="ref_data speaker: a random clip of it is the reference")
    p.add_argument("--emotion", default=None, help="ref_data emotion folder of --speaker")
    p.add_argument(
        "--ref_data", default=DEFAULT_ROOT, help="local ref_data folder for --speaker (default: %(default)s)"
    )
    p.add_argument(
        "--output", "-o", default="generated_audio", help="output file; the format's extension is added if missing"
    )
    p.add_argument(
        "--play", type=str2bool, default=True, help="play the audio when a sound device exists (default: True)"
    )
    p.add_argument("--format", default="wav", help="wav, mp3, flac, opus, pcm ... (default: %(default)s)")
    p.add_argument("--streaming", type=str2bool, default=False, help="receive audio as it is generated")
    p.add_argument("--normalize", type=str2bool, default=True, help="spell out numbers and dates (English)")
    p.add_argument("--max_new_tokens", type=int, default=1024, help="most frames per text chunk, 0 = no limit")
    p.add_argument("--chunk_length", type=int, default=200, help="UTF-8 bytes of text per chunk, 0 = one chunk")
    p.add_argument("--top_p", type=float, default=0.7)
    p.add_argument("--repetition_penalty", type=float, default=1.2, help="1.5 and S1-mini only")
    p.add_argument("--top_k", type=int, default=None, help="S2-Pro only (the server's default: 30)")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--seed", type=int, default=None, help="random seed for repeatable output")
    p.add_argument("--use_memory_cache", choices=("on", "off"), default="off", help="server reuses encoded references")
    p.add_argument(
        "--stream_frames",
        type=int,
        default=None,
        help="streaming: audio after 8 frames, then every N (default: the server's STREAM_FRAMES; 0 = per chunk)",
    )
    p.add_argument("--mp3_bitrate", type=int, default=None, help="accepted for compatibility (the server picks)")
    p.add_argument("--opus_bitrate", type=int, default=None, help="accepted for compatibility (the server picks)")
    p.add_argument("--latency", default=None, help="accepted for compatibility")
    p.add_argument("--channels", type=int, default=1, help="channels of streamed pcm playback")
    p.add_argument("--rate", type=int, default=44100, help="sample rate of streamed pcm playback")
    p.add_argument("--api_key", default=Settings.one("api_key"), help="bearer key (default: $FISH_API_KEY)")
    p.add_argument(
        "--msgpack", type=str2bool, default=True, help="send msgpack (raw audio bytes) when ormsgpack is installed"
    )
    p.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the server")
    return p


def build_request(args) -> dict:
    if len(args.reference_text) > len(args.reference_audio):
        raise FishError(400, "reference_text", "more --reference_text values than --reference_audio files")
    references = []
    for i, path in enumerate(args.reference_audio):
        path = Path(path)
        if not path.is_file():
            raise FishError(404, "reference_audio", f"file not found: {path}")
        text = args.reference_text[i] if i < len(args.reference_text) else ""
        references.append({"audio": path.read_bytes(), "text": text})
    body = {
        "text": args.text,
        "references": references,
        "reference_id": args.reference_id,
        "format": args.format,
        "streaming": args.streaming,
        "normalize": args.normalize,
        "max_new_tokens": args.max_new_tokens,
        "chunk_length": args.chunk_length,
        "top_p": args.top_p,
        "repetition_penalty": args.repetition_penalty,
        "top_k": args.top_k,
        "temperature": args.temperature,
        "seed": args.seed,
        "use_memory_cache": args.use_memory_cache,
        "stream_frames": args.stream_frames,
    }
    for name in ("mp3_bitrate", "opus_bitrate", "latency"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    if args.speaker and not references and not args.reference_id:
        local = RefData.load(args.ref_data)
        if args.speaker in local.speakers:  # pick here; any server can use the clip
            path, text = local.pick(args.speaker, args.emotion)
            body["references"] = [{"audio": path.read_bytes(), "text": text}]
            print(f"reference: {path}", file=sys.stderr)
        else:  # let the server pick from its own ref_data
            body["speaker"], body["emotion"] = args.speaker, args.emotion
    return body


def encode_body(body: dict, use_msgpack: bool) -> tuple[bytes, str]:
    if use_msgpack:
        try:
            import ormsgpack

            return ormsgpack.packb(body), "application/msgpack"
        except ImportError:
            pass
    for ref in body.get("references", []):
        ref["audio"] = base64.b64encode(ref["audio"]).decode("ascii")
    return json.dumps(body).encode("utf-8"), "application/json"


def output_path(args) -> Path:
    path = Path(args.output)
    return path if path.suffix else path.with_suffix(f".{args.format}")


def fix_wav_sizes(path: Path) -> None:
    """A streamed WAV header cannot know its sizes; write them now that the file is complete."""
    with open(path, "r+b") as f:
        head = f.read(4096)
        at = head.find(b"data", 12)
        if not head.startswith(b"RIFF") or at < 0:
            return
        size = path.stat().st_size
        f.seek(4)
        f.write(struct.pack("<I", min(size - 8, 0xFFFFFFFF)))
        f.seek(at + 4)
        f.write(struct.pack("<I", min(size - at - 8, 0xFFFFFFFF)))


class Speaker:
    """Plays int16 pcm through sounddevice or pyaudio; `ok` is False when neither can open a device."""

    def __init__(self, rate: int, channels: int):
        self.ok, self._write, self._close = False, None, None
        try:
            import sounddevice as sd

            stream = sd.RawOutputStream(samplerate=rate, channels=channels, dtype="int16")
            stream.start()
            self._write, self._close, self.ok = stream.write, stream.close, True
            return
        except Exception:  # no module, no PortAudio, or no output device
            pass
        try:
            import pyaudio

            pa = pyaudio.PyAudio()
            stream = pa.open(format=pyaudio.paInt16, channels=channels, rate=rate, output=True)
            self._write, self._close, self.ok = stream.write, lambda: (stream.close(), pa.terminate()), True
        except Exception:
            pass

    def write(self, pcm: bytes) -> None:
        if self.ok and pcm:
            self._write(pcm)

    def close(self) -> None:
        if self.ok:
            self._close()


def play_file(path: Path) -> bool:
    try:
        import numpy as np
        import soundfile as sf

        audio, rate = sf.read(str(path), dtype="int16", always_2d=True)
    except Exception:
        return False
    speaker = Speaker(rate, audio.shape[1])
    if speaker.ok:
        speaker.write(np.ascontiguousarray(audio).tobytes())
        speaker.close()
    return speaker.ok


def _server_error(err: urllib.error.HTTPError) -> FishError:
    raw = err.read()
    try:
        body = json.loads(raw)
        return FishError(body.get("code", err.code), body.get("field"), body.get("message", raw.decode()))
    except (ValueError, AttributeError):
        return FishError(err.code, None, raw.decode("utf-8", "replace")[:500] or err.reason)


def run(args) -> None:
    data, kind = encode_body(build_request(args), args.msgpack)
    headers = {"Content-Type": kind}
    if args.api_key:
        headers["Authorization"] = f"Bearer {args.api_key}"
    request = urllib.request.Request(args.url, data=data, headers=headers, method="POST")
    out = output_path(args)
    started = time.perf_counter()
    try:
        response = urllib.request.urlopen(request, timeout=args.timeout)
    except urllib.error.HTTPError as err:
        raise _server_error(err) from None
    except urllib.error.URLError as err:
        raise FishError(503, "url", f"cannot reach {args.url}: {err.reason}") from None
    live = args.play and args.streaming and args.format in ("wav", "pcm")
    speaker = Speaker(int(response.headers.get("X-Sample-Rate") or args.rate), args.channels) if live else None
    first, total, header = None, 0, b""
    with response, open(out, "wb") as f:
        while chunk := response.read(16384):
            if first is None:
                first = time.perf_counter() - started
            f.write(chunk)
            total += len(chunk)
            if speaker is not None:
                if args.format == "wav" and len(header) < 44:  # skip the header before playing
                    need = 44 - len(header)
                    header, chunk = header + chunk[:need], chunk[need:]
                speaker.write(chunk[: len(chunk) // 2 * 2])
    if speaker is not None:
        speaker.close()
    if args.format == "wav":
        fix_wav_sizes(out)
    elapsed = time.perf_counter() - started
    print(f"wrote {out} ({total} bytes) in {elapsed:.2f} s; first bytes after {first or 0:.2f} s")
    played = speaker.ok if speaker is not None else (args.play and play_file(out))
    if args.play and not played:
        print("no sound device to play on; the audio is in the file", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        run(args)
    except FishError as err:
        print(f"error: {err.code} {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
