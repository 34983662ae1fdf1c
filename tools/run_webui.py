"""The web page: `python -m tools.run_webui --llama-checkpoint-path ... --decoder-checkpoint-path ...`.

It is the API server with the page at `/`; the address comes from GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT (as upstream's Gradio UI, default 127.0.0.1:7860) or --listen.
"""

from __future__ import annotations

import argparse
import sys

from fish_speech.errors import FishError
from fish_speech.server.launch import add_model_args, parse_listen, serve
from fish_speech.settings import Settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.run_webui", description="Fish Speech web page")
    p.add_argument(
        "--listen", default=None, help="HOST:PORT (default: $GRADIO_SERVER_NAME:$GRADIO_SERVER_PORT or 127.0.0.1:7860)"
    )
    p.add_argument("--max-gradio-length", type=int, default=None, help="upstream's name for --max-text-length")
    p.add_argument(
        "--theme",
        choices=("light", "dark"),
        default=None,
        help="accepted for upstream compatibility; the page follows the browser",
    )
    add_model_args(p)
    return p


def address(args) -> tuple[str, int]:
    if args.listen:
        return parse_listen(args.listen)
    host, port = Settings.one("webui_host"), Settings.one("webui_port")
    return parse_listen(f"{host}:{port}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.max_gradio_length is not None and args.max_text_length is None:
        args.max_text_length = args.max_gradio_length
    if Settings.one("webui_share"):
        print("warning: GRADIO_SHARE is ignored; there are no public share links", file=sys.stderr)
    try:
        host, port = address(args)
    except FishError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return serve(args, host, port, "Fish Speech web page")


if __name__ == "__main__":
    sys.exit(main())
