"""`python -m suite …` entry point."""

from suite.cli import main

if __name__ == "__main__":  # not on import (the doctest collector imports every module)
    raise SystemExit(main())
