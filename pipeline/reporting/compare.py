"""``--stage compare``: two finished runs side by side, with paired uncertainty.

Every ``--stage all`` run folder holds ``row_losses.csv``: each train row's id, fold, duplicate group,
label, and each model's OOF log loss and predicted class. Two such folders (or two ledger run ids)
are compared without recomputing anything: the paired difference of each common model overall and
per class, the rows whose predicted class changed, and the blend weights side by side. Runs with a
reserved holdout (the same rows in both) are compared on those rows too ("holdout rows").
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.engine.errors import UserError
from pipeline.reporting.ledger import LEDGER_NAME, read_ledger
from pipeline.validation.metrics import row_log_loss
from pipeline.validation.paired import (
    MismatchError,
    PairedRows,
    check_same_rows,
    paired_difference,
    per_class_differences,
)

ROW_LOSSES = "row_losses.csv"


HOLDOUT_FOLD = -1  # the fold of a reserved holdout row in row_losses.csv


def row_losses_frame(
    labels: pd.Series, classes: tuple[str, ...], folds, results: list, holdout: tuple | None = None
) -> pd.DataFrame:
    """Per train row: fold, duplicate group, label, and each result's OOF log loss and predicted class.
    ``holdout``: (labels, groups) of the reserved rows, added with fold -1 and their holdout losses."""
    frame = oof_losses_frame(labels, classes, folds, results)
    if holdout is None or any(r.holdout_proba is None for r in results):
        return frame
    holdout_labels, groups = holdout
    codes = holdout_labels.to_numpy()
    part = pd.DataFrame(
        {
            "fold": HOLDOUT_FOLD,
            "group": np.unique(groups, return_inverse=True)[1] + int(frame["group"].max()) + 1,
            "label": np.asarray(classes)[codes],
        },
        index=holdout_labels.index,
    )
    for result in results:
        proba = result.holdout_proba.loc[holdout_labels.index].to_numpy()
        part[f"loss_{result.name}"] = row_log_loss(codes, proba)
        part[f"predicted_{result.name}"] = np.asarray(classes)[proba.argmax(axis=1)]
    return pd.concat([frame, part])


def oof_losses_frame(labels: pd.Series, classes: tuple[str, ...], folds, results: list) -> pd.DataFrame:
    index = results[-1].oof_proba.index
    codes = labels.loc[index].to_numpy()
    frame = pd.DataFrame(
        {
            "fold": folds.fold_of_row.loc[index].to_numpy(),
            "group": folds.groups(index),
            "label": np.asarray(classes)[codes],
        },
        index=index,
    )
    for result in results:
        proba = result.oof_proba.loc[index].to_numpy()
        frame[f"loss_{result.name}"] = row_log_loss(codes, proba)
        frame[f"predicted_{result.name}"] = np.asarray(classes)[proba.argmax(axis=1)]
    return frame


@dataclass(frozen=True)
class Run:
    """A finished run: its folder, per-row losses and run.json."""

    name: str
    rows: pd.DataFrame
    info: dict

    @property
    def models(self) -> list[str]:
        return [c.removeprefix("loss_") for c in self.rows.columns if c.startswith("loss_")]


class CompareError(UserError):
    """Runs that cannot be compared: one line, exit code 2."""


def find_run(reference: str, out_dir: Path) -> Path:
    """A run folder given as a path, or as a ledger run id (the folder of its submission)."""
    path = Path(reference)
    if path.is_dir():
        return path
    ledger = out_dir / LEDGER_NAME
    if ledger.is_file():
        rows = read_ledger(ledger)
        match = rows[(rows["run_id"] == reference) & (rows["submission"] != "")]
        if len(match):
            return Path(match["submission"].iloc[-1]).parent
    raise CompareError(f"--runs {reference}: neither a run folder nor a run id of {ledger} with a submission")


def load_run(folder: Path) -> Run:
    path = folder / ROW_LOSSES
    if not path.is_file():
        raise CompareError(f"{path}: not found (made by --stage all; rerun the run to write it)")
    rows = pd.read_csv(path, index_col="id")
    info = json.loads((folder / "run.json").read_text("utf-8")) if (folder / "run.json").is_file() else {}
    return Run(folder.name, rows, info)


def paired_rows(a: Run, b: Run, model: str) -> PairedRows:
    rows_b = b.rows.loc[a.rows.index]
    return PairedRows(
        a.rows[f"loss_{model}"].to_numpy(),
        rows_b[f"loss_{model}"].to_numpy(),
        pd.Categorical(a.rows["label"], categories=sorted(a.rows["label"].unique())).codes,
        a.rows["fold"].to_numpy(),
        a.rows["group"].to_numpy(),
    )


def scopes(rows: PairedRows) -> dict[str, PairedRows]:
    """The OOF rows ("all rows", as before a holdout existed) and, when reserved, the holdout rows."""
    on_holdout = rows.fold_of_row == HOLDOUT_FOLD
    out = {"all rows": rows.where(~on_holdout)}
    if on_holdout.any():
        out["holdout rows"] = rows.where(on_holdout)
    return out


@dataclass(frozen=True)
class Comparison:
    overall: pd.DataFrame
    per_class: pd.DataFrame
    changed: pd.DataFrame
    weights: pd.DataFrame


def difference_row(model: str, scope: str, difference) -> dict:
    return {
        "model": model,
        "scope": scope,
        "rows": difference.rows,
        "difference": difference.mean,
        "standard_error": difference.standard_error,
        "low_95": difference.low,
        "high_95": difference.high,
        "per_fold": " ".join(f"{d:+.4f}" for d in difference.per_fold),
        "verdict": difference.verdict(),
    }


def compare_runs(a: Run, b: Run) -> Comparison:
    """B against A for every model both runs have (negative differences: B is better)."""
    try:
        check_same_rows(a.rows.index, b.rows.index, a.rows["fold"], b.rows.loc[a.rows.index, "fold"])
    except MismatchError as error:
        raise CompareError(f"cannot compare {a.name} with {b.name}: {error}") from None
    common = [m for m in a.models if m in b.models]
    if not common:
        raise CompareError(f"{a.name} and {b.name} have no model in common")
    overall, per_class = [], []
    classes = sorted(a.rows["label"].unique())
    for model in common:
        parts = scopes(paired_rows(a, b, model))
        for scope, rows in parts.items():
            overall.append(difference_row(model, scope, paired_difference(rows)))
        for name, difference in per_class_differences(parts["all rows"], classes).items():
            per_class.append(difference_row(model, name, difference))
    last = "blend" if "blend" in common else common[-1]
    changed = pd.DataFrame(
        {
            "label": a.rows["label"],
            f"{last} in A: {a.name}": a.rows[f"predicted_{last}"],
            f"{last} in B: {b.name}": b.rows.loc[a.rows.index, f"predicted_{last}"],
        }
    )
    changed = changed[changed.iloc[:, 1] != changed.iloc[:, 2]]
    weights = pd.DataFrame(
        {
            f"{role}: {run.name}": pd.Series(run.info.get("blend_weights") or {}, dtype=float)
            for role, run in (("A", a), ("B", b))
        }
    )
    return Comparison(pd.DataFrame(overall), pd.DataFrame(per_class), changed, weights)


def per_class_picture(per_class: pd.DataFrame, title: str) -> bytes:
    """Per-class difference of each model with its 95 % interval (left of 0: B better)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.engine.files import figure_png as png

    models = list(per_class["model"].unique())
    figure, axes = plt.subplots(figsize=(8, 0.35 * per_class["scope"].nunique() * len(models) + 1.5))
    for k, model in enumerate(models):
        part = per_class[per_class["model"] == model].reset_index(drop=True)
        y = np.arange(len(part)) * (len(models) + 1) + k
        error = [part["difference"] - part["low_95"], part["high_95"] - part["difference"]]
        axes.errorbar(part["difference"], y, xerr=error, fmt="o", capsize=2, label=model)
        if k == 0:
            axes.set_yticks(y + (len(models) - 1) / 2, part["scope"], fontsize=7)
    axes.axvline(0, color="grey", linestyle="--")
    axes.invert_yaxis()
    axes.set_xlabel("difference of mean log loss, B − A (left of 0: B is better)")
    axes.set_title(title)
    axes.legend()
    return png(figure)


