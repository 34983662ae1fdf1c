"""Command-line start-up shared by `tools.api_server` (and `tools.api`) and `tools.run_webui`.

The models load before the socket opens, so `/v1/health` answering means ready (the seed's
entrypoint polls it). One uvicorn process serves everything; the model lives on one thread.
"""

from __future__ import annotations

import argparse
import logging
import sys

from fish_speech.errors import FishError
from fish_speech.settings import DEFAULT_CHECKPOINT, Settings, SettingsError

# upstream's codec config names (1.5; S1-mini / S2-Pro): accepted, the codec file's keys say which it is
DECODER_CONFIGS = ("firefly_gan_vq", "modded_dac_vq")

log = logging.getLogger("fish_speech.server")


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--llama-checkpoint-path", default=DEFAULT_CHECKPOINT, help="language model folder (default: %(default)s)"
    )
    p.add_argument("--decoder-checkpoint-path", default=None, help="codec .pth (default: the one in the model folder)")
    p.add_argument(
        "--decoder-config-name",
        default="firefly_gan_vq",
        help="codec config: firefly_gan_vq or modded_dac_vq (the file is recognised either way)",
    )
    p.add_argument("--device", default=None, help="cuda, cuda:1, mps or cpu (default: the best available)")
    p.add_argument("--half", action="store_true", help="float16 instead of bfloat16 (GPUs without bf16)")
    p.add_argument("--compile", action="store_true", help="torch.compile the decode step (faster on GPU, slow start)")
    p.add_argument(
        "--mode",
        choices=("tts", "agent"),
        default="tts",
        help="tts, or agent: also load the fish-agent model for /v1/chat (tts keeps working)",
    )
    p.add_argument(
        "--agent-checkpoint-path",
        default=None,
        help="fish-agent folder for --mode agent (default: $AGENT_CHECKPOINT_PATH or checkpoints/fish-agent-v0.1-3b)",
    )
    p.add_argument(
        "--max-text-length",
        type=int,
        default=None,
        help="longest `text` in characters, 0 = no limit (default: $MAX_TEXT_LENGTH or 3000)",
    )
    p.add_argument(
        "--max-request-mb", type=float, default=64.0, help="largest request body in MiB (default: %(default)s)"
    )
    p.add_argument(
        "--references-dir", default="references", help="saved voices, one folder per id (default: %(default)s)"
    )
    p.add_argument(
        "--ref-data-dir", default="ref_data", help="SPEAKER/EMOTION clips for --speaker (default: %(default)s)"
    )
    p.add_argument(
        "--api-key",
        default=Settings.one("api_key"),
        help="require 'Authorization: Bearer KEY' on /v1/* (default: $FISH_API_KEY, none)",
    )
    p.add_argument(
        "--allowed-hosts",
        default=Settings.one("allowed_hosts"),
        help="without a key: Host names to serve besides localhost, comma-separated, * = any (default: $ALLOWED_HOSTS)",
    )
    p.add_argument(
        "--allowed-origins",
        default=Settings.one("allowed_origins"),
        help="without a key: browser origins allowed besides the server's own, comma-separated "
        "(default: $ALLOWED_ORIGINS)",
    )
    p.add_argument(
        "--header-timeout",
        type=float,
        default=Settings.one("http_header_timeout"),
        help="seconds a client may take to send a request's headers (default: $HTTP_HEADER_TIMEOUT or %(default)s)",
    )
    p.add_argument(
        "--body-timeout",
        type=float,
        default=Settings.one("http_body_timeout"),
        help="seconds a request body may take, else 408; 0 = no limit (default: $HTTP_BODY_TIMEOUT or %(default)s)",
    )
    p.add_argument(
        "--keep-alive-timeout",
        type=float,
        default=Settings.one("http_keepalive_timeout"),
        help="seconds an idle connection stays open (default: $HTTP_KEEPALIVE_TIMEOUT or %(default)s)",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=Settings.one("http_max_connections"),
        help="open connections before new requests get 503 (default: $HTTP_MAX_CONNECTIONS or %(default)s)",
    )
    p.add_argument(
        "--warmup",
        choices=("auto", "on", "off"),
        default="auto",
        help="synthesise a short sentence before serving; auto = only with --compile",
    )
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))


def parse_listen(value: str) -> tuple[str, int]:
    """'0.0.0.0:8080', ':8080', '[::1]:8080' or '8080' → (host, port)."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", value
    host = host.strip("[]") or "0.0.0.0"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise FishError(400, "listen", f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def build_runtime(args, settings: Settings | None = None):
    """Load the models the flags name (flags override the settings read from the environment)."""
    from fish_speech.service.runtime import Runtime

    if args.decoder_config_name not in DECODER_CONFIGS:
        raise FishError(
            400,
            "decoder-config-name",
            f"unknown codec config {args.decoder_config_name!r}; use {' or '.join(DECODER_CONFIGS)}",
        )
    settings = (settings or Settings.from_env()).replace(
        checkpoint_path=args.llama_checkpoint_path,
        codec_path=args.decoder_checkpoint_path,
        device=args.device,
        half=args.half,
        compile=args.compile,
        references_dir=args.references_dir,
    )
    if args.agent_checkpoint_path:
        settings = settings.replace(agent_checkpoint_path=args.agent_checkpoint_path)
    if args.max_text_length is not None:
        settings = settings.replace(max_text_length=max(0, args.max_text_length))
    rt = Runtime.load(settings, with_agent=args.mode == "agent", ref_data_root=args.ref_data_dir)
    if rt.error is not None:
        raise rt.error
    return rt


def warm_up(rt) -> None:
    """One short synthesis on the model thread (compiled graphs are built where they will run)."""
    import asyncio

    from fish_speech.engine.types import Sampling, TTSRequest

    request = TTSRequest(text="Hello world.", sampling=Sampling(max_new_tokens=32), chunk_length=200)

    def run():
        for _ in rt.engine.synthesize(request):
            pass

    asyncio.run(rt.scheduler.call(run))


def serve(args, host: str, port: int, banner: str) -> int:
    """Load, warm up, and run uvicorn until interrupted. Returns the exit status."""
    import uvicorn

    from fish_speech.server.app import create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        for flag, value, least in (
            ("header-timeout", args.header_timeout, 0.1),
            ("body-timeout", args.body_timeout, 0),
            ("keep-alive-timeout", args.keep_alive_timeout, 0.1),
            ("max-connections", args.max_connections, 1),
        ):
            if not value >= least:
                raise FishError(400, flag, f"--{flag} must be at least {least:g}, got {value}")
        rt = build_runtime(args)
        if args.warmup == "on" or (args.warmup == "auto" and args.compile):
            log.info("warming up")
            warm_up(rt)
    except (FishError, SettingsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    from fish_speech.server.guard import split_list

    app = create_app(
        rt,
        api_key=args.api_key,
        max_request_bytes=int(args.max_request_mb * 1024 * 1024),
        allowed_hosts=split_list(args.allowed_hosts),
        allowed_origins=split_list(args.allowed_origins),
    )
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    print(f"{banner}: http://{shown}:{port}/  (API docs at /docs)", flush=True)
    from fish_speech.server.timeouts import BodyTimeout, header_timeout_protocol

    uvicorn.run(
        BodyTimeout(app, args.body_timeout),
        host=host,
        port=port,
        log_level=args.log_level,
        timeout_graceful_shutdown=5,
        http=header_timeout_protocol(args.header_timeout),
        timeout_keep_alive=args.keep_alive_timeout,
        limit_concurrency=args.max_connections,
    )
    return 0
