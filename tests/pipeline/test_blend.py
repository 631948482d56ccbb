import dataclasses

import numpy as np
import pandas as pd
import pytest

from pipeline.blend import blend_models, fit_simplex_weights
from pipeline.config import BlendConfig, FoldsConfig
from pipeline.cv import ModelResult
from pipeline.folds import make_folds
from pipeline.metrics import multiclass_log_loss


def fake_model(name, data, folds, quality, seed):
    """A model whose probabilities put ``quality`` extra mass on the true class, plus noise."""
    rng = np.random.default_rng(seed)
    n, k = len(data.labels), data.n_classes
    proba = rng.dirichlet(np.ones(k), size=n)
    proba[np.arange(n), data.labels.to_numpy()] += quality
    proba /= proba.sum(axis=1, keepdims=True)
    oof = pd.DataFrame(proba, index=data.labels.index, columns=list(data.classes))
    test = pd.DataFrame(
        np.full((len(data.test), k), 1.0 / k), index=data.test.index, columns=list(data.classes)
    )
    score = multiclass_log_loss(data.labels.to_numpy(), proba)
    return ModelResult(name, oof, test, (score,), (0.0,), score, folds.signature)


@pytest.fixture
def folds(tiny_data):
    return make_folds(tiny_data, FoldsConfig(n_splits=3, seed=0))


def test_weights_are_on_the_simplex_and_favour_the_better_model(tiny_data, folds):
    good = fake_model("good", tiny_data, folds, 3.0, 1)
    poor = fake_model("poor", tiny_data, folds, 0.5, 2)
    blend = blend_models(tiny_data, folds, good, poor, cfg=BlendConfig())
    weights = blend.info["weights"]
    assert sum(weights.values()) == pytest.approx(1.0) and min(weights.values()) >= 0
    assert weights["good"] > weights["poor"]
    assert blend.info["optimistic"] is True


def test_blend_is_at_least_as_good_as_its_best_member_on_oof(tiny_data, folds):
    members = [fake_model(f"m{i}", tiny_data, folds, q, i) for i, q in enumerate([2.0, 2.2, 1.5])]
    blend = blend_models(tiny_data, folds, *members, cfg=BlendConfig())
    assert blend.oof_score <= min(m.oof_score for m in members) + 1e-9
    assert blend.oof_score == pytest.approx(
        multiclass_log_loss(tiny_data.labels.to_numpy(), blend.oof_proba.to_numpy())
    )


def test_single_model_blend_is_that_model(tiny_data, folds):
    member = fake_model("only", tiny_data, folds, 2.0, 0)
    blend = blend_models(tiny_data, folds, member, cfg=BlendConfig())
    assert blend.info == {"weights": {"only": 1.0}, "optimistic": False}
    pd.testing.assert_frame_equal(blend.test_proba, member.test_proba)


def test_models_from_other_folds_are_refused(tiny_data, folds):
    member = dataclasses.replace(fake_model("other", tiny_data, folds, 2.0, 0), folds_signature="elsewhere")
    with pytest.raises(ValueError, match="other folds"):
        blend_models(tiny_data, folds, member, cfg=BlendConfig())


def test_fit_simplex_weights_recovers_a_dominant_model():
    labels = np.array([0, 1, 0, 1])
    right = np.array([[0.9, 0.1], [0.1, 0.9], [0.9, 0.1], [0.1, 0.9]])
    wrong = right[:, ::-1]
    weights = fit_simplex_weights([wrong, right], labels)
    assert weights[1] > 0.95
