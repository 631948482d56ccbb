"""The report section."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.engine.settings import setting


@dataclass(frozen=True)
class ReportConfig:
    """--stage report (and --stage all): HTML page with tables and PNGs of the OOF predictions."""

    top_pairs: int = setting(10, "most confused (true, predicted) class pairs listed per model")
    bins: int = setting(10, "confidence bins of the reliability plot")

    RANGES = {"top_pairs": "[0, 342]", "bins": "[2, 100]"}
