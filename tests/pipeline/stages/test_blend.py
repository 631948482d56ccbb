import dataclasses

import numpy as np
import pandas as pd
import pytest
from testkit import fake_model

import pipeline.stages.blend as blend_module
from pipeline.stages.blend import blend_models, fit_simplex_weights
from pipeline.stages.config import BlendConfig
from pipeline.validation.config import FoldsConfig
from pipeline.validation.folds import make_folds
from pipeline.validation.metrics import multiclass_log_loss


@pytest.fixture
def folds(tiny_data):
    return make_folds(tiny_data, FoldsConfig(n_splits=3, seed=0))


def test_weights_are_on_the_simplex_and_favour_the_better_model(tiny_data, folds):
    good = fake_model("good", tiny_data, folds, 3.0, 1)
    poor = fake_model("poor", tiny_data, folds, 0.5, 2)
    blend = blend_models(tiny_data, folds, good, poor, cfg=BlendConfig(method="linear", temperature=False))
    weights = blend.info["weights"]
    assert sum(weights.values()) == pytest.approx(1.0) and min(weights.values()) >= 0
    assert weights["good"] > weights["poor"]


@pytest.mark.parametrize("method", ["linear", "geometric", "auto"])
@pytest.mark.parametrize("temperature", [False, True])
def test_blend_is_never_worse_than_its_best_member(tiny_data, folds, method, temperature):
    """Optimistic score: at least as good as the best member (one-hot weights are a candidate).
    Honest (nested) score: at most noise worse, on data where the members are near equals."""
    members = [fake_model(f"m{i}", tiny_data, folds, q, i) for i, q in enumerate([2.0, 2.2, 1.5])]
    blend = blend_models(tiny_data, folds, *members, cfg=BlendConfig(method=method, temperature=temperature))
    best = min(m.oof_score for m in members)
    assert blend.info["optimistic_score"] <= best + 1e-9
    assert blend.info["nested_score"] <= best + 0.01
    labels = tiny_data.labels.to_numpy()
    assert blend.oof_score == pytest.approx(multiclass_log_loss(labels, blend.oof_proba.to_numpy()))


def test_each_folds_blended_rows_use_the_weights_fitted_on_the_other_folds(tiny_data, folds):
    """The honest score, rebuilt by hand: fold k's rows blended with weights fitted without them."""
    members = [fake_model(f"m{i}", tiny_data, folds, 1.0, i) for i in range(3)]  # weights inside the simplex
    blend = blend_models(tiny_data, folds, *members, cfg=BlendConfig(method="linear", temperature=False))
    stacked = np.stack([m.oof_proba.to_numpy() for m in members])
    labels, fold_of_row = tiny_data.labels.to_numpy(), folds.fold_of_row.to_numpy()
    by_hand = np.empty_like(stacked[0])
    for fold in range(folds.n_splits):
        rows, others = fold_of_row == fold, fold_of_row != fold
        weights = fit_simplex_weights("linear", stacked[:, others], labels[others])
        assert 0.05 < weights.max() < 0.95  # a blend, not one member: each fold's weights differ
        by_hand[rows] = np.tensordot(weights, stacked[:, rows], axes=1)
    np.testing.assert_allclose(blend.oof_proba.to_numpy(), by_hand, atol=1e-6)
    assert blend.oof_score == pytest.approx(multiclass_log_loss(labels, by_hand), abs=1e-6)
    everything = fit_simplex_weights("linear", stacked, labels)
    assert blend.info["optimistic_score"] == pytest.approx(
        multiclass_log_loss(labels, np.tensordot(everything, stacked, axes=1)), abs=1e-6
    )


def test_auto_keeps_the_method_whose_weights_fit_better(tiny_data, folds):
    members = [fake_model(f"m{i}", tiny_data, folds, q, i) for i, q in enumerate([2.0, 1.8])]
    blend = blend_models(tiny_data, folds, *members, cfg=BlendConfig(method="auto"))
    optimistic = blend.info["optimistic_by_method"]
    assert set(optimistic) == set(blend.info["nested_by_method"]) == {"linear", "geometric"}
    assert blend.info["method"] == min(optimistic, key=optimistic.get)
    assert len(blend.info["method_per_fold"]) == 3


