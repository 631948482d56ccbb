from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from testkit import TINY, train_mlp

from features.config import FeaturesConfig
from features.table import build_features
from models.mlp import trainer as mlp
from models.mlp.config import MlpConfig
from models.mlp.trainer import MlpFoldModel
from pipeline.config import load_config
from pipeline.data.loading import Dataset
from pipeline.engine.errors import ConfigError
from pipeline.validation.config import FoldsConfig
from pipeline.validation.folds import make_folds
from pipeline.validation.metrics import multiclass_log_loss

FAST = MlpConfig(hidden=16, depth=1, max_epochs=3, patience=2, batch_size=64, device="cpu", embedding_dim=0)


def blobs(rows: int = 300, classes: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Separable Gaussian blobs; the last column is a fiberID."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, rows)
    x = rng.normal(size=(rows, 5)) + y[:, None]
    fiber = rng.integers(1, 1001, rows)
    return np.column_stack([x, fiber]).astype(np.float32), y


@pytest.fixture
def inputs(tiny_data):
    features = build_features(tiny_data, FeaturesConfig())
    folds = make_folds(tiny_data, FoldsConfig(n_splits=3, seed=0))
    return tiny_data, features, folds


def fit_model(cfg: MlpConfig, x, y, x_stop=None, y_stop=None, n_classes=4, fiber_column=5) -> MlpFoldModel:
    model = MlpFoldModel(cfg, n_classes, fiber_column, seed=0, label="test")
    model.fit(x, y, x_stop, y_stop)
    return model


@pytest.mark.parametrize("scaling", ["none", "standard", "minmax", "robust", "robust_smooth", "quantile"])
def test_every_scaling_gives_finite_losses_on_wild_magnitudes(scaling):
    x, y = blobs()
    x[:4, 0] = [-5_310_802.0, 6e6, -1e6, 1e6]
    x_stop, y_stop = blobs(80, seed=1)
    x_stop[0, 1] = -5_310_802.0
    model = fit_model(replace(FAST, scaling=scaling), x, y, x_stop, y_stop)
    losses = np.array([loss for _, *pair in model.history for loss in pair])
    assert len(model.history) > 0 and np.isfinite(losses).all()
    proba = model.predict_proba(x_stop)
    assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0)


def test_oversampling_trains_on_copies_of_fit_rows_never_on_held_out_rows(monkeypatch):
    x, y = blobs(200)
    y[y == 3] = 0
    y[:2] = 3  # a rare class: two fit rows
    x_stop, y_stop = blobs(60, seed=5)
    seen = []
    original = mlp.train_one_epoch

    def spy(net, numeric, fiber, labels, *args, **kwargs):
        seen.append((numeric.clone(), labels.clone()))
        return original(net, numeric, fiber, labels, *args, **kwargs)

    monkeypatch.setattr(mlp, "train_one_epoch", spy)
    cfg = replace(FAST, scaling="none", clip_quantile=0.0, oversample_min_count=30)
    fit_model(cfg, x, y, x_stop, y_stop, fiber_column=None)
    numeric, labels = seen[0]
    fit_rows = {tuple(row) for row in x.tolist()}
    stop_rows = {tuple(row) for row in x_stop.tolist()}
    trained = [tuple(row) for row in numeric.numpy().tolist()]
    assert all(row in fit_rows for row in trained)
    assert not any(row in stop_rows for row in trained)
    assert int((labels == 3).sum()) == 30
    assert {row for row, label in zip(trained, labels.tolist()) if label == 3} == {
        tuple(x[0].tolist()),
        tuple(x[1].tolist()),
    }


def test_oversampling_in_cv_sees_only_each_folds_fit_rows(monkeypatch, inputs):
    data, features, folds = inputs
    given = []
    original = mlp.oversample_rows
    monkeypatch.setattr(
        mlp, "oversample_rows", lambda labels, *a: given.append(len(labels)) or original(labels, *a)
    )
    cfg = replace(FAST, oversample_min_count=20)
    result = train_mlp(data, features, folds, cfg=cfg)
    training_rows = [(folds.fold_of_row != fold).sum() for fold in range(folds.n_splits)]
    held_out = [len(ids) for ids in result.held_out_ids]
    assert all(n > 0 for n in held_out)
    assert given == [train - stop for train, stop in zip(training_rows, held_out)]


