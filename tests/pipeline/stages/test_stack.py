"""The level-2 stacker: what its weights mean, where its penalty pulls, every class kept."""

import numpy as np
import pytest

from pipeline.stages.stack import StackerFit, blend_start, centred_log_proba, fit_stacker
from pipeline.validation.metrics import multiclass_log_loss


def members(n_rows=600, n_classes=4, seed=0):
    """Two members: one sharp on classes 0-1, the other on classes 2-3 (labels drawn from the truth)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n_rows)
    truth = np.full((n_rows, n_classes), 0.1)
    truth[np.arange(n_rows), labels] = 1.0
    good_low = np.where(labels[:, None] < 2, truth, 1.0)
    good_high = np.where(labels[:, None] >= 2, truth, 1.0)
    stacked = np.stack([good_low, good_high])
    return stacked / stacked.sum(axis=2, keepdims=True), labels


def geometric(stacked, weights):
    log_p = np.einsum("m,mrc->rc", weights, np.log(stacked))
    p = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("form", ["per_class", "full"])
def test_a_strong_penalty_gives_the_geometric_blend_back(form):
    """Its weights stay the blend's (only the class offsets are free), and those weights with no
    offsets are the geometric blend."""
    stacked, labels = members()
    weights = np.array([0.3, 0.7])
    start = blend_start(form, weights, 4)
    fit = fit_stacker(centred_log_proba(stacked), labels, form, 1e6, start)
    assert np.allclose(fit.weights, start, atol=1e-4)
    assert np.allclose(StackerFit(form, 0.0, start, np.zeros(4)).apply(stacked), geometric(stacked, weights))


@pytest.mark.parametrize("form", ["per_class", "full"])
def test_a_weak_penalty_trusts_each_member_on_the_classes_it_knows(form):
    stacked, labels = members()
    start = blend_start(form, np.array([0.5, 0.5]), 4)
    fit = fit_stacker(centred_log_proba(stacked), labels, form, 1e-4, start, max_iter=500)
    weights = fit.own_class_weights()  # (members, classes)
    assert (weights[0, :2] > weights[1, :2]).all() and (weights[1, 2:] > weights[0, 2:]).all()
    loss = multiclass_log_loss(labels, fit.apply(stacked))
    assert loss < multiclass_log_loss(labels, geometric(stacked, np.array([0.5, 0.5]))) - 0.05


def test_a_class_absent_from_the_rows_keeps_a_low_but_positive_column():
    stacked, labels = members()
    labels = np.where(labels == 3, 2, labels)
    fit = fit_stacker(
        centred_log_proba(stacked), labels, "per_class", 0.01, blend_start("per_class", np.ones(2) / 2, 4)
    )
    proba = fit.apply(stacked)
    assert proba.shape == (600, 4) and np.allclose(proba.sum(axis=1), 1.0)
    assert (proba[:, 3] > 0).all() and proba[:, 3].max() < 1e-3


def test_the_full_forms_own_class_weights_are_its_diagonal():
    weights = np.arange(2 * 3 * 3, dtype=float).reshape(6, 3)
    fit = StackerFit("full", 0.0, weights, np.zeros(3))
    assert fit.own_class_weights().tolist() == [[0, 4, 8], [9, 13, 17]]
