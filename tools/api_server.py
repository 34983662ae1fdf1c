"""HTTP API server: `python -m tools.api_server --listen 0.0.0.0:8080 --llama-checkpoint-path ... [--api-key KEY]`.

Serves /v1/tts, /v1/audio/speech (OpenAI), /v1/vqgan/*, /v1/references, /v1/health, the web page
at / and the API description at /docs. See docs/http.md.
"""

from __future__ import annotations

import argparse
import sys

from fish_speech.errors import FishError
from fish_speech.server.launch import add_model_args, parse_listen, serve


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.api_server", description="Fish Speech HTTP API server")
    p.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT to bind (default: %(default)s)")
    p.add_argument("--workers", type=int, default=1, help="only 1: the model lives in one process")
    add_model_args(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.workers != 1:
        print("warning: --workers is ignored; one process serves all requests through one model queue", file=sys.stderr)
    try:
        host, port = parse_listen(args.listen)
    except FishError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return serve(args, host, port, "Fish Speech API server")


if __name__ == "__main__":
    sys.exit(main())
