import numpy as np
import pytest

from models.mlp.inputs import (
    FIBER_SLOTS,
    InputScaler,
    class_weights,
    fiber_slots,
    oversample_rows,
    quantile_bins,
)

SCALINGS = ["none", "standard", "minmax", "robust", "quantile"]


def wild_matrix(rows: int = 2000, seed: int = 0) -> np.ndarray:
    """Magnitude-like columns with Dacon's wild outliers in a few rows."""
    rng = np.random.default_rng(seed)
    x = rng.normal(19.0, 2.0, size=(rows, 4))
    x[:3, 0] = [-5_310_802.0, 6e6, -9999.0]
    x[3, 2] = 1e6
    return x


@pytest.mark.parametrize("scaling", SCALINGS)
def test_wild_values_are_clipped_to_the_fit_rows_quantiles(scaling):
    x = wild_matrix()
    scaler = InputScaler(scaling, clip_quantile=0.001).fit(x)
    out = scaler.transform(np.vstack([x, [[-1e9, 1e9, np.inf, -np.inf]]]))
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert np.abs(out).max() < 100  # magnitudes stay magnitudes, scaled columns stay O(1)


def test_bounds_come_from_the_rows_it_is_fitted_on_only():
    x = wild_matrix()
    scaler = InputScaler("none", clip_quantile=0.0).fit(x[10:])
    assert scaler.transform(x[:1])[0, 0] == pytest.approx(x[10:, 0].min(), rel=1e-6)


def test_fiber_slots_put_unknown_fibers_in_slot_zero():
    slots = fiber_slots(np.array([1, 640, 1000, 0, 1001, -3, 12.5, np.nan]))
    assert slots.tolist() == [1, 640, 1000, 0, 0, 0, 0, 0]
    assert slots.max() < FIBER_SLOTS


def test_oversampling_raises_rare_classes_to_the_minimum_from_their_own_rows():
    labels = np.array([0] * 50 + [1] * 3 + [2] * 1)
    rows = oversample_rows(labels, 10, np.random.default_rng(0))
    counts = np.bincount(labels[rows])
    assert counts.tolist() == [50, 10, 10]
    assert set(rows[labels[rows] == 1]) == {50, 51, 52}
    assert rows.max() < len(labels)
    assert np.array_equal(oversample_rows(labels, 0, np.random.default_rng(0)), np.arange(len(labels)))


def test_class_weights_favour_rare_classes_and_average_one_over_rows():
    labels = np.array([0] * 90 + [1] * 10)
    balanced = class_weights(labels, 3, "balanced")
    sqrt = class_weights(labels, 3, "sqrt")
    assert balanced[1] / balanced[0] == pytest.approx(9.0)
    assert sqrt[1] / sqrt[0] == pytest.approx(3.0)
    assert balanced[labels].mean() == pytest.approx(1.0)
    assert balanced[2] > 0  # absent class: any finite weight, it never occurs
    assert class_weights(labels, 3, "none") is None


def test_quantile_bins_are_strictly_increasing_in_float32_and_never_empty():
    x = np.column_stack(
        [np.linspace(0, 1e-9, 500) + 0.5, np.ones(500), np.random.default_rng(0).normal(size=500)]
    )
    bins = quantile_bins(x, 16)
    for edges in bins:
        assert edges.dtype == np.float32 and len(edges) >= 2 and np.all(np.diff(edges) > 0)
    assert len(bins[2]) == 17 and len(bins[1]) == 2
