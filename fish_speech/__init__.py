"""Slim, inference-only Fish Speech 1.5: codec, language model, engines and surfaces."""

__version__ = "0.1.0"
