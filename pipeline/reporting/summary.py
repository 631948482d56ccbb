"""The summary table every run ends with."""

from __future__ import annotations

import numpy as np

from pipeline.engine.runner import StageRecord
from pipeline.validation.cv import honesty_label

HEADER = ("stage", "OOF log loss", "per fold mean ± std", "honesty", "seconds", "from cache")


def score_cells(meta: dict) -> tuple[str, str, str]:
    """(overall OOF log loss, per-fold mean ± std, honesty) of a model-like stage, or dashes."""
    if "oof_score" not in meta:
        return "-", "-", "-"
    folds = np.asarray(meta.get("fold_scores", []), dtype=float)
    per_fold = f"{folds.mean():.4f} ± {folds.std():.4f}" if len(folds) else "-"
    return f"{meta['oof_score']:.4f}", per_fold, honesty_label(tuple(meta.get("optimism", ())))


def seconds_cell(record: StageRecord) -> str:
    if record.status == "computed":
        return f"{record.seconds:.1f}"
    original = record.meta.get("seconds")
    was = f" (computed in {original:.1f})" if original is not None else ""
    return f"{record.seconds:.1f}{was}"


CACHE_CELLS = {"computed": "no", "cached": "yes", "cached, not loaded": "yes (not loaded)"}


def optimistic_blend_row(record: StageRecord) -> tuple[str, ...] | None:
    """The blend scored with weights fitted on all OOF rows: a row of its own, labelled optimistic."""
    info = record.meta.get("info", {})
    if "optimistic_score" not in info:
        return None
    reasons = (
        *record.meta.get("optimism", ()),
        info.get("optimistic_because", "weights fitted on all OOF rows"),
    )
    return (
        f"{record.name} (all-OOF weights)",
        f"{info['optimistic_score']:.4f}",
        "-",
        honesty_label(reasons),
        "-",
        "-",
    )


def summary_table(records: list[StageRecord], extra_rows: list[tuple[str, ...]] = ()) -> str:
    """Stage, OOF log loss, per-fold mean ± std, honesty, seconds, from cache: one line per stage."""
    rows = [HEADER]
    for record in records:
        rows.append(
            (record.name, *score_cells(record.meta), seconds_cell(record), CACHE_CELLS[record.status])
        )
        optimistic = optimistic_blend_row(record)
        if optimistic is not None:
            rows.append(optimistic)
    rows.extend(extra_rows)
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
