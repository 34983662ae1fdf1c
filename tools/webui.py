"""1.2-era name of the web page: `python -m tools.webui ...` = `python -m tools.run_webui ...`."""

import sys

from tools.run_webui import main

if __name__ == "__main__":
    sys.exit(main())
