"""Training any registered family on the shared folds: the model stages and what every family shares.

A family supplies a ``FamilyTrainer``: its fold model, the rows it stops early on, how tuned values go
on top of its settings. This module does the rest once for every family: tuned settings (and the
label they bring), per-fold feature sets of the pruned variant, the CV loop, the info every model
carries. The stage functions take ``family``, bound by the stage graph.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable

from models.registry import spec
from pipeline.validation.cv import TUNED_ON_THESE_FOLDS, ModelResult, StoppingPlan, cross_validate

if TYPE_CHECKING:
    from features.table import FeatureTable
    from pipeline.data.loading import Dataset
    from pipeline.validation.folds import Folds


class FamilyTrainer:
    """What a family tells the shared training; override ``fold_model`` and whatever else differs."""

    def fold_model(self, cfg: Any, n_classes: int, names: list[str], fold: int, seed_index: int, label: str):
        """A fresh, unfitted fold model (``fit(x_fit, y_fit, x_stop, y_stop)``, ``predict_proba(x)``)
        for the columns ``names``; ``label`` names its progress bar."""
        raise NotImplementedError

    def stopping_plan(self, cfg: Any) -> StoppingPlan:
        """The rows each fold holds out from fitting (early stopping, importance rows)."""
        return StoppingPlan(cfg.early_stopping, cfg.inner_share, seed=cfg.seed)

    def n_seeds(self, cfg: Any) -> int:
        """Models per fold, with different seeds; their probabilities are averaged."""
        return getattr(cfg, "n_seeds", 1)

    def with_params(self, cfg: Any, params: dict) -> Any:
        """The section with tuned (or a trial's) values in place of its own."""
        return dataclasses.replace(cfg, **params)

    def own_settings(self, cfg: Any) -> dict:
        """The section's values by the names a search space uses (a study's first trial)."""
        return dataclasses.asdict(cfg)

    def canonical_name(self, name: str) -> str:
        """The name ``own_settings`` holds a search-space name under."""
        return name

    def prepare(self, data: Dataset, features: FeatureTable, cfg: Any, kept) -> tuple[FeatureTable, Any]:
        """The feature table and per-fold kept features this family trains on (default: as given)."""
        return features, kept

    def summary(self, result: ModelResult, cfg: Any) -> dict:
        """Family facts for the result's info (epochs, best iterations, ...)."""
        return {}


def train_model(
    data: Dataset,
    features: FeatureTable,
    folds: Folds,
    tuned=None,
    *,
    cfg: Any,
    family: str,
    name: str | None = None,
    kept: tuple[tuple[str, ...], ...] | None = None,
    optimism: tuple[str, ...] = (),
    on_fold: Callable[[int, float, float], None] | None = None,
) -> ModelResult:
    """A family on every fold (and seed): OOF for each train row, test averaged over the fold models.
    ``tuned``: a study whose best settings go on top of ``cfg`` (the score is then labelled: they were
    chosen on these folds); its best trial's own result is returned when this command ran it.
    ``kept``: the features each fold trains on (one tuple per fold); default all. ``optimism`` and
    ``on_fold``: as ``cross_validate``."""
    name = name or family
    trainer = spec(family).load_trainer()
    if tuned is not None:
        if kept is None and not optimism and (trial := tuned.trained(name)) is not None:
            return trial  # the best trial was this very training: same settings and folds
        cfg, optimism = trainer.with_params(cfg, tuned.params), (*optimism, TUNED_ON_THESE_FOLDS)
    features, kept = trainer.prepare(data, features, cfg, kept)
    n_seeds = trainer.n_seeds(cfg)

    def make_model(fold: int, seed_index: int):
        fold_kept = None if kept is None else kept[fold]
        label = f"{name} fold {fold}" + (f" seed {seed_index}" if n_seeds > 1 else "")
        names = features.model_names(fold_kept)
        model = trainer.fold_model(cfg, data.n_classes, names, fold, seed_index, label)
        return features.fold_model(model, fold_kept)

    result = cross_validate(
        name,
        make_model,
        features.train,
        features.test,
        data,
        folds,
        trainer.stopping_plan(cfg),
        n_seeds=n_seeds,
        optimism=(*features.optimism, *optimism),
        on_fold=on_fold,
        x_holdout=features.holdout,
    )
    inputs = (
        {"features": features.model_names()}
        if kept is None
        else {"features_per_fold": [len(features.model_names(names)) for names in kept]}
    )
    return dataclasses.replace(result, info={**result.info, **trainer.summary(result, cfg), **inputs})


def train_pruned_model(
    data: Dataset, features: FeatureTable, folds: Folds, selection, tuned=None, *, cfg: Any, family: str
) -> ModelResult:
    """The family with its usual settings (tuned ones, if given), each fold on the features its own
    importances kept (``selection.kept_per_fold``)."""
    return train_model(
        data, features, folds, tuned, cfg=cfg, family=family, name=f"{family}_pruned",
        kept=selection.kept_per_fold,
    )  # fmt: skip
