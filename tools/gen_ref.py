"""Build the `ref_data.json` index of the `ref_data/SPEAKER/EMOTION/*.wav|.lab` voice folder.

    python tools/gen_ref.py            # or: python -m tools.gen_ref [--root ref_data] [--output PATH]

The API server and `tools.api_client --speaker S --emotion E` read the index to draw a random clip.
"""

from __future__ import annotations

import argparse
import sys

from fish_speech.errors import FishError
from fish_speech.voices.ref_data import DEFAULT_ROOT, write_index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=DEFAULT_ROOT, help="the ref_data folder (default: %(default)s)")
    parser.add_argument("--output", default=None, help="index file (default: <root>.json beside the folder)")
    args = parser.parse_args(argv)
    try:
        path, speakers = write_index(args.root, args.output)
    except FishError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    clips = sum(len(c) for emotions in speakers.values() for c in emotions.values())
    print(f"wrote {path}: {len(speakers)} speakers, {clips} clips")
    for speaker, emotions in speakers.items():
        for emotion, group in emotions.items():
            print(f"  {speaker}/{emotion}: {len(group)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
