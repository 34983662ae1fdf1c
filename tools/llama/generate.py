"""1.2-era path of the text -> semantic codes command (kept as a thin alias)."""

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fish_speech.models.text2semantic.inference import main

if __name__ == "__main__":
    sys.exit(main())
