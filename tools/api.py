"""1.2-era name of the API server: `python -m tools.api ...` = `python -m tools.api_server ...`."""

import sys

from tools.api_server import main

if __name__ == "__main__":
    sys.exit(main())
