"""The summary table every run ends with."""

from __future__ import annotations

import numpy as np

from pipeline.runner import StageRecord


def score_cells(meta: dict) -> tuple[str, str]:
    """(overall OOF log loss, per-fold mean ± std) of a model-like stage, or dashes."""
    if "oof_score" not in meta:
        return "-", "-"
    folds = np.asarray(meta.get("fold_scores", []), dtype=float)
    overall = f"{meta['oof_score']:.4f}"
    info = meta.get("info", {})
    if "optimistic_score" in info:
        overall += f" (honest; optimistic {info['optimistic_score']:.4f})"
    per_fold = f"{folds.mean():.4f} ± {folds.std():.4f}" if len(folds) else "-"
    return overall, per_fold


def seconds_cell(record: StageRecord) -> str:
    if record.status == "computed":
        return f"{record.seconds:.1f}"
    original = record.meta.get("seconds")
    was = f" (computed in {original:.1f})" if original is not None else ""
    return f"{record.seconds:.1f}{was}"


CACHE_CELLS = {"computed": "no", "cached": "yes", "cached, not loaded": "yes (not loaded)"}


def summary_table(records: list[StageRecord], extra_rows: list[tuple[str, ...]] = ()) -> str:
    """Stage, OOF log loss, per-fold mean ± std, seconds, from cache: one line per stage."""
    header = ("stage", "OOF log loss", "per fold mean ± std", "seconds", "from cache")
    rows = [header]
    for record in records:
        rows.append(
            (record.name, *score_cells(record.meta), seconds_cell(record), CACHE_CELLS[record.status])
        )
    rows.extend(extra_rows)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
