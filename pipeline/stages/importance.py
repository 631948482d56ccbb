"""Permutation importance with eli5 on each fold's inner held-out rows, and the cutoff that prunes.

The ``importance`` stage scores every feature by how much a fold model's log loss grows when that
feature's column is shuffled among the fold's inner held-out rows: rows of the fold's training part
that its model did not fit on (it stopped early on them), drawn by duplicate group. The scored fold
never touches them: its rows did not train that model and are not among the held-out rows.
The ``selection`` stage applies the configured cutoff to each fold's own importances, so fold k's
pruned model trains on features chosen without fold k's rows: pruned scores are honest. Keeping the
stages apart means a new cutoff does not recompute the importances.
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

from pipeline.engine.errors import ConfigError
from pipeline.engine.parallel import run_tasks
from pipeline.validation.cv import permutation_ready
from pipeline.validation.metrics import multiclass_log_loss

if TYPE_CHECKING:
    from features.table import FeatureTable
    from pipeline.data.loading import Dataset
    from pipeline.stages.config import ImportanceConfig, SelectionConfig
    from pipeline.validation.cv import ModelResult
    from pipeline.validation.folds import Folds


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
    """Per-feature score decreases: ``table`` ranked by mean over folds and shuffles (columns mean,
    std, fold_0, ...); ``decreases`` keeps each fold's raw results for its own selection."""

    table: pd.DataFrame
    base_scores: tuple[float, ...]
    rows_per_fold: tuple[int, ...]
    n_iter: int
    decreases: tuple[np.ndarray, ...] = ()
    """Each fold's raw results, shape (n_iter, features), features in feature-table order."""
    names: tuple[str, ...] = ()

    def fold_table(self, fold: int) -> pd.DataFrame:
        """The ranked table of one fold's own model on its own held-out rows."""
        return importance_table(list(self.names), [self.decreases[fold]])

    @property
    def ranked(self) -> pd.DataFrame:
        """The table with a 1-based rank column, as written to importance.csv."""
        return self.table.rename_axis("feature").reset_index().rename_axis("rank").rename(lambda i: i + 1)


def fold_importance(model, x: np.ndarray, y: np.ndarray, n_classes: int, n_iter: int, seed: int):
    """eli5's PermutationImportance of one prefit fold model on held-out rows: (base score, decreases).
    A model with the ``for_permutations`` capability predicts the shuffled rows its faster way (a
    LightGBM model re-evaluates only the trees that split on the shuffled column): the same scores."""
    permutation = PermutationImportance(
        PrefitClassifier(permutation_ready(model), n_classes),
        scoring=neg_log_loss,
        n_iter=n_iter,
        random_state=seed,
        cv="prefit",
    )
    permutation.fit(x, y)
    return float(-permutation.scores_.mean()), np.asarray(permutation.results_)


def held_out_positions(model: ModelResult, index: pd.Index, fold: int) -> np.ndarray:
    """Positions in ``index`` of fold ``fold``'s inner held-out rows; a clear error when there are none."""
    ids = model.held_out_ids[fold] if len(model.held_out_ids) > fold else ()
    if len(ids) == 0:
        raise ConfigError(
            f"config: importance needs rows each fold's '{model.name}' model held out from fitting; "
            f"it has none ({model.name}.early_stopping = '{model.info.get('early_stopping')}'): use 'inner'"
        )
    return index.get_indexer(ids)


def permutation_importance(
    data: Dataset, features: FeatureTable, folds: Folds, model: ModelResult, cfg: ImportanceConfig
) -> Importance:
    """Importance of every feature for each fold's model on a stratified sample of that fold's inner
    held-out rows; aggregated over folds and shuffles (mean, std) for the ranked table."""
    if len(model.fold_models) != folds.n_splits or model.folds_signature != folds.signature:
        raise ValueError(f"model '{model.name}' has no fold models for these folds")
    x = features.train.to_numpy(np.float32)
    y = data.labels.loc[features.train.index].to_numpy()
    tasks = []
    for fold in range(folds.n_splits):
        held_out = held_out_positions(model, features.train.index, fold)
        rows = held_out[stratified_subsample(y[held_out], cfg.max_rows, cfg.seed + fold)]
        tasks.append((model.fold_models[fold], x[rows], y[rows], data.n_classes, cfg.n_iter, cfg.seed + fold))
    outcomes = run_tasks(fold_importance, tasks, desc="importance")
    decreases = [results for _, results in outcomes]
    return Importance(
        table=importance_table(features.names, decreases),
        base_scores=tuple(base for base, _ in outcomes),
        rows_per_fold=tuple(len(task[2]) for task in tasks),
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
    """Per fold, the features its pruned models train on: the cutoff applied to the importances of
    that fold's own model on its own held-out rows (never the scored fold's rows)."""

    kept_per_fold: tuple[tuple[str, ...], ...]
    ranked_names: tuple[str, ...]
    """Every feature, ranked by the importance over all folds."""
    rule: str

    def folds_keeping(self) -> pd.Series:
        """How many folds keep each feature, in rank order."""
        counts = {name: sum(name in kept for kept in self.kept_per_fold) for name in self.ranked_names}
        return pd.Series(counts, name="kept_folds")

    def describe(self) -> str:
        """One line: features kept per fold and by every fold."""
        sizes = ", ".join(str(len(kept)) for kept in self.kept_per_fold)
        every = int((self.folds_keeping() == len(self.kept_per_fold)).sum())
        return (
            f"kept per fold: {sizes} of {len(self.ranked_names)} features ({self.rule}; each fold by its own "
            f"model's importances); {every} kept by every fold"
        )


def select_features(importance: Importance, cfg: SelectionConfig) -> Selection:
    """Apply the cutoff rule to each fold's own ranked importances (names in that fold's rank order)."""
    kept = tuple(kept_by_rule(importance.fold_table(k), cfg) for k in range(len(importance.decreases)))
    return Selection(kept_per_fold=kept, ranked_names=tuple(importance.table.index), rule=describe_rule(cfg))


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
        f"{importance.n_iter} shuffles on each fold's inner held-out rows ({sizes} rows), "
        "scored by that fold's own model."
    )
    parts = [note, f"Top {min(top, len(table))} of {len(table)}:", head]
    if tail:
        parts += [f"Bottom {bottom}:", tail]
    return "\n".join(parts)
