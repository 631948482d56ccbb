"""Cache keys follow what shapes a result: editing a file on disk (a copy of the project) changes the
keys of exactly the stages whose code it is, and the runner says why it recomputes."""

import shutil
from pathlib import Path

import pytest
from testkit import TINY

from pipeline.config import load_config
from pipeline.data.sources import SampleSource
from pipeline.engine.cache import Cache
from pipeline.engine.runner import Runner, silent
from pipeline.graph import stage_graph

ROOT = Path(__file__).resolve().parents[3]
TUNED = [*TINY, 'lgbm.settings="tuned"', 'mlp.settings="tuned"', 'tune.models=["lgbm", "mlp"]']
MODEL_AND_STUDY = ("lgbm", "mlp", "lgbm_pruned", "mlp_pruned", "tune_lgbm", "tune_mlp", "importance")


@pytest.fixture
def project(tmp_path) -> Path:
    """A copy of the project's packages, to edit."""
    for package in ("pipeline", "features", "models"):
        shutil.copytree(
            ROOT / package, tmp_path / "code" / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path / "code"


def keys(config, code_root: Path, cache: Path) -> dict[str, str]:
    graph = stage_graph(config)
    runner = Runner(config, graph, SampleSource(config.sample), Cache(cache), log=silent, code_root=code_root)
    return {name: runner.key(name) for name in graph}


def append_comment(path: Path) -> None:
    path.write_text(path.read_text(encoding="utf-8") + "\n# an edit\n", encoding="utf-8")


def changed(before: dict, after: dict) -> set[str]:
    return {name for name in before if before[name] != after[name]}


@pytest.mark.parametrize(
    "edited", ["pipeline/reporting/pages.py", "pipeline/reporting/summary.py", "pipeline/cli.py",
               "pipeline/engine/runner.py", "models/registry.py"],
)  # fmt: skip
def test_editing_reporting_or_bookkeeping_code_leaves_every_model_and_study_key(project, tmp_path, edited):
    config = load_config(overrides=TUNED)
    before = keys(config, project, tmp_path / "cache")
    append_comment(project / edited)
    after = keys(config, project, tmp_path / "cache")
    assert not changed(before, after) & set(MODEL_AND_STUDY)
    assert changed(before, after) <= {"report"}


def test_editing_the_report_page_code_recomputes_the_report(project, tmp_path):
    config = load_config(overrides=TUNED)
    before = keys(config, project, tmp_path / "cache")
    append_comment(project / "pipeline/reporting/pages.py")
    assert changed(before, keys(config, project, tmp_path / "cache")) == {"report"}


def test_editing_a_model_module_changes_that_model_and_its_dependants_only(project, tmp_path):
    config = load_config(overrides=TUNED)
    before = keys(config, project, tmp_path / "cache")
    append_comment(project / "models/lgbm/trainer.py")
    after = keys(config, project, tmp_path / "cache")
    assert changed(before, after) == {
        "tune_lgbm",
        "lgbm",
        "importance",
        "selection",
        "lgbm_pruned",
        "mlp_pruned",
        "xgb_pruned",
        "catboost_pruned",
        "blend",
        "submission",
        "report",
    }  # fmt: skip  (every pruned variant: lgbm's importances choose their features)


def test_editing_the_shared_cv_loop_changes_every_model(project, tmp_path):
    config = load_config(overrides=TINY)
    before = keys(config, project, tmp_path / "cache")
    append_comment(project / "pipeline/validation/cv.py")
    after = keys(config, project, tmp_path / "cache")
    assert {"lgbm", "mlp", "features"} <= changed(before, after)
    assert "folds" not in changed(before, after)


def test_a_recompute_says_which_config_key_changed(tmp_path):
    config = load_config(overrides=TINY)
    first = Runner(config, stage_graph(config), SampleSource(config.sample), Cache(tmp_path), log=silent)
    first.run("folds")
    assert first.explain("folds") == "cached"
    other = load_config(overrides=[*TINY, "folds.seed=7"])
    lines = []
    second = Runner(other, stage_graph(other), SampleSource(other.sample), Cache(tmp_path), log=lines.append)
    assert "config seed: 42 -> 7" in second.explain("folds")
    second.run("folds")
    assert any("[folds] computing" in line and "config seed: 42 -> 7" in line for line in lines)


def test_a_recompute_says_which_code_file_changed_and_meta_keeps_the_code_hash(project, tmp_path):
    config = load_config(overrides=TINY)
    first = Runner(config, stage_graph(config), SampleSource(config.sample), Cache(tmp_path / "cache"),
                   log=silent, code_root=project)  # fmt: skip
    first.run("features")
    meta = first.cache.read_meta("features", first.key("features"))
    assert meta["code_hash"] and "features.families" in meta["key_parts"]["code"]
    append_comment(project / "features/families.py")
    second = Runner(config, stage_graph(config), SampleSource(config.sample), Cache(tmp_path / "cache"),
                    log=silent, code_root=project)  # fmt: skip
    assert second.explain("features").endswith("code: features.families")


def test_a_changed_library_parameter_is_named_by_its_own_key():
    from pipeline.engine.runner import key_changes

    before = {"config": {"mode": "gbdt", "params": {"learning_rate": 0.05}}, "inputs": {}, "data": "d",
              "code": {"models.lgbm.trainer": "a"}, "versions": {"lightgbm": "4.6"}}  # fmt: skip
    after = {**before, "config": {"mode": "gbdt", "params": {"learning_rate": 0.03}},
             "code": {"models.lgbm.trainer": "b"}, "versions": {"lightgbm": "4.7"}}  # fmt: skip
    assert key_changes(before, after) == [
        "config params.learning_rate: 0.05 -> 0.03",
        "code: models.lgbm.trainer",
        "versions: lightgbm 4.6 -> 4.7",
    ]


def test_editing_one_value_of_a_data_file_on_disk_changes_every_key_and_says_so(tmp_path, sample_dir):
    """No mock: the bytes of Dacon's files are the data's part of every key."""
    from pipeline.data.sources import FileSource

    config = load_config(overrides=TINY)
    graph = stage_graph(config)

    def runner():
        return Runner(config, graph, FileSource(sample_dir), Cache(tmp_path / "cache"), log=silent)

    first = runner()
    first.run("folds")
    before = {name: first.key(name) for name in graph}
    path = sample_dir / "test.csv"
    original = path.read_bytes()
    lines = original.decode().splitlines(keepends=True)
    fields = lines[5].split(",")
    fields[3] = str(float(fields[3]) + 0.001)  # one magnitude of one test row
    path.write_text("".join([*lines[:5], ",".join(fields), *lines[6:]]))
    edited = runner()
    assert all(edited.key(name) != before[name] for name in graph)
    assert "data changed" in edited.explain("folds")
    path.write_bytes(original)
    assert runner().key("folds") == before["folds"] and runner().explain("folds") == "cached"
