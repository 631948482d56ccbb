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


def holdout_cell(meta: dict) -> str:
    return f"{meta['holdout_score']:.4f}" if "holdout_score" in meta else "-"


def summary_table(records: list[StageRecord], extra_rows: list[tuple[str, ...]] = ()) -> str:
    """Stage, OOF log loss, per-fold mean ± std, honesty, seconds, from cache: one line per stage; with
    a holdout, its log loss follows the OOF score."""
    with_holdout = any("holdout_score" in record.meta for record in records)
    header = (*HEADER[:2], "holdout", *HEADER[2:]) if with_holdout else HEADER
    rows = [header]
    for record in records:
        cells = score_cells(record.meta)
        holdout = (holdout_cell(record.meta),) if with_holdout else ()
        rows.append(
            (record.name, cells[0], *holdout, *cells[1:], seconds_cell(record), CACHE_CELLS[record.status])
        )
        optimistic = optimistic_blend_row(record)
        if optimistic is not None:
            rows.append((*optimistic[:2], *(("-",) if with_holdout else ()), *optimistic[2:]))
    rows.extend((*row[:2], *(("-",) if with_holdout else ()), *row[2:]) for row in extra_rows)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
