"""RunPod Hub looks for a handler here; the worker itself is runpod/handler.py (see runpod/README.md).

Runs it exactly as `python runpod/handler.py` would, arguments included.
"""

import runpy
import sys
from pathlib import Path

HANDLER = Path(__file__).resolve().parents[1] / "runpod" / "handler.py"

if __name__ == "__main__":
    sys.argv[0] = str(HANDLER)
    runpy.run_path(str(HANDLER), run_name="__main__")
