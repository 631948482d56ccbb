"""Command line: ``python pipeline/run.py --stage all`` (see --help)."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: import the project, not this folder's modules
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from pipeline.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
