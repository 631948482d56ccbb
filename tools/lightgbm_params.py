"""Writes models/lgbm/lightgbm_params.json: LightGBM's parameter names and aliases for the installed
version (every name, and each parameter's names in the order LightGBM resolves them), so that
checking ``[lgbm]`` keys does not import LightGBM (about a second) on every command.
Rerun after upgrading LightGBM; with another version installed the check imports LightGBM instead.

    python tools/lightgbm_params.py
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from lightgbm.basic import _ConfigAliases

TARGET = Path(__file__).resolve().parents[1] / "models" / "lgbm" / "lightgbm_params.json"


def main() -> None:
    aliases = _ConfigAliases._get_all_param_aliases()
    names = sorted(set(aliases) | {alias for group in aliases.values() for alias in group})
    stored = {"lightgbm": metadata.version("lightgbm"), "names": names, "aliases": aliases}
    TARGET.write_text(json.dumps(stored, indent=0) + "\n")
    print(f"wrote {len(names)} names for LightGBM {metadata.version('lightgbm')} to {TARGET}")


if __name__ == "__main__":
    main()
