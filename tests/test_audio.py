"""Audio decode/encode with real files: espeak-ng speech, sines, every output format."""

from __future__ import annotations

import base64
import io
import struct
import subprocess

import numpy as np
import pytest
import soundfile as sf

from fish_speech.audio import (
    FORMATS,
    AudioStreamEncoder,
    content_type,
    decode_audio,
    decode_base64_audio,
    encode_audio,
    extension,
    output_rate,
    to_codec_rate,
)
from fish_speech.errors import FishError
from tests.requires import need_tool

SR = 44100
LSB = 1 / 32767


def sine(seconds=1.0, sr=SR, freq=440.0, amp=0.5):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def speech(speech_wav):
    audio, sr = decode_audio(speech_wav.read_bytes(), "audio")
    assert sr == 22050 and audio.dtype == np.float32 and audio.ndim == 1
    assert 1.0 < len(audio) / sr < 10.0 and np.abs(audio).max() > 0.05
    return audio, sr


def decode_any(data: bytes, fmt: str, sr: int):
    if fmt == "pcm":
        return np.frombuffer(data, "<i2").astype(np.float32) / 32767, sr
    return decode_audio(data, "audio")


def best_lag(a: np.ndarray, b: np.ndarray, max_lag: int) -> int:
    """Shift of `a` against `b` where the two agree best (codec delay)."""
    n = min(len(b), len(a) - max_lag)
    errors = [np.abs(a[lag : lag + n] - b[:n]).max() for lag in range(max_lag + 1)]
    return int(np.argmin(errors))


def snr_db(ref: np.ndarray, test: np.ndarray) -> float:
    n = min(len(ref), len(test))
    noise = ref[:n] - test[:n]
    return 10 * np.log10(np.sum(ref[:n] ** 2) / max(np.sum(noise**2), 1e-20))


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_speech(fmt, speech):
    audio, sr = speech
    data = encode_audio(audio, sr, fmt)
    decoded, out_sr = decode_any(data, fmt, sr)
    assert out_sr == output_rate(fmt, sr)
    expected_len = round(len(audio) * out_sr / sr)
    if fmt in ("wav", "flac", "pcm"):
        assert len(decoded) == len(audio)
        assert np.abs(decoded - audio).max() <= 2 * LSB  # int16 quantisation only
    elif fmt == "mp3":
        assert abs(len(decoded) - expected_len) <= 1152  # gapless thanks to the LAME tag
        assert snr_db(audio, decoded) > 10
    else:  # opus at 48 kHz: compare with the resampled input
        assert abs(len(decoded) - expected_len) <= 960
        reference = to_codec_rate(audio, sr, out_sr)
        assert snr_db(reference, decoded) > 6


def test_mp3_and_opus_sines_survive_encoding():
    x = sine(1.0)
    mp3, sr = decode_audio(encode_audio(x, SR, "mp3"))
    assert sr == SR and len(mp3) == len(x) and snr_db(x, mp3) > 20
    opus, sr = decode_audio(encode_audio(x, SR, "opus"))
    assert sr == 48000 and len(opus) == 48000 and snr_db(sine(1.0, 48000), opus) > 15


def test_clipping_saturates_instead_of_wrapping():
    x = np.array([1.5, -1.5, 0.999, -3.0] * 1000, np.float32)
    for fmt in ("wav", "flac", "pcm"):
        decoded, _ = decode_any(encode_audio(x, 8000, fmt), fmt, 8000)
        assert np.allclose(decoded[:4], [1.0, -1.0, 0.999, -1.0], atol=2 * LSB), fmt


def feed_in_pieces(fmt, x, sr, sizes=(1, 17, 500, 2048, 3, 4000)):
    enc = AudioStreamEncoder(fmt, sr)
    parts, i, k = [], 0, 0
    while i < len(x):
        size = sizes[k % len(sizes)]
        parts.append(enc.feed(x[i : i + size]))
        i, k = i + size, k + 1
    assert enc.samples_written == len(x)
    assert enc.duration == pytest.approx(len(x) / sr)
    parts.append(enc.finish())
    return parts


