"""1.2-era name of the API client: `python -m tools.post_api ...` = `python -m tools.api_client ...`."""

import sys

from tools.api_client import main

if __name__ == "__main__":
    sys.exit(main())