def test_fiber_embedding_is_learned_jointly(monkeypatch):
    x, y = blobs()
    created = []
    original = mlp.make_net

    def recording(*args, **kwargs):
        net = original(*args, **kwargs)
        created.append(net.embedding.weight.detach().clone())
        return net

    monkeypatch.setattr(mlp, "make_net", recording)
    model = fit_model(replace(FAST, embedding_dim=4), x, y, *blobs(60, seed=2))
    used = np.unique(x[:, 5].astype(int))
    after = model.net.embedding.weight.detach()
    assert not torch.allclose(after[used], created[0][used])
    assert model.net.embedding.weight.requires_grad


def test_class_absent_from_training_still_gets_a_column():
    x, y = blobs(classes=3)
    model = fit_model(replace(FAST, max_epochs=20, learning_rate=0.02), x, y, n_classes=5)
    proba = model.predict_proba(x[:50])
    assert proba.shape == (50, 5) and np.allclose(proba.sum(axis=1), 1.0)
    assert (proba[:, 3:] > 0).all() and proba[:, 3:].mean() < 0.05


def test_best_epochs_weights_are_restored():
    x, y = blobs()
    x_stop, y_stop = blobs(100, seed=3)
    cfg = replace(FAST, max_epochs=12, patience=3, learning_rate=0.05)
    model = fit_model(cfg, x, y, x_stop, y_stop)
    best = min(loss for _, _, loss in model.history)
    assert multiclass_log_loss(y_stop, model.predict_proba(x_stop)) == pytest.approx(best, rel=1e-6)
    assert model.history[model.best_epoch - 1][2] == best


def test_from_large_rows_training_rows_on_the_patience_is_large_patience():
    x, y = blobs()
    x_stop, y_stop = blobs(100, seed=3)
    cfg = replace(FAST, max_epochs=60, patience=30, large_patience=1, learning_rate=0.3)
    large = fit_model(replace(cfg, large_rows=len(x)), x, y, x_stop, y_stop)
    assert large.patience == 1
    assert len(large.history) == large.best_epoch + 1 < cfg.max_epochs  # stopped at the first stale epoch
    small = fit_model(replace(cfg, large_rows=len(x) + 1), x, y, x_stop, y_stop)
    assert small.patience == 30 and len(small.history) > len(large.history)
    assert mlp.patience_for(replace(cfg, large_rows=0), 10**9) == 30  # 0: never
    assert mlp.patience_for(replace(cfg, patience=2, large_patience=4, large_rows=10), 10) == 2  # never more


@pytest.mark.parametrize(
    "change",
    [
        {"schedule": "cosine"},
        {"schedule": "onecycle"},
        {"schedule": "constant", "label_smoothing": 0.1, "class_weight": "balanced"},
        {"architecture": "attention", "norm": "batch", "activation": "gelu", "embedding_dim": 3},
    ],
)
def test_training_options_run(change):
    x, y = blobs()
    model = fit_model(replace(FAST, **change), x, y, *blobs(60, seed=4))
    assert np.isfinite(model.predict_proba(x)).all()


def test_same_seed_gives_the_same_predictions():
    x, y = blobs()
    first = fit_model(FAST, x, y, *blobs(60, seed=4)).predict_proba(x)
    second = fit_model(FAST, x, y, *blobs(60, seed=4)).predict_proba(x)
    assert np.abs(first - second).max() <= 1e-6


def test_cuda_without_a_gpu_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    with pytest.raises(ConfigError, match="mlp.device"):
        MlpFoldModel(MlpConfig(device="cuda"), 3, None, 0, "test")


