"""`python -m tinyvit ...` runs the command-line tool (see tinyvit/cli.py)."""

import sys

from tinyvit.cli import main

if __name__ == "__main__":
    sys.exit(main())
