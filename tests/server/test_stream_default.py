"""Streaming surfaces default to early first audio: a request without `stream_frames` (what
`tools.api_client --streaming True` sends) gets the worker's rule, 8 frames then STREAM_FRAMES."""

from __future__ import annotations

from fish_speech.settings import Settings
from tests.server.test_stream_audio import FISH, FRAME, chunk_sizes


def test_client_default_request_streams_its_first_audio_early(base_url):
    from tools.api_client import build_request, parser

    args = parser().parse_args(["--text", "Hi there.", "--streaming", "True", "--max_new_tokens", "40"])
    body = build_request(args)
    assert body["stream_frames"] is None  # not pinned by the client: the server's one default applies
    body.update(format="pcm", chunk_length=0, **{k: v for k, v in FISH.items() if k != "max_new_tokens"})
    sizes = [s // (2 * FRAME) for s in chunk_sizes(base_url, "/v1/tts", body)]
    every = Settings().stream_frames
    # the first piece (8 frames) left the server long before the end of a short text
    assert sizes[0] == 8 and len(sizes) >= 2 and sum(sizes) == 40
    assert all(s == every for s in sizes[1:-1]) and sizes[-1] <= every
