"""The runner recomputes exactly what a change touches and loads the rest from the cache."""

import functools

import pytest
from testkit import TINY, make_runner

from features import table
from models import lgbm, mlp
from pipeline import folds
from pipeline import runner as runner_module
from pipeline.codehash import source_closure
from pipeline.config import load_config

STAGES = ["features", "folds", "lgbm", "mlp", "blend", "submission"]


@pytest.fixture
def calls(monkeypatch):
    """Count the real calls of the expensive stage functions."""
    counts = {}

    def counting(module, name, stage):
        original = getattr(module, name)

        @functools.wraps(original)
        def wrapper(*args, **kwargs):
            counts[stage] = counts.get(stage, 0) + 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counting(table, "build_features", "features")
    counting(folds, "make_folds", "folds")
    counting(lgbm, "train_lgbm", "lgbm")
    counting(mlp, "train_mlp", "mlp")
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


def test_code_change_changes_the_key(tmp_path, monkeypatch, tiny_config):
    before = make_runner(tiny_config, tmp_path).key("lgbm")
    original = runner_module.code_hash
    monkeypatch.setattr(
        runner_module, "code_hash", lambda module: original(module) + ("x" if module == "models.lgbm" else "")
    )
    after = make_runner(tiny_config, tmp_path)
    assert after.key("lgbm") != before
    assert after.key("features") == make_runner(tiny_config, tmp_path).key("features")


def test_code_hash_covers_the_helpers_a_stage_imports():
    names = {path.name for path in source_closure("models.lgbm")}
    assert {"lgbm.py", "cv.py", "metrics.py", "progress.py"} <= names
    assert not {"runner.py", "config.py", "families.py"} & names  # annotations only, or not used


def test_force_recomputes_the_target(tmp_path, calls, tiny_config):
    make_runner(tiny_config, tmp_path).run("lgbm")
    make_runner(tiny_config, tmp_path, force=frozenset({"lgbm"})).run("lgbm")
    assert calls["lgbm"] == 2 and calls["features"] == 1


def test_corrupt_entry_is_recomputed(tmp_path, calls, tiny_config):
    first = make_runner(tiny_config, tmp_path)
    first.run("lgbm")
    artifact = tmp_path / "lgbm" / first.key("lgbm") / "artifact.joblib"
    artifact.write_bytes(artifact.read_bytes()[:100])
    with pytest.warns(UserWarning, match="corrupt"):
        make_runner(tiny_config, tmp_path).run("lgbm")
    assert calls["lgbm"] == 2
