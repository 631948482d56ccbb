"""The report stage: what a competitor looks at in OOF predictions, as tables, PNGs and one HTML page.

For every model and the blend: overall and per-class log loss, accuracy, the confusion matrix, the
most confused class pairs and a reliability (calibration) plot. The stage returns the page and its
pictures as bytes; the command line writes them into the run folder.
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.engine.files import figure_png as png  # noqa: E402
from pipeline.reporting.pages import html_table, page  # noqa: E402
from pipeline.validation.cv import (
    ModelResult,  # noqa: E402
    honesty_label,  # noqa: E402
)
from pipeline.validation.metrics import multiclass_log_loss, row_log_loss  # noqa: E402

if TYPE_CHECKING:
    from pipeline.data.loading import Dataset
    from pipeline.reporting.config import ReportConfig


WORST_CLASSES = 3
MIN_BIN_ROWS = 20
"""Reliability bins with fewer rows are left out of the plot (their accuracy is noise), not the table."""


@dataclass(frozen=True)
class Report:
    """Tables (DataFrames), pictures (file name -> PNG bytes) and the HTML sections that show them."""

    tables: dict[str, pd.DataFrame]
    pictures: dict[str, bytes] = field(default_factory=dict)
    body: str = ""

    @property
    def html(self) -> str:
        """The report alone as a page (a run's page puts its summary on top: ``reporting/pages.py``)."""
        return page("Out-of-fold report", "<h1>Out-of-fold report</h1>" + self.body)


def overview(labels: np.ndarray, results: list[ModelResult]) -> pd.DataFrame:
    """Model, OOF log loss, accuracy and honesty; the blend scored with weights fitted on all OOF rows
    is a row of its own, labelled optimistic."""
    rows = []
    for result in results:
        proba = result.oof_proba.to_numpy()
        rows.append(
            {
                "model": result.name,
                "OOF log loss": multiclass_log_loss(labels, proba),
                "accuracy": float((proba.argmax(axis=1) == labels).mean()),
                "honesty": result.honesty,
            }
        )
        if "optimistic_score" in result.info:
            reasons = (*result.optimism, result.info["optimistic_because"])
            rows.append(
                {
                    "model": f"{result.name} (all-OOF weights)",
                    "OOF log loss": result.info["optimistic_score"],
                    "accuracy": np.nan,
                    "honesty": honesty_label(reasons),
                }
            )
    return pd.DataFrame(rows).set_index("model")


def per_class_loss(labels: np.ndarray, classes: list[str], results: list[ModelResult]) -> pd.DataFrame:
    """Mean log loss of each class's rows for every model, with the class's row count and share of
    the total loss (rows × mean / all rows)."""
    table = pd.DataFrame(index=pd.Index(classes, name="class"))
    table["rows"] = np.bincount(labels, minlength=len(classes))
    for result in results:
        loss = row_log_loss(labels, result.oof_proba.to_numpy())
        sums = np.bincount(labels, weights=loss, minlength=len(classes))
        with np.errstate(invalid="ignore", divide="ignore"):
            table[result.name] = sums / table["rows"].to_numpy()
        table[f"{result.name} share of loss"] = sums / loss.sum()
    return table


def confusion(labels: np.ndarray, proba: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class = argmax)."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels, proba.argmax(axis=1)), 1)
    return matrix


def confused_pairs(matrix: np.ndarray, classes: list[str], top: int) -> pd.DataFrame:
    """The ``top`` off-diagonal cells: true class, predicted class, rows, share of the true class."""
    off = matrix.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None)[::-1][:top]
    rows = []
    for true, predicted in zip(*np.unravel_index(order, off.shape)):
        if off[true, predicted] == 0:
            break
        rows.append(
            {
                "true": classes[true],
                "predicted": classes[predicted],
                "rows": int(off[true, predicted]),
                "share of true class": off[true, predicted] / max(matrix[true].sum(), 1),
            }
        )
    return pd.DataFrame(rows, columns=["true", "predicted", "rows", "share of true class"])


def reliability(labels: np.ndarray, proba: np.ndarray, bins: int) -> pd.DataFrame:
    """Top-class confidence against accuracy in equal-width confidence bins."""
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
    frame = pd.DataFrame({"bin": which, "confidence": confidence, "correct": correct})
    table = frame.groupby("bin").agg(
        rows=("correct", "size"), confidence=("confidence", "mean"), accuracy=("correct", "mean")
    )
    return table


def confusion_picture(matrix: np.ndarray, classes: list[str], title: str) -> bytes:
    """Row-normalised confusion matrix as a heat map with the counts written in."""
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, axes = plt.subplots(figsize=(10, 9))
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
    axes.set_yticks(range(len(classes)), classes, fontsize=7)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(f"{title}: confusion (rows: share of the true class, numbers: rows)")
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            colour = "white" if shares[i, j] > 0.5 else "black"
            axes.text(j, i, str(count), ha="center", va="center", fontsize=5, color=colour)
    return png(figure)


def reliability_picture(curves: dict[str, pd.DataFrame]) -> bytes:
    """Accuracy against confidence per model; the diagonal is perfect calibration."""
    figure, axes = plt.subplots(figsize=(6, 6))
    axes.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfectly calibrated")
    for name, curve in curves.items():
        curve = curve[curve["rows"] >= MIN_BIN_ROWS]
        axes.plot(curve["confidence"], curve["accuracy"], marker="o", label=name)
    axes.set_xlabel("top-class probability (mean in bin)")
    axes.set_ylabel("accuracy in bin")
    axes.set_title(f"Reliability of the top class (OOF; bins of {MIN_BIN_ROWS}+ rows)")
    axes.legend()
    return png(figure)


