"""Every environment variable the project reads, in one typed object, read once and checked at start-up.

`Settings.from_env()` parses and validates all of them (a bad value is a `SettingsError` naming the
variable); engines and surfaces receive the values they need as arguments and never look at the
environment themselves. `settings_table()` renders the documentation table (docs/settings.md).
Launchers that take command-line flags build a `Settings` and `replace` what the flags override.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from fish_speech.catalog import DEFAULT_MODEL, MODEL_CHOICES, by_name, default_path

DEFAULT_CHECKPOINT = default_path(DEFAULT_MODEL)
DEFAULT_AGENT_CHECKPOINT = "checkpoints/fish-agent-v0.1-3b"
RUNPOD_VOLUME = "/runpod-volume"
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """A variable holds a value that cannot be used; the message names it."""


def _env(name: str, default: Any, kind: str, doc: str, group: str, minimum: float | None = None, choices=()):
    meta = {"env": name, "kind": kind, "doc": doc, "group": group, "minimum": minimum, "choices": tuple(choices)}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    # ---- models
    model: str | None = _env(
        "MODEL",
        None,
        "choice",
        "checkpoint to serve: fish-speech-1.5, openaudio-s1-mini or s2-pro (folder checkpoints/<MODEL>, "
        "downloaded from its repository); default: the one LLAMA_CHECKPOINT_PATH holds",
        "model",
        None,
        MODEL_CHOICES,
    )
    checkpoint_path: str = _env(
        "LLAMA_CHECKPOINT_PATH",
        DEFAULT_CHECKPOINT,
        "str",
        "language model folder (its family is detected); default: checkpoints/<MODEL>",
        "model",
    )
    codec_path: str | None = _env(
        "DECODER_CHECKPOINT_PATH",
        None,
        "path",
        "codec file; default: the family's codec inside the model folder",
        "model",
    )
    device: str | None = _env("DEVICE", None, "path", "cuda, cuda:1, mps or cpu; default: the best available", "model")
    half: bool = _env("HALF", False, "bool", "float16 instead of bfloat16 on GPU", "model")
    compile: bool = _env(
        "COMPILE",
        False,
        "bool",
        "torch.compile the decode step: faster steps after a slow first start (CUDA graphs on GPU)",
        "model",
    )
    max_batch: int = _env(
        "MAX_BATCH", 1, "int", "tts requests decoded together per step (1 = one at a time)", "model", 1
    )
    prefix_cache_bytes: int = _env(
        "PREFIX_CACHE_BYTES",
        256 * 1024 * 1024,
        "int",
        "bytes of prompt-prefix K/V kept per model for reuse: voice prompts, and the agent's system turns and each "
        "conversation's last prompt (least recently used go; 0 = off); 1.5: ~12 KB a token in bf16",
        "model",
        0,
    )
    packed_weight_bytes: int = _env(
        "PACKED_WEIGHT_BYTES",
        2 * 1024**3,
        "int",
        "CPU float32 only: bytes of slow-layer weights also kept in oneDNN's packed layout, which prompts "
        "(a voice's text, a whole prompt) multiply faster; whole layers, first first (0 = off); 1.5: 1.4 GB for all 24",
        "model",
        0,
    )
    # ---- worker
    mode: str = _env(
        "MODE",
        "tts",
        "choice",
        "mode of a job without a `tts` flag (every worker serves both)",
        "worker",
        None,
        ("tts", "agent"),
    )
    agent_preload: bool = _env(
        "AGENT_PRELOAD", False, "bool", "load the agent model at start-up, not on the first agent job", "worker"
    )
    download_checkpoints: bool = _env(
        "DOWNLOAD_CHECKPOINTS",
        True,
        "bool",
        "download missing weights from Hugging Face (entrypoint, first agent job)",
        "worker",
    )
    hf_repo: str | None = _env(
        "HF_REPO", None, "path", "repository of the tts weights; default: MODEL's (fish_speech/catalog.py)", "worker"
    )
    hf_token: str | None = _env(
        "HF_TOKEN", None, "path", "Hugging Face token for gated repositories (openaudio-s1-mini, s2-pro)", "worker"
    )
    agent_hf_repo: str = _env(
        "AGENT_HF_REPO", "fishaudio/fish-agent-v0.1-3b", "str", "repository of the fish-agent weights", "worker"
    )
    max_concurrency: int = _env("MAX_CONCURRENCY", 1, "int", "jobs one worker takes at once", "worker", 1)
    stream_frames: int = _env(
        "STREAM_FRAMES",
        24,
        "int",
        "frames per streamed audio piece after the first (8); worker, HTTP server, page, API client",
        "worker",
        1,
    )
    progress_frames: int = _env("PROGRESS_FRAMES", 128, "int", "frames per piece when not streaming", "worker", 1)
    progress_interval: float = _env("PROGRESS_INTERVAL", 5.0, "float", "seconds between progress updates", "worker", 0)
    default_seed: int | None = _env(
        "DEFAULT_SEED",
        None,
        "int",
        "seed for tts requests that send none (unset: a fresh random draw per request)",
        "worker",
        0,
    )
    audio_chunk_bytes: int = _env(
        "AUDIO_CHUNK_BYTES", 512 * 1024, "int", "raw audio bytes per output chunk (at most 700000)", "worker", 1024
    )
    references_dir: str = _env("REFERENCES_DIR", "references", "str", "saved voices, one folder per id", "worker")
    allow_http_audio_urls: bool = _env(
        "ALLOW_HTTP_AUDIO_URLS", False, "bool", "accept plain http:// reference URLs", "worker"
    )
    bucket_endpoint_url: str | None = _env(
        "BUCKET_ENDPOINT_URL", None, "path", "S3-compatible bucket for non-streamed audio files", "worker"
    )
    bucket_name: str | None = _env("BUCKET_NAME", None, "path", "bucket name for uploads", "worker")
    log_level: str = _env(
        "LOG_LEVEL", "INFO", "choice", "worker log level", "worker", None, ("DEBUG", "INFO", "WARNING", "ERROR")
    )
    runpod_log_level: str = _env(
        "RUNPOD_LOG_LEVEL",
        "INFO",
        "choice",
        "the RunPod SDK's log level (its own default, DEBUG, logs every output chunk)",
        "worker",
        None,
        ("DEBUG", "INFO", "WARN", "ERROR"),
    )
    # ---- request limits (0 disables a limit)
    max_text_length: int = _env("MAX_TEXT_LENGTH", 3000, "int", "characters of `text`", "limits", 0)
    max_reference_bytes: int = _env(
        "MAX_REFERENCE_BYTES", 20 * 1024 * 1024, "int", "bytes of one reference audio file", "limits", 0
    )
    max_reference_seconds: float = _env(
        "MAX_REFERENCE_SECONDS", 90.0, "float", "seconds of one reference audio", "limits", 0
    )
    reference_url_timeout: float = _env(
        "REFERENCE_URL_TIMEOUT", 20.0, "float", "seconds for the whole download of a reference URL", "limits", 0
    )
    max_new_tokens: int = _env(
        "MAX_NEW_TOKENS_LIMIT", 4096, "int", "largest `max_new_tokens` a request may ask for", "limits", 0
    )
    max_reference_text_length: int = _env(
        "MAX_REFERENCE_TEXT_LENGTH", 1000, "int", "characters of one reference transcript", "limits", 0
    )
    min_chunk_length: int = _env(
        "MIN_CHUNK_LENGTH", 100, "int", "smallest `chunk_length`; smaller values are raised to it", "limits", 1
    )
    max_audio_seconds: float = _env(
        "MAX_AUDIO_SECONDS", 600.0, "float", "seconds of audio one tts job may generate", "limits", 0
    )
    max_codec_frames: int = _env(
        "MAX_CODEC_FRAMES", 2048, "int", "codec frames per /v1/vqgan/encode or /decode request", "limits", 0
    )
    max_references: int = _env("MAX_REFERENCES", 8, "int", "uploaded reference clips per request", "limits", 0)
    max_references_bytes: int = _env(
        "MAX_REFERENCES_BYTES", 40 * 1024 * 1024, "int", "bytes of all reference clips of one request", "limits", 0
    )
    max_saved_voices: int = _env("MAX_SAVED_VOICES", 1000, "int", "voices saved under REFERENCES_DIR", "limits", 0)
    reference_cache_items: int = _env(
        "REFERENCE_CACHE_ITEMS", 128, "int", "encoded references kept in memory (least recently used go)", "limits", 0
    )
    reference_cache_bytes: int = _env(
        "REFERENCE_CACHE_BYTES", 64 * 1024 * 1024, "int", "bytes of encoded references kept in memory", "limits", 0
    )
    # ---- agent
    agent_backend: str = _env(
        "AGENT_BACKEND", "fish", "choice", "fish (fish-agent) or llm (chat model + tts)", "agent", None, ("fish", "llm")
    )
    agent_checkpoint_path: str = _env(
        "AGENT_CHECKPOINT_PATH", DEFAULT_AGENT_CHECKPOINT, "str", "fish-agent folder", "agent"
    )
    agent_llm_path: str | None = _env(
        "AGENT_LLM_PATH", None, "path", "Hugging Face chat model folder for AGENT_BACKEND=llm", "agent"
    )
    agent_llm_temperature: float = _env("AGENT_LLM_TEMPERATURE", 0.7, "float", "chat model temperature", "agent", 0)
    agent_llm_top_p: float = _env("AGENT_LLM_TOP_P", 0.9, "float", "chat model top-p", "agent", 0)
    agent_llm_repetition_penalty: float = _env(
        "AGENT_LLM_REPETITION_PENALTY", 1.05, "float", "chat model repetition penalty", "agent", 0
    )
    agent_max_reply_tokens: int = _env(
        "AGENT_MAX_REPLY_TOKENS", 1024, "int", "text tokens + audio frames per reply", "agent", 1
    )
    agent_sentence_chars: int = _env(
        "AGENT_SENTENCE_CHARS", 200, "int", "longest sentence the cascade speaks at once", "agent", 1
    )
    agent_stream_frames: int = _env(
        "AGENT_STREAM_FRAMES", 24, "int", "frames per decoded agent audio piece", "agent", 1
    )
    agent_max_message_chars: int = _env(
        "AGENT_MAX_MESSAGE_CHARS", 0, "int", "characters of `message`; 0 = MAX_TEXT_LENGTH", "agent", 0
    )
    default_system_message: str | None = _env(
        "DEFAULT_SYSTEM_MESSAGE", None, "path", "system message of new conversations", "agent"
    )
    conversation_store: str | None = _env(
        "CONVERSATION_STORE",
        None,
        "path",
        "memory, sqlite:///path or redis://host:port/db; default: sqlite on /runpod-volume, else memory",
        "agent",
    )
    conversation_ttl: float = _env(
        "CONVERSATION_TTL", 7 * 24 * 3600.0, "float", "seconds a conversation is kept", "agent", 0
    )
    conversation_secret: str | None = _env(
        "CONVERSATION_SECRET",
        None,
        "path",
        "key for conversation tokens; default: one kept in the store (memory: per process)",
        "agent",
    )
    conversation_max_turns: int = _env("CONVERSATION_MAX_TURNS", 200, "int", "turns kept per conversation", "agent", 0)
    store_timeout_s: float = _env(
        "STORE_TIMEOUT_S",
        5.0,
        "float",
        "seconds one conversation-store call may take (SQLite lock wait, Redis socket) before the job gets a 503",
        "agent",
        0.1,
    )
    conversation_memory_items: int = _env(
        "CONVERSATION_MEMORY_ITEMS",
        10000,
        "int",
        "conversations the memory store keeps (least recently used go first); 0 = no cap",
        "agent",
        0,
    )
    conversation_memory_bytes: int = _env(
        "CONVERSATION_MEMORY_BYTES",
        256 * 1024 * 1024,
        "int",
        "bytes of conversations the memory store keeps (least recently used go first); 0 = no cap",
        "agent",
        0,
    )
    # ---- HTTP server
    api_key: str | None = _env(
        "FISH_API_KEY", None, "path", "bearer key the HTTP server requires (and tools/api_client.py sends)", "server"
    )
    allowed_hosts: str = _env(
        "ALLOWED_HOSTS",
        "",
        "str",
        "without a key: Host names served besides localhost (comma-separated; * = any)",
        "server",
    )
    allowed_origins: str = _env(
        "ALLOWED_ORIGINS",
        "",
        "str",
        "without a key: browser origins allowed besides the server's own (comma-separated)",
        "server",
    )
    http_header_timeout: float = _env(
        "HTTP_HEADER_TIMEOUT",
        10.0,
        "float",
        "seconds a connection may take to send a request's headers (--header-timeout)",
        "server",
        0.1,
    )
    http_body_timeout: float = _env(
        "HTTP_BODY_TIMEOUT",
        60.0,
        "float",
        "seconds a request body may take to arrive, else 408 (--body-timeout); 0 = no limit",
        "server",
        0,
    )
    http_keepalive_timeout: float = _env(
        "HTTP_KEEPALIVE_TIMEOUT", 5.0, "float", "seconds an idle keep-alive connection stays open", "server", 0.1
    )
    http_max_connections: int = _env(
        "HTTP_MAX_CONNECTIONS",
        500,
        "int",
        "open connections (and requests in progress) before new requests get 503 (--max-connections)",
        "server",
        1,
    )
    webui_host: str = _env("GRADIO_SERVER_NAME", "127.0.0.1", "str", "host of tools/run_webui.py", "server")
    webui_port: int = _env("GRADIO_SERVER_PORT", 7860, "int", "port of tools/run_webui.py", "server", 1)
    webui_share: bool = _env(
        "GRADIO_SHARE", False, "bool", "accepted and ignored: there are no public share links", "server"
    )
    # ---- set by RunPod (read, never documented as user settings)
    runpod_post_output: str | None = _env("RUNPOD_WEBHOOK_POST_OUTPUT", None, "path", "", "platform")
    runpod_get_job: str | None = _env("RUNPOD_WEBHOOK_GET_JOB", None, "path", "", "platform")
    runpod_realtime_port: str | None = _env("RUNPOD_REALTIME_PORT", None, "path", "", "platform")
    runpod_api_key: str | None = _env(
        "RUNPOD_API_KEY", None, "path", "", "platform"
    )  # runpod/test_client.py --endpoint

    def __post_init__(self):
        # MODEL alone names the folder too (LLAMA_CHECKPOINT_PATH left at its default)
        chosen = by_name(self.model)
        if chosen is not None:
            object.__setattr__(self, "model", chosen.model)
            if self.checkpoint_path == DEFAULT_CHECKPOINT:
                object.__setattr__(self, "checkpoint_path", default_path(chosen.model))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        env = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"], "")
            raw = raw.strip() if isinstance(raw, str) else raw
            if raw != "":
                values[f.name] = _parse(f, raw)
        values.update(overrides)
        return cls(**values)

    @classmethod
    def one(cls, name: str, environ: Mapping[str, str] | None = None) -> Any:
        """One setting by attribute name, without checking the others (for client tools)."""
        f = next(f for f in fields(cls) if f.name == name)
        raw = (os.environ if environ is None else environ).get(f.metadata["env"], "").strip()
        return _parse(f, raw) if raw else f.default

    def replace(self, **changes) -> Settings:
        return dataclasses.replace(self, **changes)

    def default_store_url(self, volume: str = RUNPOD_VOLUME) -> str:
        """CONVERSATION_STORE, else a SQLite file on the RunPod network volume, else memory."""
        if self.conversation_store:
            return self.conversation_store
        return f"sqlite://{volume}/conversations.db" if os.path.isdir(volume) else "memory"


def _parse(f: dataclasses.Field, raw: str) -> Any:
    meta = f.metadata
    name, kind = meta["env"], meta["kind"]
    if kind in ("str", "path"):
        return raw
    if kind == "bool":
        if raw.lower() in TRUE_WORDS:
            return True
        if raw.lower() in FALSE_WORDS:
            return False
        raise SettingsError(f"{name}={raw!r} must be one of {', '.join(TRUE_WORDS + FALSE_WORDS)}")
    if kind == "choice":
        choices = meta["choices"]
        value = raw.upper() if choices[0].isupper() else raw.lower()
        if value not in choices:
            raise SettingsError(f"{name} must be one of {', '.join(choices)}, not {raw!r}")
        return value
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if kind == "int":
        if not value.is_integer():
            raise SettingsError(f"{name}={raw!r} must be a whole number")
        value = int(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise SettingsError(f"{name}={raw!r} must be a finite number")
    if meta["minimum"] is not None and value < meta["minimum"]:
        raise SettingsError(f"{name} must be at least {meta['minimum']:g}, got {raw}")
    return value


def settings_table() -> str:
    """The documented settings as a Markdown table (docs/settings.md is checked against it)."""
    rows = ["| variable | default | group | meaning |", "| --- | --- | --- | --- |"]
    for f in fields(Settings):
        meta = f.metadata
        if meta["group"] == "platform":
            continue
        default = "" if f.default is None else f.default
        if isinstance(default, bool):
            default = "1" if default else "0"
        rows.append(f"| `{meta['env']}` | `{default}` | {meta['group']} | {meta['doc']} |")
    return "\n".join(rows) + "\n"


def env_names() -> list[str]:
    return [f.metadata["env"] for f in fields(Settings)]


@dataclass(frozen=True)
class Limits:
    """The request limits every surface enforces (0 disables one); defaults are the settings' defaults."""

    max_text_length: int = Settings.max_text_length
    max_reference_bytes: int = Settings.max_reference_bytes
    max_reference_seconds: float = Settings.max_reference_seconds
    reference_url_timeout: float = Settings.reference_url_timeout
    max_new_tokens: int = Settings.max_new_tokens
    max_reference_text_length: int = Settings.max_reference_text_length
    min_chunk_length: int = Settings.min_chunk_length
    max_audio_seconds: float = Settings.max_audio_seconds
    max_codec_frames: int = Settings.max_codec_frames
    max_references: int = Settings.max_references
    max_references_bytes: int = Settings.max_references_bytes
    max_saved_voices: int = Settings.max_saved_voices

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(**{f.name: getattr(settings, f.name) for f in fields(cls)})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        return cls.from_settings(Settings.from_env(environ))
