"""The competition's metric is scikit-learn's multi-class log loss, row by row and per fold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import log_loss

from pipeline.validation.metrics import multiclass_log_loss, per_fold_log_loss, row_log_loss


def cases():
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 19, 500)
    labels[:19] = np.arange(19)  # every class present, as sklearn needs with labels=
    yield "dirichlet", labels, rng.dirichlet(np.full(19, 0.4), 500)
    sure = np.eye(19)[labels] * 0.999 + 0.001 / 19  # confident and right
    yield "confident", labels, sure
    wrong = np.eye(19)[(labels + 1) % 19]  # certain and wrong: zeros where the truth is
    yield "zeros", labels, wrong
    unnormalised = rng.uniform(0.0, 0.2, (500, 19))  # rows summing to about 1.9: renormalised first
    yield "unnormalised", labels, unnormalised


@pytest.mark.parametrize("name, labels, proba", list(cases()), ids=[c[0] for c in cases()])
def test_the_metric_is_sklearns_log_loss(name, labels, proba):
    expected = log_loss(labels, proba / proba.sum(axis=1, keepdims=True), labels=np.arange(19))
    if name == "zeros":  # sklearn clips at its dtype's eps; we clip at 1e-15 as Dacon's scorer does
        assert multiclass_log_loss(labels, proba) == pytest.approx(-np.log(1e-15 / (1 + 18e-15)), rel=1e-9)
        assert expected > 30
        return
    assert multiclass_log_loss(labels, proba) == pytest.approx(expected, rel=1e-12)
    assert row_log_loss(labels, proba).mean() == pytest.approx(expected, rel=1e-12)


def test_per_fold_scores_are_sklearns_on_each_folds_rows():
    labels, proba = next(cases())[1:]
    fold = np.arange(len(labels)) % 3
    expected = [log_loss(labels[fold == k], proba[fold == k], labels=np.arange(19)) for k in range(3)]
    assert per_fold_log_loss(labels, proba, fold) == pytest.approx(tuple(expected), rel=1e-12)
