import numpy as np
import pytest

from features.config import FeaturesConfig
from features.fitted import FoldFeatures, FoldFitting, rows_inside
from features.table import build_features
from pipeline.data.schema import MAGNITUDE_COLUMNS
from pipeline.engine.errors import ConfigError


class Recorder:
    """A fold model that remembers what it was fitted on and predicts the row's first column."""

    def fit(self, x_fit, y_fit, x_stop, y_stop):
        self.x_fit, self.y_fit, self.x_stop = x_fit.copy(), y_fit.copy(), x_stop

    def predict_proba(self, x):
        self.x_predict = x.copy()
        return np.tile(x[:, :1], (1, 2))


@pytest.fixture
def table(tiny_data):
    return build_features(tiny_data, FeaturesConfig())


def matrix(table):
    return table.train.to_numpy(np.float32), np.zeros(len(table.train), dtype=int)


def test_nothing_fitted_by_default_leaves_the_model_unwrapped(table):
    model = Recorder()
    assert not table.fitting.active and table.fold_model(model) is model


def test_clip_bounds_come_from_the_fit_rows_only(table):
    x, y = matrix(table)
    fit, other = x[:600], x[600:].copy()
    other[0, :] = -5_310_802.0
    wrapped = FoldFeatures(Recorder(), FoldFitting(outlier_clip=0.01), table.names)
    wrapped.fit(fit, y[:600], None, None)
    low = np.quantile(fit, 0.01, axis=0)
    wrapped.predict_proba(other)
    seen = wrapped.model.x_predict
    fiber = table.names.index("fiberID")
    keep = [i for i in range(len(table.names)) if i != fiber]
    assert np.allclose(seen[0, keep], low[keep], rtol=1e-5)
    assert seen[0, fiber] == other[0, fiber]  # an identifier is never clipped
    assert (wrapped.model.x_fit[:, keep] >= low[keep] - 1e-4).all()


def test_outlier_drop_removes_fit_rows_only(table):
    x, y = matrix(table)
    x = x.copy()
    magnitude = table.names.index("psfMag_u")
    x[5, magnitude] = -5_310_802.0
    wrapped = FoldFeatures(Recorder(), FoldFitting(outlier_drop=0.001), table.names)
    stop = x[900:1000]
    wrapped.fit(x[:900], y[:900], stop, y[900:1000])
    mask = rows_inside(x[:900][:, [table.names.index(c) for c in MAGNITUDE_COLUMNS]], 0.001)
    assert not mask[5] and wrapped.dropped_rows == int((~mask).sum()) > 0
    assert len(wrapped.model.x_fit) == 900 - wrapped.dropped_rows
    assert len(wrapped.model.x_stop) == 100  # early-stopping rows are never dropped
    assert len(wrapped.predict_proba(x[:50])) == 50  # nor held-out or test rows


def test_decompositions_and_fiber_stats_are_appended_after_the_table(table):
    x, y = matrix(table)
    fitting = FoldFitting(svd_components=3, ica_components=2, fiber_stats=True)
    wrapped = FoldFeatures(Recorder(), fitting, table.names)
    wrapped.fit(x[:800], y[:800], None, None)
    out = wrapped.transform(x[800:])
    n = len(table.names)
    assert out.shape == (len(x) - 800, n + 3 + 2 + 4)
    assert np.array_equal(out[:, :n], x[800:])
    assert np.isfinite(out).all()
    assert table.model_names() == table.names  # nothing fitted in this table
    assert fitting.added_names()[:3] == ["svd_0", "svd_1", "svd_2"]


def test_fitted_parameters_do_not_depend_on_rows_outside_the_fit_rows(table):
    x, y = matrix(table)
    fitting = FoldFitting(outlier_clip=0.001, svd_components=2, ica_components=2, fiber_stats=True)
    first = FoldFeatures(Recorder(), fitting, table.names)
    first.fit(x[:700], y[:700], None, None)
    changed = x.copy()
    changed[700:] = changed[700:][::-1] * 3.0  # other rows changed wildly
    second = FoldFeatures(Recorder(), fitting, table.names)
    second.fit(changed[:700], y[:700], None, None)
    assert np.allclose(first.transform(x[700:]), second.transform(x[700:]))


def test_fiber_stats_are_per_fiber_shares_and_means(table):
    x, y = matrix(table)
    wrapped = FoldFeatures(Recorder(), FoldFitting(fiber_stats=True), table.names)
    wrapped.fit(x, y, None, None)
    out = wrapped.transform(x)
    fiber, ref = x[:, table.names.index("fiberID")], x[:, table.names.index("modelMag_r")]
    some = fiber[0]
    share, mean = out[0, -4], out[0, -3]
    assert share == pytest.approx(np.mean(fiber == some), rel=1e-5)
    assert mean == pytest.approx(
        np.clip(ref, *np.quantile(ref, [0.001, 0.999]))[fiber == some].mean(), rel=1e-5
    )


def test_kept_columns_come_first_then_the_fitted_ones(table):
    x, y = matrix(table)
    kept = ["modelMag_r", "psfMag_u"]
    wrapped = table.fold_model(Recorder(), tuple(kept))
    wrapped.fit(x, y, None, None)
    assert wrapped.model.x_fit.shape[1] == 2
    fitted = FoldFeatures(Recorder(), FoldFitting(svd_components=2), table.names, kept)
    fitted.fit(x, y, None, None)
    assert fitted.model.x_fit.shape[1] == 4
    assert np.array_equal(fitted.model.x_fit[:, 0], x[:, table.names.index("modelMag_r")])


def test_transductive_decompositions_are_table_columns(tiny_data):
    cfg = FeaturesConfig(svd_components=2, ica_components=2, decomposition_fit="train+test")
    table = build_features(tiny_data, cfg)
    assert {"svd_0", "svd_1", "ica_0", "ica_1"} <= set(table.names)
    assert not table.fitting.active and "svd_0" in table.test.columns
    per_fold = build_features(tiny_data, FeaturesConfig(svd_components=2))
    assert "svd_0" not in per_fold.names and per_fold.model_names()[-2:] == ["svd_0", "svd_1"]


def test_a_fitted_family_without_its_columns_is_a_config_error(tiny_data):
    with pytest.raises(ConfigError, match="raw"):
        build_features(tiny_data, FeaturesConfig(families=("colours",), svd_components=2))
    with pytest.raises(ConfigError, match="fiber_id"):
        build_features(tiny_data, FeaturesConfig(families=("raw",), fiber_stats=True))