@pytest.mark.parametrize("fmt", FORMATS)
def test_stream_matches_one_shot(fmt):
    x = sine(0.5, freq=300.0) * np.linspace(0.2, 1.0, SR // 2, dtype=np.float32)
    parts = feed_in_pieces(fmt, x, SR)
    streamed = b"".join(parts)
    one_shot = encode_audio(x, SR, fmt)
    if fmt == "pcm":
        assert streamed == one_shot
        return
    a, sr_a = decode_audio(one_shot)
    b, sr_b = decode_audio(streamed)
    assert sr_a == sr_b == output_rate(fmt, SR)
    if fmt in ("wav", "flac"):
        assert np.array_equal(a, b)
        assert len(b) == len(x)
    elif fmt == "mp3":
        # A stream has no LAME tag, so players keep the encoder delay; otherwise identical.
        lag = best_lag(b, a, 2000)
        assert 0 < lag < 2000
        assert np.abs(b[lag : lag + len(a)] - a).max() < 1e-4
    else:
        assert len(b) == len(a) == 24000
        assert np.abs(b - a).max() < 0.05  # the streamed resampler matches the one-shot one


def test_wav_stream_header_says_unknown_size_and_still_reads():
    enc = AudioStreamEncoder("wav", 16000)
    first = enc.feed(np.zeros(10, np.float32))
    assert first[:4] == b"RIFF" and first[36:40] == b"data"
    assert struct.unpack("<I", first[4:8])[0] == 0xFFFFFFFF
    assert struct.unpack("<I", first[40:44])[0] == 0xFFFFFFFF
    data = first + enc.feed(sine(0.2, 16000)) + enc.finish()
    y, sr = sf.read(io.BytesIO(data), dtype="float32")  # a plain soundfile read works too
    assert sr == 16000 and len(y) == 10 + 3200


def test_small_feeds_may_buffer_and_empty_streams_are_valid():
    enc = AudioStreamEncoder("mp3", SR)
    assert enc.feed(np.zeros(10, np.float32)) == b""  # less than one MP3 frame: buffered
    assert enc.finish()
    for fmt in ("wav", "flac", "opus"):
        data = AudioStreamEncoder(fmt, SR).finish()
        with pytest.raises(FishError):  # a valid but empty file is "too short" as input
            decode_audio(data)


def test_formats_metadata():
    assert FORMATS == ("wav", "mp3", "flac", "opus", "pcm")
    assert content_type("mp3") == "audio/mpeg" and content_type("WAV") == "audio/wav"
    assert extension("opus") == "opus"
    with pytest.raises(FishError) as err:
        encode_audio(np.zeros(100, np.float32), SR, "aac")
    assert err.value.code == 400 and err.value.field == "format"


def test_decode_mp3_ogg_flac_inputs(speech):
    audio, sr = speech
    for fmt, subtype in (("MP3", "MPEG_LAYER_III"), ("OGG", "VORBIS"), ("FLAC", "PCM_16")):
        buf = io.BytesIO()
        sf.write(buf, audio, sr, format=fmt, subtype=subtype)
        decoded, out_sr = decode_audio(buf.getvalue(), "audio")
        assert out_sr == sr and abs(len(decoded) - len(audio)) <= 1152, fmt


def test_decode_falls_back_to_ffmpeg_for_m4a(speech_wav, tmp_path):
    need_tool("ffmpeg")
    path = tmp_path / "speech.m4a"  # MP4 keeps its index at the end: needs a seekable input
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(speech_wav), "-c:a", "aac", str(path)], capture_output=True, check=True
    )
    decoded, sr = decode_audio(path.read_bytes(), "audio")
    assert sr == 22050 and len(decoded) > 22050


def test_stereo_is_averaged_to_mono():
    left, right = sine(0.5, 16000, 200.0), sine(0.5, 16000, 350.0, amp=0.3)
    buf = io.BytesIO()
    sf.write(buf, np.stack([left, right], axis=1), 16000, format="WAV", subtype="FLOAT")
    decoded, sr = decode_audio(buf.getvalue())
    assert sr == 16000 and np.allclose(decoded, (left + right) / 2, atol=1e-6)


def test_base64_with_data_url_and_line_breaks():
    wav = encode_audio(sine(0.3, 16000), 16000, "wav")
    b64 = base64.b64encode(wav).decode()
    text = "data:audio/wav;base64," + "\n".join(b64[i : i + 76] for i in range(0, len(b64), 76))
    decoded, sr = decode_base64_audio(text, "system_audio", max_bytes=10**6, max_seconds=30)
    assert sr == 16000 and len(decoded) == 4800


def test_to_codec_rate():
    assert len(to_codec_rate(sine(0.5, 22050), 22050)) == SR // 2
    x = sine(0.1)
    assert to_codec_rate(x, SR) is x


def expect_error(code, field, fn, *args, **kw):
    with pytest.raises(FishError) as err:
        fn(*args, **kw)
    assert (err.value.code, err.value.field) == (code, field), err.value.message
    return err.value.message


def test_input_errors(speech_wav):
    wav = speech_wav.read_bytes()
    msg = expect_error(400, "system_audio", decode_base64_audio, "not base64!!", "system_audio")
    assert "base64" in msg
    expect_error(400, "system_audio", decode_base64_audio, "QUJD=QUJD", "system_audio")
    expect_error(400, "system_audio", decode_base64_audio, 123, "system_audio")
    msg = expect_error(400, "audio", decode_audio, np.random.default_rng(7).bytes(4000), "audio")
    assert "supported" in msg
    expect_error(400, "audio", decode_audio, b"", "audio")
    expect_error(400, "ref", decode_base64_audio, "", "ref")
    msg = expect_error(413, "audio", decode_audio, wav, "audio", max_bytes=1000)
    assert f"{len(wav)} bytes, limit 1000" in msg
    expect_error(413, "b64", decode_base64_audio, base64.b64encode(wav), "b64", max_bytes=1000)
    msg = expect_error(413, "audio", decode_audio, wav, "audio", max_seconds=1)
    assert "limit 1 s" in msg
    short = encode_audio(np.zeros(100, np.float32), 16000, "wav")  # 6 ms
    expect_error(400, "audio", decode_audio, short, "audio")
