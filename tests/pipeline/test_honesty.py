"""Honesty invariants, each shown able to catch the leak it names.

- No fold's OOF prediction may depend on that fold's own labels: not through early stopping, not
  through the features pruning kept, not through blend weights or the blend's method.
- On shuffled labels, an honest model cannot beat the class prior, even with planted duplicates.
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from testkit import (
    TINY,
    fake_model,
    prior_log_loss,
    train_lgbm,
    train_lgbm_pruned,
    train_mlp,
    with_copies,
    with_labels,
)

from features.table import build_features
from models.lgbm.trainer import LgbmFoldModel
from pipeline.config import load_config
from pipeline.stages import blend as blend_module
from pipeline.stages import importance as importance_module
from pipeline.stages.blend import blend_models
from pipeline.stages.config import BlendConfig
from pipeline.stages.importance import permutation_importance, select_features
from pipeline.validation.config import FoldsConfig
from pipeline.validation.folds import make_folds

PRUNING = [
    *TINY,
    "importance.max_rows=300",
    "importance.n_iter=2",
    "selection.rule='top_k'",
    "selection.top_k=10",
]


@pytest.fixture(scope="module")
def setting():
    """Tiny data, its features and folds, and for each fold the same data with that fold's labels
    redrawn (``relabelled[k]``: uniform over the 19 classes, so the fold's class counts change too)."""
    from pipeline.data.sources import SampleSource

    config = load_config(overrides=PRUNING)
    data = SampleSource(config.sample).load()
    features = build_features(data, config.features)
    folds = make_folds(data, FoldsConfig(n_splits=3, seed=0))
    relabelled = [with_labels(data, redrawn_labels(data, folds, k)) for k in range(folds.n_splits)]
    return config, data, relabelled, features, folds


def redrawn_labels(data, folds, fold: int) -> np.ndarray:
    """The labels with fold ``fold``'s redrawn at random; its class counts differ from before."""
    labels = data.labels.to_numpy().copy()
    rows = fold_rows(folds, fold)
    labels[rows] = np.random.default_rng(5 + fold).integers(0, data.n_classes, len(rows))
    before = np.bincount(data.labels.to_numpy()[rows], minlength=data.n_classes)
    assert (np.bincount(labels[rows], minlength=data.n_classes) != before).sum() >= 10
    return labels


def fold_rows(folds, fold=0) -> np.ndarray:
    return np.flatnonzero(folds.fold_of_row.to_numpy() == fold)


def same_on_fold(a, b, folds, fold=0) -> bool:
    rows = fold_rows(folds, fold)
    return np.allclose(a.oof_proba.to_numpy()[rows], b.oof_proba.to_numpy()[rows], rtol=0, atol=1e-9)


@pytest.mark.parametrize(("stopping", "leaks"), [("inner", False), ("valid_fold", True)])
def test_lightgbm_fold_predictions_ignore_the_folds_own_labels(setting, stopping, leaks):
    config, data, relabelled, features, folds = setting
    cfg = dataclasses.replace(config.lgbm, early_stopping=stopping)
    before = train_lgbm(data, features, folds, cfg=cfg)
    for fold in range(folds.n_splits):
        after = train_lgbm(relabelled[fold], features, folds, cfg=cfg)
        assert same_on_fold(before, after, folds, fold) is not leaks  # stopping on the scored fold: caught


def test_mlp_fold_predictions_ignore_the_folds_own_labels(setting):
    config, data, relabelled, features, folds = setting
    before = train_mlp(data, features, folds, cfg=config.mlp)
    for fold in range(folds.n_splits):
        after = train_mlp(relabelled[fold], features, folds, cfg=config.mlp)
        assert same_on_fold(before, after, folds, fold)


def pruned_run(config, data, features, folds):
    lgbm = train_lgbm(data, features, folds, cfg=config.lgbm)
    importance = permutation_importance(data, features, folds, lgbm, config.importance)
    selection = select_features(importance, config.selection)
    return importance, selection, train_lgbm_pruned(data, features, folds, selection, cfg=config.lgbm)


def test_pruning_of_a_fold_ignores_the_folds_own_labels(setting):
    config, data, relabelled, features, folds = setting
    imp_a, sel_a, pruned_a = pruned_run(config, data, features, folds)
    for fold in range(folds.n_splits):
        imp_b, sel_b, pruned_b = pruned_run(config, relabelled[fold], features, folds)
        assert np.array_equal(imp_a.decreases[fold], imp_b.decreases[fold])
        assert sel_a.kept_per_fold[fold] == sel_b.kept_per_fold[fold]
        assert same_on_fold(pruned_a, pruned_b, folds, fold)
    assert pruned_a.honesty == "honest"


def test_importance_measured_on_the_scored_fold_would_be_caught(setting, monkeypatch):
    config, data, relabelled, features, folds = setting
    monkeypatch.setattr(
        importance_module,
        "held_out_positions",
        lambda model, index, fold: fold_rows(folds, fold),  # the leak: the scored fold's rows
    )
    (imp_a, _, _), (imp_b, _, _) = (pruned_run(config, d, features, folds) for d in (data, relabelled[0]))
    assert not np.array_equal(imp_a.decreases[0], imp_b.decreases[0])


def test_importance_rows_are_neither_fitted_nor_scored_rows(setting, monkeypatch):
    """Spies on what the fold models fit on and on the rows eli5 shuffles, by a planted id column."""
    config, data, _, features, folds = setting
    ids = data.train.index.to_numpy(np.float32)
    planted = dataclasses.replace(
        features,
        train=features.train.assign(row_id=ids),
        test=features.test.assign(row_id=np.float32(-1)),
    )
    column = planted.names.index("row_id")
    fitted, shuffled = [], []
    original_fit, original_importance = LgbmFoldModel.fit, importance_module.fold_importance

    def spy_fit(self, x_fit, *rest):
        fitted.append(set(x_fit[:, column].astype(int)))
        return original_fit(self, x_fit, *rest)

    def spy_importance(model, x, *rest):
        shuffled.append(set(x[:, column].astype(int)))
        return original_importance(model, x, *rest)

    monkeypatch.setattr(LgbmFoldModel, "fit", spy_fit)
    monkeypatch.setattr(importance_module, "fold_importance", spy_importance)
    lgbm = train_lgbm(data, planted, folds, cfg=config.lgbm)
    permutation_importance(data, planted, folds, lgbm, config.importance)
    for fold in range(folds.n_splits):
        scored = set(data.train.index[fold_rows(folds, fold)])
        assert shuffled[fold] and not shuffled[fold] & fitted[fold] and not shuffled[fold] & scored


def noisy_model(name, data, folds, seed):
    """True-class probability uniform in (0.05, 0.95), independently per model: blending helps."""
    member = fake_model(name, data, folds, 1.0, seed)
    labels = data.labels.to_numpy()
    p_true = np.random.default_rng(seed).uniform(0.05, 0.95, len(labels))
    proba = np.repeat(((1 - p_true) / 18)[:, None], 19, axis=1)
    proba[np.arange(len(labels)), labels] = p_true
    return dataclasses.replace(member, oof_proba=pd.DataFrame(proba, index=member.oof_proba.index))


def blends_with_fold_relabelled(setting, method, fold, **options):
    _, data, _, _, folds = setting
    members = [noisy_model(f"m{i}", data, folds, i) for i in range(3)]
    members[2] = dataclasses.replace(members[2], oof_proba=members[2].oof_proba ** 3)  # overconfident
    labels = data.labels.to_numpy().copy()
    rows = fold_rows(folds, fold)
    labels[rows] = (labels[rows] + 7) % data.n_classes
    cfg = BlendConfig(method=method, temperature=True, **options)
    return [blend_models(d, folds, *members, cfg=cfg) for d in (data, with_labels(data, labels))]


@pytest.mark.parametrize("method", ["linear", "geometric", "auto"])
def test_blend_of_every_fold_ignores_that_folds_labels(setting, method):
    folds = setting[4]
    for fold in range(folds.n_splits):
        before, after = blends_with_fold_relabelled(setting, method, fold)
        assert same_on_fold(before, after, folds, fold)
        assert before.info["temperature"] != pytest.approx(1.0)


def test_blend_weights_refitted_on_the_scored_fold_would_be_caught(setting, monkeypatch):
    def leaky(methods, stacked, labels, fold_of_row, temperature):
        inputs = blend_module.BlendInputs(stacked)
        fit = blend_module.fit_blend(methods[0], inputs, labels, temperature)
        proba = fit.apply(stacked)
        return blend_module.NestedBlend(proba, {methods[0]: proba}, (methods[0],) * 3)

    monkeypatch.setattr(blend_module, "nested_blend", leaky)
    before, after = blends_with_fold_relabelled(setting, "geometric", 1)
    assert not same_on_fold(before, after, setting[4], 1)


@pytest.mark.parametrize("form", ["per_class", "full"])
def test_stacker_of_every_fold_ignores_that_folds_labels(setting, form):
    folds = setting[4]
    options = {"stack_form": form, "stack_penalty": (0.001, 0.1), "stack_max_iter": 30}
    for fold in range(folds.n_splits):
        before, after = blends_with_fold_relabelled(setting, "stack", fold, **options)
        assert same_on_fold(before, after, folds, fold)
        assert before.honesty == "honest" and before.info["method"] == "stack"


def test_a_stacker_that_sees_the_scored_folds_rows_would_be_caught(setting, monkeypatch):
    from pipeline.stages import stack as stack_module

    def leaky(x, labels, fold_of_row, settings, blend_weights):  # every fold scored by the all-rows stacker
        every = np.arange(len(labels))
        fit, _ = stack_module.stacker_of(x, labels, fold_of_row, every, settings, blend_weights)
        return stack_module.NestedStack(np.exp(fit.log_proba(x)), (fit.penalty,) * 3)

    monkeypatch.setattr(blend_module, "nested_stack", leaky)
    options = {"stack_penalty": (0.001,), "stack_max_iter": 30}
    before, after = blends_with_fold_relabelled(setting, "stack", 1, **options)
    assert not same_on_fold(before, after, setting[4], 1)


NOISE = [
    "sample.n_train=600",
    "features.families=['raw']",
    "folds.n_splits=3",
    "lgbm.learning_rate=0.1",
    "lgbm.num_boost_round=60",
    "lgbm.early_stopping_rounds=10",
    "lgbm.num_leaves=63",
    "lgbm.min_data_in_leaf=2",
    "lgbm.min_sum_hessian_in_leaf=0.001",
    "lgbm.lambda_l2=0.0",
    "lgbm.feature_fraction=1.0",
    "lgbm.bagging_fraction=1.0",
    "lgbm.max_bin=31",
]


@pytest.mark.parametrize(("grouped", "beats_prior"), [(True, False), (False, True)])
def test_planted_duplicates_cannot_beat_the_prior_on_shuffled_labels(grouped, beats_prior):
    """Labels shuffled, then half the rows copied with their label: only the copies carry signal.
    Honest folds keep each copy with its original; leaky ones let LightGBM memorise them."""
    from pipeline.data.sources import SampleSource

    config = load_config(overrides=NOISE)
    data = SampleSource(config.sample).load()
    shuffled = with_labels(data, np.random.default_rng(0).permutation(data.labels.to_numpy()))
    planted = with_copies(shuffled, share=0.5, seed=1, other_fiber=False)
    folds = make_folds(planted, FoldsConfig(n_splits=3, seed=0, group_duplicates=grouped))
    result = train_lgbm(planted, build_features(planted, config.features), folds, cfg=config.lgbm)
    prior = prior_log_loss(planted.labels.to_numpy(), planted.n_classes)
    assert (result.oof_score < prior) is beats_prior
    assert (result.honesty == "honest") is grouped


def test_transductive_decompositions_label_every_model_and_the_blend_built_on_them(setting):
    config, data, _, _, folds = setting
    transductive = dataclasses.replace(config.features, svd_components=2, decomposition_fit="train+test")
    features = build_features(data, transductive)
    lgbm = train_lgbm(data, features, folds, cfg=config.lgbm)
    mlp = train_mlp(data, build_features(data, config.features), folds, cfg=config.mlp)
    blend = blend_models(data, folds, lgbm, mlp, cfg=BlendConfig())
    assert lgbm.honesty.startswith("optimistic: SVD/ICA fitted on train+test") and mlp.honesty == "honest"
    assert blend.honesty == lgbm.honesty  # a blend is honest only if every member is


@pytest.mark.parametrize("preset", ["fast", "full", "winner"])
def test_presets_switch_on_no_option_that_would_be_labelled_optimistic(preset):
    config = load_config(preset=preset)
    assert config.lgbm.early_stopping == "inner" and config.mlp.early_stopping == "inner"
    assert config.folds.group_duplicates and config.features.decomposition_fit == "fold"
