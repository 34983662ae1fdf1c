"""Plain events a service job yields; each surface shapes them its own way (JSON chunks, HTTP body)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class AudioBytes:
    """Encoded audio: a streamed piece (concatenated in order they form one file), or the whole file."""

    data: bytes
    format: str
    whole: bool = False


@dataclass
class TextOut:
    """A piece of the agent's reply text, as it is generated."""

    text: str


@dataclass
class JobDone:
    """The end of a job: a summary that every surface reports (format, duration, timings, ...)."""

    summary: dict = field(default_factory=dict)
