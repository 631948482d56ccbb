"""Permutation importance with eli5 on each fold's held-out rows, and the cutoff that prunes features.

The ``importance`` stage scores every feature by how much the fold model's log loss grows when that
feature's column is shuffled among the fold's validation rows (rows the model never trained on).
The ``selection`` stage applies the configured cutoff; keeping it separate means a new cutoff does
not recompute the importances.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from eli5 import format_as_text
from eli5.base import Explanation, FeatureImportances
from eli5.sklearn import PermutationImportance
from sklearn.base import BaseEstimator, ClassifierMixin

from pipeline.metrics import multiclass_log_loss
from pipeline.parallel import run_tasks

if TYPE_CHECKING:
    from features.table import FeatureTable
    from pipeline.config import ImportanceConfig, SelectionConfig
    from pipeline.cv import ModelResult
    from pipeline.data import Dataset
    from pipeline.folds import Folds


class PrefitClassifier(ClassifierMixin, BaseEstimator):
    """A trained fold model seen as an already fitted scikit-learn classifier, as eli5 calls it."""

    def __init__(self, model=None, n_classes: int = 0):
        self.model = model
        self.n_classes = n_classes

    @property
    def classes_(self) -> np.ndarray:
        return np.arange(self.n_classes)

    def fit(self, x, y):
        raise NotImplementedError("a prefit fold model; eli5 must use cv='prefit'")

    def predict_proba(self, x) -> np.ndarray:
        return self.model.predict_proba(np.asarray(x, dtype=np.float32))

    def predict(self, x) -> np.ndarray:
        return self.predict_proba(x).argmax(axis=1)


def neg_log_loss(estimator: PrefitClassifier, x, y) -> float:
    """Negative multi-class log loss over all classes (sklearn's scorer fails when a class is absent)."""
    return -multiclass_log_loss(np.asarray(y), estimator.predict_proba(x))


def stratified_subsample(labels: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """Sorted positions of at most about ``max_rows`` rows, each class in proportion (at least one row)."""
    if len(labels) <= max_rows:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    share = max_rows / len(labels)
    taken = []
    for cls in np.unique(labels):
        rows = np.flatnonzero(labels == cls)
        taken.append(rng.choice(rows, size=max(1, int(round(share * len(rows)))), replace=False))
    return np.sort(np.concatenate(taken))


@dataclass(frozen=True)
class Importance:
    """Per-feature score decreases: ``table`` ranked by mean (columns mean, std, fold_0, ...)."""

    table: pd.DataFrame
    base_scores: tuple[float, ...]
    rows_per_fold: tuple[int, ...]
    n_iter: int
    decreases: tuple[np.ndarray, ...] = ()
    """Each fold's raw results, shape (n_iter, features), features in feature-table order."""
    names: tuple[str, ...] = ()

    def without_fold(self, fold: int) -> pd.DataFrame:
        """The ranked table from every fold but ``fold`` (for a nested, honest pruning check)."""
        others = [results for k, results in enumerate(self.decreases) if k != fold]
        return importance_table(list(self.names), others)

    @property
    def ranked(self) -> pd.DataFrame:
        """The table with a 1-based rank column, as written to importance.csv."""
        return self.table.rename_axis("feature").reset_index().rename_axis("rank").rename(lambda i: i + 1)


def fold_importance(model, x: np.ndarray, y: np.ndarray, n_classes: int, n_iter: int, seed: int):
    """eli5's PermutationImportance of one prefit fold model on held-out rows: (base score, decreases)."""
    permutation = PermutationImportance(
        PrefitClassifier(model, n_classes),
        scoring=neg_log_loss,
        n_iter=n_iter,
        random_state=seed,
        cv="prefit",
    ).fit(x, y)
    return float(-permutation.scores_.mean()), np.asarray(permutation.results_)


def permutation_importance(
    data: Dataset, features: FeatureTable, folds: Folds, model: ModelResult, cfg: ImportanceConfig
) -> Importance:
    """Importance of every feature for each fold's model on a stratified sample of that fold's
    validation rows; aggregated over folds and shuffles (mean, std)."""
    if len(model.fold_models) != folds.n_splits or model.folds_signature != folds.signature:
        raise ValueError(f"model '{model.name}' has no fold models for these folds")
    x = features.train.to_numpy(np.float32)
    y = data.labels.loc[features.train.index].to_numpy()
    fold_of_row = folds.fold_of_row.loc[features.train.index].to_numpy()
    tasks = []
    for fold in range(folds.n_splits):
        valid = np.flatnonzero(fold_of_row == fold)
        rows = valid[stratified_subsample(y[valid], cfg.max_rows, cfg.seed + fold)]
        tasks.append((model.fold_models[fold], x[rows], y[rows], data.n_classes, cfg.n_iter, cfg.seed + fold))
    outcomes = run_tasks(fold_importance, tasks, desc="importance")
    base_scores = [base for base, _ in outcomes]
    decreases = [results for _, results in outcomes]
    sizes = [len(task[2]) for task in tasks]
    return Importance(
        table=importance_table(features.names, decreases),
        base_scores=tuple(base_scores),
        rows_per_fold=tuple(sizes),
        n_iter=cfg.n_iter,
        decreases=tuple(decreases),
        names=tuple(features.names),
    )


def importance_table(names: list[str], decreases: list[np.ndarray]) -> pd.DataFrame:
    """Mean and std of each feature's log-loss increase over all folds and shuffles, plus each fold's
    mean; sorted from most to least important."""
    every = np.concatenate(decreases)  # (folds * n_iter, features)
    table = pd.DataFrame({"mean": every.mean(axis=0), "std": every.std(axis=0)}, index=pd.Index(names))
    for fold, results in enumerate(decreases):
        table[f"fold_{fold}"] = results.mean(axis=0)
    return table.sort_values("mean", ascending=False, kind="stable")


@dataclass(frozen=True)
class Selection:
    """The features a pruned model trains on, and those the cutoff dropped.

    ``kept_per_fold[k]`` is the same rule applied to the importances of every fold but k: the
    nested check trains fold k on it, so fold k's score never saw its own rows' importances.
    """

    kept: tuple[str, ...]
    dropped: tuple[str, ...]
    rule: str
    kept_per_fold: tuple[tuple[str, ...], ...] = ()


def select_features(importance: Importance, cfg: SelectionConfig) -> Selection:
    """Apply the cutoff rule to the ranked importances (feature order kept as in the table)."""
    kept = kept_by_rule(importance.table, cfg)
    nested = ()
    if len(importance.decreases) > 1:
        nested = tuple(
            kept_by_rule(importance.without_fold(k), cfg) for k in range(len(importance.decreases))
        )
    dropped = tuple(name for name in importance.table.index if name not in kept)
    return Selection(kept=kept, dropped=dropped, rule=describe_rule(cfg), kept_per_fold=nested)


def kept_by_rule(table: pd.DataFrame, cfg: SelectionConfig) -> tuple[str, ...]:
    """Names the rule keeps, in the table's (ranked) order; never none: the best feature stays."""
    keep = {
        "mean_above": table["mean"] > cfg.threshold,
        "mean_minus_std": table["mean"] - cfg.k_std * table["std"] > cfg.threshold,
        "top_k": pd.Series(np.arange(len(table)) < cfg.top_k, index=table.index),
        "all": pd.Series(True, index=table.index),
    }[cfg.rule]
    if not keep.any():
        keep.iloc[0] = True
    return tuple(table.index[keep])


def describe_rule(cfg: SelectionConfig) -> str:
    return {
        "mean_above": f"mean > {cfg.threshold:g}",
        "mean_minus_std": f"mean - {cfg.k_std:g}*std > {cfg.threshold:g}",
        "top_k": f"top {cfg.top_k} by mean",
        "all": "all features",
    }[cfg.rule]


def importance_text(importance: Importance, top: int = 15, bottom: int = 10) -> str:
    """eli5's text rendering of the aggregated importances: the top features, then the bottom ones."""
    table = importance.table

    def render(part: pd.DataFrame, title: str) -> str:
        weights = FeatureImportances.from_names_values(
            list(part.index), part["mean"].to_numpy(), std=part["std"].to_numpy(), remaining=0
        )
        explanation = Explanation(
            estimator=title, method="permutation importance", feature_importances=weights
        )
        return format_as_text(explanation, show=["feature_importances"])

    head = render(table.head(top), "top")
    tail = render(table.tail(bottom), "bottom") if len(table) > top else ""
    sizes = ", ".join(str(n) for n in importance.rows_per_fold)
    note = (
        f"Permutation importance (eli5): increase of log loss when a feature is shuffled; "
        f"{importance.n_iter} shuffles on validation rows of each fold ({sizes} rows)."
    )
    parts = [note, f"Top {min(top, len(table))} of {len(table)}:", head]
    if tail:
        parts += [f"Bottom {bottom}:", tail]
    return "\n".join(parts)