def test_stage_gives_19_columns_for_every_row_even_without_a_class_in_training(inputs):
    data, features, folds = inputs
    labels = data.labels.copy()
    labels[labels == data.classes.index("STAR_PN")] = data.classes.index("QSO")
    result = train_mlp(Dataset(data.train, labels, data.test, data.classes), features, folds, cfg=FAST)
    assert result.oof_proba.shape == (len(data.train), 19) and result.test_proba.shape == (len(data.test), 19)
    assert list(result.oof_proba.columns) == list(data.classes)
    assert np.allclose(result.oof_proba.sum(axis=1), 1.0)
    assert len(result.info["epochs"]) == 3 and result.info["device"] == "cpu"


def test_embedding_without_the_fiber_family_takes_fiber_id_from_the_data(inputs):
    data, _, folds = inputs
    features = build_features(data, FeaturesConfig(families=("raw", "colours")))
    train = mlp.with_fiber_column(data, features, embedding_dim=4).train
    assert "fiberID" in train.columns and "fiberID" not in features.train.columns
    pd.testing.assert_series_equal(
        train["fiberID"], data.train["fiberID"].astype(np.float32), check_names=False
    )
    assert mlp.with_fiber_column(data, features, embedding_dim=0) is features


def test_tiny_config_trains_quickly_end_to_end(inputs):
    data, features, folds = inputs
    result = train_mlp(data, features, folds, cfg=load_config(overrides=TINY).mlp)
    uniform = np.log(19)
    assert result.oof_score < uniform


@pytest.mark.parametrize(
    "options",
    [
        {"numeric_embedding": "periodic"},
        {"numeric_embedding": "piecewise", "piecewise_bins": 8},
        {"numeric_embedding": "periodic", "architecture": "attention"},
        {"architecture": "tabm", "ensemble_size": 4},
        {"architecture": "tabm", "ensemble_size": 4, "numeric_embedding": "piecewise", "embedding_dim": 2},
        {"scaling": "robust_smooth", "schedule": "coslog4"},
    ],
)
def test_embeddings_ensembles_and_realmlp_options_train_and_predict(options):
    x, y = blobs()
    x[:, 2] = 1.0  # a constant column: one piecewise bin, no error
    model = fit_model(replace(FAST, max_epochs=4, **options), x, y, *blobs(60, seed=2))
    proba = model.predict_proba(x[:30])
    assert proba.shape == (30, 4) and np.allclose(proba.sum(axis=1), 1.0) and np.isfinite(proba).all()
    assert multiclass_log_loss(y[:30], proba) < np.log(4)  # it learned something


def test_piecewise_bins_come_from_the_fit_rows_only(monkeypatch):
    x, y = blobs()
    seen = []
    original = mlp.quantile_bins
    monkeypatch.setattr(
        mlp, "quantile_bins", lambda values, n: seen.append(len(values)) or original(values, n)
    )
    x_stop, y_stop = blobs(60, seed=2)
    fit_model(
        replace(FAST, max_epochs=2, numeric_embedding="piecewise", oversample_min_count=500),
        x,
        y,
        x_stop,
        y_stop,
    )
    assert seen == [len(x)]  # the fit rows, once each: not the held-out rows, not oversampled copies


def test_a_tabm_ensemble_predicts_the_mean_of_its_heads_probabilities():
    x, y = blobs()
    model = fit_model(replace(FAST, max_epochs=2, architecture="tabm", ensemble_size=3), x, y)
    numeric, fiber = model.inputs.tensors(x[:10], model.device)
    with torch.no_grad():
        heads = torch.softmax(model.net.eval()(numeric, fiber).double(), dim=-1)
    assert heads.shape == (10, 3, 4)
    assert np.allclose(model.predict_proba(x[:10]), heads.mean(dim=1).numpy())


def test_smooth_clipping_keeps_wild_values_within_about_three():
    from models.mlp.inputs import SmoothClippedRobustScaler

    x = np.random.default_rng(0).normal(size=(500, 3))
    scaler = SmoothClippedRobustScaler().fit(x)
    out = scaler.transform(np.array([[1e6, -1e6, 0.0]]))
    assert np.all(np.abs(out) < 3.0) and out[0, 0] > 2.99 and out[0, 1] < -2.99 and abs(out[0, 2]) < 0.1
    middle = scaler.transform(x)
    assert np.corrcoef(middle[:, 0], x[:, 0])[0, 1] > 0.99  # near-linear where the data lie