def comparison_html(comparison: Comparison, a: Run, b: Run) -> str:
    title = f"{html.escape(b.name)} (B) against {html.escape(a.name)} (A)"
    return "\n".join(
        [
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Run comparison</title>",
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style></head><body>",
            f"<h1>{title}</h1>",
            "<p>Paired differences of per-row OOF log loss, B − A (negative: B is better); 95 % intervals "
            "from a bootstrap over duplicate groups within each class.</p>",
            comparison.overall.to_html(index=False, float_format="%.4f"),
            "<h2>Per class</h2><img src='per_class_difference.png' alt='per-class differences'>",
            comparison.per_class.to_html(index=False, float_format="%.4f"),
            "<h2>Blend weights</h2>",
            comparison.weights.to_html(float_format="%.3f", na_rep="—"),
            f"<h2>Rows whose predicted class changed ({len(comparison.changed):,})</h2>",
            comparison.changed.head(200).to_html(),
            "</body></html>",
        ]
    )


def format_comparison(comparison: Comparison) -> str:
    lines = ["model  rows  difference (B − A) ± s.e. (95 % interval)  verdict"]
    for row in comparison.overall.itertuples():
        scope = "OOF" if row.scope == "all rows" else "holdout"
        lines.append(
            f"{row.model}  {scope}  {row.difference:+.4f} ± {row.standard_error:.4f} "
            f"({row.low_95:+.4f} .. {row.high_95:+.4f})  {row.verdict}  per fold: {row.per_fold}"
        )
    moved = comparison.per_class[comparison.per_class["verdict"].isin(["better", "worse"])]
    for row in moved.itertuples():
        lines.append(f"  {row.model}, class {row.scope}: {row.difference:+.4f} ({row.verdict})")
    lines.append(f"rows whose predicted class changed: {len(comparison.changed):,}")
    return "\n".join(lines)


def compare_writers(comparison: Comparison, a: Run, b: Run) -> dict:
    """compare.csv (overall), per_class.csv, changed_rows.csv, weights.csv, index.html and its plot."""
    title = f"{b.name} (B) − {a.name} (A), per class"
    picture = per_class_picture(comparison.per_class, title) if len(comparison.per_class) else b""
    return {
        "compare.csv": lambda path: comparison.overall.to_csv(path, index=False),
        "per_class.csv": lambda path: comparison.per_class.to_csv(path, index=False),
        "changed_rows.csv": lambda path: comparison.changed.to_csv(path),
        "weights.csv": lambda path: comparison.weights.to_csv(path),
        "per_class_difference.png": lambda path: path.write_bytes(picture),
        "index.html": lambda path: path.write_text(comparison_html(comparison, a, b), "utf-8"),
    }
