"""The runner recomputes exactly what a change touches and loads the rest from the cache."""

import functools

import pytest
from testkit import TINY, make_runner

from features import table
from models import training
from pipeline.config import load_config
from pipeline.validation import folds

STAGES = ["features", "folds", "lgbm", "mlp", "blend", "submission"]


@pytest.fixture
def calls(monkeypatch):
    """Count the real calls of the expensive stage functions."""
    counts = {}

    def counting(module, name, stage_of):
        original = getattr(module, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            stage = stage_of(*args, **kwargs)
            counts[stage] = counts.get(stage, 0) + 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counting(table, "build_features", lambda *args, **kwargs: "features")
    counting(folds, "make_folds", lambda *args, **kwargs: "folds")
    counting(training, "train_model", lambda *args, **kwargs: kwargs["family"])
    return counts


def statuses(runner):
    return {name: runner.records[name].status for name in STAGES if name in runner.records}


def test_cache_hit_skips_the_work(tmp_path, calls, tiny_config):
    first = make_runner(tiny_config, tmp_path)
    first.run("submission")
    assert calls == {"features": 1, "folds": 1, "lgbm": 1, "mlp": 1}
    second = make_runner(tiny_config, tmp_path)
    second.run("submission")
    assert calls == {"features": 1, "folds": 1, "lgbm": 1, "mlp": 1}
    assert second.calls == {}
    assert statuses(second)["submission"] == "cached"


def test_lgbm_config_change_reruns_lgbm_and_after_only(tmp_path, calls, tiny_config):
    make_runner(tiny_config, tmp_path).run("submission")
    changed = make_runner(load_config(overrides=[*TINY, "lgbm.num_leaves=5"]), tmp_path)
    changed.run("submission")
    assert calls == {"features": 1, "folds": 1, "lgbm": 2, "mlp": 1}
    assert set(changed.calls) == {"lgbm", "blend", "submission"}


def test_folds_config_change_keeps_features(tmp_path, calls, tiny_config):
    make_runner(tiny_config, tmp_path).run("submission")
    changed = make_runner(load_config(overrides=[*TINY, "folds.seed=7"]), tmp_path)
    changed.run("submission")
    assert set(changed.calls) == {"folds", "lgbm", "mlp", "blend", "submission"}
    assert statuses(changed)["features"] == "cached"


def test_sample_change_reruns_everything(tmp_path, calls, tiny_config):
    make_runner(tiny_config, tmp_path).run("folds")
    changed = make_runner(load_config(overrides=[*TINY, "sample.seed=3"]), tmp_path)
    changed.run("folds")
    assert calls["folds"] == 2


def test_cached_blend_loads_without_its_inputs(tmp_path, tiny_config):
    make_runner(tiny_config, tmp_path).run("submission")
    again = make_runner(tiny_config, tmp_path)
    again.run("blend")
    assert statuses(again) == {
        "features": "cached, not loaded",
        "folds": "cached, not loaded",
        "lgbm": "cached, not loaded",
        "mlp": "cached, not loaded",
        "blend": "cached",
    }
    assert "data" not in again._artifacts
    assert again.records["lgbm"].meta["oof_score"] > 0


def test_force_recomputes_the_target(tmp_path, calls, tiny_config):
    make_runner(tiny_config, tmp_path).run("lgbm")
    make_runner(tiny_config, tmp_path, force=frozenset({"lgbm"})).run("lgbm")
    assert calls["lgbm"] == 2 and calls["features"] == 1


def test_corrupt_entry_is_recomputed(tmp_path, calls, tiny_config):
    first = make_runner(tiny_config, tmp_path)
    first.run("lgbm")
    artifact = tmp_path / "lgbm" / first.key("lgbm") / "artifact.joblib"
    artifact.write_bytes(artifact.read_bytes()[:100])
    with pytest.warns(UserWarning, match="not loaded"):
        make_runner(tiny_config, tmp_path).run("lgbm")
    assert calls["lgbm"] == 2