def test_temperature_cools_an_overconfident_model(tiny_data, folds):
    member = fake_model("sharp", tiny_data, folds, 1.0, 0)
    labels = tiny_data.labels.to_numpy()
    top = np.where(np.random.default_rng(0).random(len(labels)) < 0.3, (labels + 1) % 19, labels)
    calibrated = np.full((len(labels), 19), 0.4 / 18)
    calibrated[np.arange(len(labels)), top] = 0.6
    sharp = calibrated**4
    sharp /= sharp.sum(axis=1, keepdims=True)
    member = dataclasses.replace(member, oof_proba=pd.DataFrame(sharp, index=member.oof_proba.index))
    blend = blend_models(tiny_data, folds, member, cfg=BlendConfig(method="linear", temperature=True))
    assert blend.info["temperature"] > 1.5
    assert blend.info["optimistic_score"] < member.oof_proba.pipe(
        lambda f: multiclass_log_loss(tiny_data.labels.to_numpy(), f.to_numpy())
    )


def test_single_model_blend_without_temperature_is_that_model(tiny_data, folds):
    member = fake_model("only", tiny_data, folds, 2.0, 0)
    blend = blend_models(tiny_data, folds, member, cfg=BlendConfig(method="linear", temperature=False))
    assert blend.info["weights"] == {"only": 1.0}
    pd.testing.assert_frame_equal(blend.test_proba, member.test_proba)


def test_models_from_other_folds_are_refused(tiny_data, folds):
    member = dataclasses.replace(fake_model("other", tiny_data, folds, 2.0, 0), folds_signature="elsewhere")
    with pytest.raises(ValueError, match="other folds"):
        blend_models(tiny_data, folds, member, cfg=BlendConfig())


def test_fit_simplex_weights_recovers_a_dominant_model():
    labels = np.array([0, 1, 0, 1])
    right = np.array([[0.9, 0.1], [0.1, 0.9], [0.9, 0.1], [0.1, 0.9]])
    wrong = right[:, ::-1]
    for method in ("linear", "geometric"):
        weights = fit_simplex_weights(method, np.stack([wrong, right]), labels)
        assert weights[1] > 0.95


@pytest.mark.parametrize("method", ["linear", "geometric"])
def test_loss_and_gradient_summed_block_by_block_equal_the_whole_array_ones(monkeypatch, method):
    rng = np.random.default_rng(0)
    stacked = rng.dirichlet(np.ones(5), size=(3, 50))
    labels = rng.integers(0, 5, 50)
    weights, fit = np.array([0.2, 0.5, 0.3]), blend_module.BlendFit(method, np.array([0.2, 0.5, 0.3]), 1.3)
    inputs = blend_module.BlendInputs(stacked)
    whole = fit.loss(inputs, labels), blend_module.WeightObjective(method, inputs, labels)(weights)
    log_p = fit.log_proba(inputs)  # the definition: normalised log probabilities of every row at once
    assert whole[0] == pytest.approx(-np.mean(np.maximum(log_p[np.arange(50), labels], np.log(1e-15))))
    monkeypatch.setattr(blend_module, "BLOCK_ROWS", 7)  # 8 blocks, the last one short
    assert len(blend_module.row_blocks(50)) == 8
    blocked = fit.loss(inputs, labels), blend_module.WeightObjective(method, inputs, labels)(weights)
    assert blocked[0] == pytest.approx(whole[0], abs=1e-13)
    assert blocked[1][0] == pytest.approx(whole[1][0], abs=1e-13)
    assert np.allclose(blocked[1][1], whole[1][1], atol=1e-13)
    step = 1e-6 * np.array([1.0, -1.0, 0.0])  # the gradient along the simplex matches the loss
    objective = blend_module.WeightObjective(method, inputs, labels)
    slope = (objective(weights + step)[0] - objective(weights - step)[0]) / 2
    assert slope == pytest.approx(blocked[1][1] @ step, rel=1e-5)
