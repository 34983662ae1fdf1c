"""Streamed audio over HTTP, read as a whole: the streamed WAV of /v1/tts and of the OpenAI route has
the right header fields (a hand parser) and holds exactly the samples of the whole-file reply; a
streamed mp3 decodes to the whole length; pieces arrive as 8 frames, then every `stream_frames`."""

from __future__ import annotations

import io
import json
import socket
import wave
from urllib.parse import urlparse

import numpy as np
import soundfile as sf
from wav_fields import UNKNOWN, check_pcm16_mono, parse_wav

FRAME = 2048
FISH = {"max_new_tokens": 20, "seed": 4, "temperature": 0.0, "normalize": False}
LSB = 1.5 / 32767


def whole_wav(client, text) -> np.ndarray:
    r = client.post("/v1/tts", json={"text": text, "format": "wav", "streaming": False, **FISH})
    assert r.status_code == 200, r.text
    with wave.open(io.BytesIO(r.content)) as w:  # a whole file: the standard library reads it
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 44100)
        pcm = w.readframes(w.getnframes())
    info = parse_wav(r.content)
    check_pcm16_mono(info)
    assert info["data_size"] == len(pcm) and info["riff_size"] == 36 + len(pcm)
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32767


def test_streamed_wav_of_tts_and_openai_is_the_whole_file(client):
    text = "Streamed and whole alike."
    want = whole_wav(client, text)
    assert len(want) == FISH["max_new_tokens"] * FRAME
    streamed = client.post("/v1/tts", json={"text": text, "format": "wav", "streaming": True, **FISH})
    oai = client.post("/v1/audio/speech", json={"input": text, "voice": "alloy", "response_format": "wav", **FISH})
    for r in (streamed, oai):
        assert r.status_code == 200 and r.headers["transfer-encoding"] == "chunked", r.text
        info = parse_wav(r.content)
        check_pcm16_mono(info)
        assert info["riff_size"] == info["data_size"] == UNKNOWN  # documented: sizes say "unknown"
        got = info["samples"]
        assert got.shape == want.shape and np.abs(got - want).max() <= LSB


def test_streamed_mp3_of_openai_decodes_whole(client):
    r = client.post("/v1/audio/speech", json={"input": "An mp3 stream.", "voice": "alloy", **FISH})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg", r.text
    audio, sr = sf.read(io.BytesIO(r.content))
    want = FISH["max_new_tokens"] * FRAME
    assert sr == 44100 and want <= len(audio) <= want + 2 * 1152  # encoder delay and padding only
    assert np.abs(audio).max() > 0


def chunk_sizes(base_url: str, path: str, body: dict) -> list[int]:
    """POST over a raw socket and return the size of every HTTP/1.1 chunk as the server framed it."""
    url = urlparse(base_url)
    payload = json.dumps(body).encode()
    with socket.create_connection((url.hostname, url.port), timeout=120) as s:
        head = f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
        s.sendall(f"{head}Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    headers, _, rest = data.partition(b"\r\n\r\n")
    assert b" 200 " in headers.split(b"\r\n")[0] and b"chunked" in headers.lower(), headers
    sizes = []
    while True:
        line, _, rest = rest.partition(b"\r\n")
        size = int(line.split(b";")[0], 16)
        if size == 0:
            return sizes
        sizes.append(size)
        rest = rest[size + 2 :]


def test_streamed_pieces_are_8_frames_then_stream_frames(base_url):
    body = {"text": "Hi.", "format": "pcm", "streaming": True, "stream_frames": 24, "chunk_length": 0, **FISH}
    sizes = chunk_sizes(base_url, "/v1/tts", {**body, "max_new_tokens": 60})
    assert [s // (2 * FRAME) for s in sizes] == [8, 24, 24, 4] and all(s % (2 * FRAME) == 0 for s in sizes)
