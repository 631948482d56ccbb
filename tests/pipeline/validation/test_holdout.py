"""The holdout: reserved before the folds, stratified, duplicates whole, and never fitted on."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from testkit import TINY, with_copies

from features import table as table_module
from features.table import build_features
from models.training import train_model, train_pruned_model
from pipeline.config import load_config
from pipeline.data.sources import SampleSource
from pipeline.stages.blend import blend_models
from pipeline.stages.config import BlendConfig
from pipeline.stages.importance import permutation_importance, select_features
from pipeline.validation.config import FoldsConfig, HoldoutConfig
from pipeline.validation.folds import duplicate_groups, make_folds
from pipeline.validation.holdout import HoldoutSource, holdout_groups, holdout_verdicts, split_holdout

SETTINGS = [
    *TINY,
    "xgb.num_boost_round=30", "xgb.learning_rate=0.3", "xgb.max_bin=31",
    "importance.max_rows=200", "importance.n_iter=1", "selection.rule='top_k'", "selection.top_k=12",
    "features.svd_components=2", "features.decomposition_fit='train+test'",
]  # fmt: skip


@pytest.fixture(scope="module")
def sample():
    config = load_config(overrides=SETTINGS)
    return config, with_copies(SampleSource(config.sample).load(), share=0.1, seed=3)


def test_a_share_of_each_class_is_reserved_with_duplicate_groups_whole(sample):
    _, data = sample
    split = split_holdout(data, HoldoutConfig(share=0.2, seed=1))
    assert split.train.index.intersection(split.holdout.index).empty
    assert len(split.train) + len(split.holdout) == len(data.train)
    assert split.labels.index.equals(split.train.index) and split.holdout_labels.index.equals(
        split.holdout.index
    )
    counts, reserved = np.bincount(data.labels, minlength=19), np.bincount(split.holdout_labels, minlength=19)
    big = counts >= 50
    assert np.all(np.abs(reserved[big] / counts[big] - 0.2) < 0.05)
    groups = pd.Series(duplicate_groups(data.train), index=data.train.index)
    assert set(groups[split.holdout.index]).isdisjoint(groups[split.train.index])
    again = split_holdout(data, HoldoutConfig(share=0.2, seed=1))
    assert again.holdout.index.equals(split.holdout.index)


def test_no_share_is_the_data_itself_and_a_share_changes_the_fingerprint(sample):
    config, data = sample
    assert split_holdout(data, HoldoutConfig(share=0.0)) is data
    source = SampleSource(config.sample)
    prints = {
        HoldoutSource(source, HoldoutConfig(share=s, seed=k)).fingerprint()
        for s, k in ((0.1, 0), (0.2, 0), (0.2, 1))
    }
    assert len(prints) == 3 and source.fingerprint() not in prints


def everything(data, config):
    """Every fitted step a run has: features (SVD fitted on train + test), folds, three families, the
    importance and pruning, the blend; returns what each of them produced."""
    features = build_features(data, config.features)
    folds = make_folds(data, FoldsConfig(n_splits=3, seed=0))
    models = [
        train_model(data, features, folds, cfg=config.section(f), family=f) for f in ("lgbm", "mlp", "xgb")
    ]
    importance = permutation_importance(data, features, folds, models[0], config.importance)
    selection = select_features(importance, config.selection)
    pruned = train_pruned_model(data, features, folds, selection, cfg=config.lgbm, family="lgbm")
    members = (*models, pruned)
    blend = blend_models(data, folds, *members, cfg=BlendConfig(models=tuple(m.name for m in members)))
    return features, folds, importance, [*members, blend]


def perturbed(data):
    """The same split with the holdout rows' magnitudes and labels redrawn."""
    rng = np.random.default_rng(9)
    holdout = data.holdout.copy()
    holdout.iloc[:, :] = holdout.to_numpy()[rng.permutation(len(holdout))] + rng.normal(0, 0.5, holdout.shape)
    labels = data.holdout_labels.copy()
    labels[:] = rng.permutation(labels.to_numpy())
    return dataclasses.replace(data, holdout=holdout, holdout_labels=labels)


def fitted_outputs_equal(a, b) -> bool:
    (features_a, folds_a, importance_a, results_a), (features_b, folds_b, importance_b, results_b) = a, b
    return (
        features_a.train.equals(features_b.train)
        and folds_a.signature == folds_b.signature
        and all(np.array_equal(x, y) for x, y in zip(importance_a.decreases, importance_b.decreases))
        and all(np.allclose(x.oof_proba, y.oof_proba, atol=1e-12) for x, y in zip(results_a, results_b))
        and all(np.allclose(x.test_proba, y.test_proba, atol=1e-12) for x, y in zip(results_a, results_b))
    )


@pytest.fixture(scope="module")
def reserved(sample):
    config, data = sample
    split = split_holdout(data, HoldoutConfig(share=0.2, seed=1))
    return config, split, everything(split, config)


def test_no_holdout_row_reaches_any_fit(reserved):
    """Redrawing the holdout's rows and labels changes nothing that was fitted: not the features, the
    folds, a model, an importance, the pruning or the blend; only the holdout's own scores move."""
    config, split, before = reserved
    after = everything(perturbed(split), config)
    assert fitted_outputs_equal(before, after)
    assert all(r.holdout_score is not None for r in before[3])
    assert before[3][-1].holdout_score != pytest.approx(after[3][-1].holdout_score)


def test_a_decomposition_fitted_on_the_holdout_would_be_caught(reserved, monkeypatch):
    """The check above compares the features first: an SVD that sees the holdout fails it there."""
    config, split, _ = reserved
    original = table_module.transductive_decompositions

    def leaky(data, cfg, frames):  # the fault: the holdout's magnitudes join the SVD's fit
        return original(dataclasses.replace(data, test=pd.concat([data.test, data.holdout])), cfg, frames)

    monkeypatch.setattr(table_module, "transductive_decompositions", leaky)
    features = [build_features(d, config.features) for d in (split, perturbed(split))]
    assert not features[0].train.equals(features[1].train)


def test_verdicts_compare_each_model_with_the_best_by_oof_on_the_holdout_rows(reserved):
    _, split, (_, _, _, results) = reserved
    verdicts = holdout_verdicts(results, split.holdout_labels, holdout_groups(split))
    best = min(results, key=lambda r: r.oof_score)
    assert {v.model for v in verdicts} == {r.name for r in results} - {best.name}
    assert all(v.reference == best.name for v in verdicts)
    for v in verdicts:
        mine = next(r for r in results if r.name == v.model)
        assert v.holdout_score == pytest.approx(mine.holdout_score)
        assert float(v.holdout_difference.split()[0]) == pytest.approx(
            mine.holdout_score - best.holdout_score, abs=1e-4
        )
