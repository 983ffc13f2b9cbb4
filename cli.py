#!/usr/bin/env python3
"""`python cli.py ...` from a clone: the same as the installed `math-router` command."""

import sys

from math_router.cli import main

if __name__ == "__main__":
    sys.exit(main())