def per_class_picture(table: pd.DataFrame, names: list[str]) -> bytes:
    """Per-class mean log loss of each model, side by side."""
    figure, axes = plt.subplots(figsize=(10, 7))
    positions = np.arange(len(table))
    height = 0.8 / len(names)
    for k, name in enumerate(names):
        axes.barh(positions + k * height, table[name].fillna(0), height=height, label=name)
    axes.set_yticks(
        positions + 0.4 - height / 2, [f"{c} ({n})" for c, n in zip(table.index, table["rows"])], fontsize=7
    )
    axes.invert_yaxis()
    axes.set_xlabel("mean log loss of the class's rows (OOF)")
    axes.set_title("Per-class log loss by model")
    axes.legend()
    return png(figure)


def build_report(data: Dataset, *artifacts, cfg: ReportConfig) -> Report:
    """Tables and pictures for every model and the blend (the last model result), on the same rows,
    and for the Optuna studies whose settings the models trained on (given after the blend)."""
    results = [a for a in artifacts if isinstance(a, ModelResult)]
    studies = [a for a in artifacts if not isinstance(a, ModelResult)]
    index = results[-1].oof_proba.index
    labels = data.labels.loc[index].to_numpy()
    classes = list(data.classes)
    aligned = [dataclasses.replace(r, oof_proba=r.oof_proba.loc[index]) for r in results]
    names = [r.name for r in aligned]
    per_class = per_class_loss(labels, classes, aligned)
    tables = {"overview": overview(labels, aligned), "per-class log loss": per_class}
    pictures, curves = {}, {}
    for result in aligned:
        proba = result.oof_proba.to_numpy()
        matrix = confusion(labels, proba, len(classes))
        tables[f"{result.name}: most confused pairs"] = confused_pairs(matrix, classes, cfg.top_pairs)
        pictures[f"confusion_{result.name}.png"] = confusion_picture(matrix, classes, result.name)
        curves[result.name] = reliability(labels, proba, cfg.bins)
    pictures["reliability.png"] = reliability_picture(curves)
    pictures["per_class_log_loss.png"] = per_class_picture(per_class, names)
    for study in studies:
        tables[f"tuning {study.model}: trials"] = study.trials
        pictures.update(study.pictures)
    body = render_body(tables, pictures, aligned[-1], extra=tuning_html(studies))
    return Report(tables=tables, pictures=pictures, body=body)


def tuning_html(studies: list) -> str:
    """A section per study: best settings, the optimisation history and importances, the trials."""
    parts = []
    for study in studies:
        parts += [
            f"<h2>Tuning {html.escape(study.model)} (Optuna)</h2>",
            f"<p>Best trial {study.best_trial} of {study.finished} finished: CV log loss "
            f"{study.best_score:.4f} (optimistic: chosen on these folds). Models trained on it are "
            f"labelled 'settings tuned on these folds'. Settings: {html.escape(str(study.params))}</p>",
            "<div class='row pics'>",
            *(f"<img src='{name}' alt='{html.escape(name)}'>" for name in study.pictures),
            "</div>",
            html_table(study.trials),
        ]
    return "\n".join(parts)


def render_body(
    tables: dict[str, pd.DataFrame], pictures: dict[str, bytes], blend: ModelResult, extra: str = ""
) -> str:
    """The report's sections (pictures are files beside the page), tables next to their pictures."""
    info = blend.info
    per_class = tables["per-class log loss"]
    share = f"{blend.name} share of loss"
    worst = per_class[share].nlargest(WORST_CLASSES).index if share in per_class else []
    parts = [
        "<h2>Overview</h2>",
        f"<p>Blend: {html.escape(str(info.get('method', 'linear')))}, temperature "
        f"{info.get('temperature', 1.0):.3f}. Nested log loss (each fold blended with weights fitted on the "
        f"other folds) {blend.oof_score:.4f}: {html.escape(blend.honesty)}. With the weights fitted on all "
        f"OOF rows: {info.get('optimistic_score', float('nan')):.4f} (optimistic).</p>",
        html_table(tables["overview"]),
        f"<h2>Per-class log loss</h2><p class='legend'>Highlighted: the {WORST_CLASSES} classes with the "
        "largest share of the blend's loss.</p><div class='row'>",
        html_table(per_class, highlight=worst),
        "<img src='per_class_log_loss.png' alt='per-class log loss'></div>",
        "<h2>Calibration</h2><img src='reliability.png' alt='reliability plot' class='pics'>",
        "<h2>Confusion</h2>",
    ]
    for name in pictures:
        if name.startswith("confusion_"):
            model = name.removeprefix("confusion_").removesuffix(".png")
            pairs = tables[f"{model}: most confused pairs"]
            parts += [
                f"<h3>{html.escape(model)}</h3><div class='row pics'>",
                f"<img src='{name}' alt='confusion matrix of {html.escape(model)}'>",
                html_table(pairs, index=False, digits=3),
                "</div>",
            ]
    parts.append(extra)
    return "\n".join(parts)
