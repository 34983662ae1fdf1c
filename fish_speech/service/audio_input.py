"""Audio fields of a request -> file bytes: raw bytes (msgpack), base64 text, or a URL through a hook.

URL downloads are a surface's business (the RunPod worker has an SSRF-guarded fetcher); a surface
that accepts URLs passes its fetcher in, everywhere else a URL is a clear 400.
"""

from __future__ import annotations

from collections.abc import Callable

from fish_speech.audio import decode_base64
from fish_speech.errors import FishError, bad_input

Fetch = Callable[[str, str], bytes]  # (url, field name) -> bytes; blocking, run in a thread


def is_url(value) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def audio_bytes(value: str | bytes, field: str, max_bytes: int, fetch: Fetch | None = None) -> bytes:
    """The bytes of one audio field; blocking (a URL downloads), so call it off the event loop."""
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        if max_bytes and len(data) > max_bytes:
            raise FishError(413, field, f"audio too large: {len(data)} bytes, limit {max_bytes}")
        return data
    if is_url(value):
        if fetch is None:
            raise bad_input(field, "URLs are not accepted here; send the audio itself (base64)")
        return fetch(value, field)
    return decode_base64(value, field, max_bytes or None)
