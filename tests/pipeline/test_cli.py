"""End to end through the command line: submissions, OOF files, real test data, bad input."""

import json
import shutil
import time

import numpy as np
import pandas as pd
import pytest
from testkit import SHARED_DACON, TINY, run_cli


def run_folder(tmp_path):
    folders = [path for path in (tmp_path / "out").iterdir() if path.is_dir()]
    assert len(folders) == 1
    return folders[0]


def test_all_on_given_files_writes_a_submission_in_the_sample_format(tmp_path, sample_dir, capsys):
    assert run_cli(tmp_path, "--stage", "all", "--data-dir", str(sample_dir)) == 0
    folder = run_folder(tmp_path)
    submission = pd.read_csv(folder / "submission.csv")
    sample = pd.read_csv(sample_dir / "sample_submission.csv")
    assert list(submission.columns) == list(sample.columns)
    assert submission["id"].tolist() == sample["id"].tolist()
    assert np.allclose(submission.iloc[:, 1:].sum(axis=1), 1.0)
    for model in ("lgbm", "mlp", "blend"):
        oof = pd.read_csv(folder / f"oof_{model}.csv", index_col="id")
        assert list(oof.columns) == list(sample.columns[1:])
        assert oof.index.tolist() == pd.read_csv(sample_dir / "train.csv")["id"].tolist()
    out = capsys.readouterr().out
    assert "Dacon's files" in out and "lgbm" in out and "mlp" in out and "submission:" in out


def test_default_runs_on_the_built_in_sample_with_a_banner(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run_cli(tmp_path, "--stage", "blend") == 0
    out = capsys.readouterr().out
    assert "BUILT-IN SIMULATED SAMPLE" in out
    assert "OOF log loss" in out and "per fold mean ± std" in out


def test_second_blend_after_all_comes_from_the_cache(tmp_path, capsys):
    assert run_cli(tmp_path, "--stage", "all") == 0
    capsys.readouterr()
    start = time.perf_counter()
    assert run_cli(tmp_path, "--stage", "blend") == 0
    assert time.perf_counter() - start < 5
    table = capsys.readouterr().out
    assert "blend" in table and "yes" in table and " no " not in table


def test_write_sample_writes_dacon_files(tmp_path):
    assert run_cli(tmp_path, "--write-sample", str(tmp_path / "written")) == 0
    assert sorted(p.name for p in (tmp_path / "written").iterdir()) == [
        "sample_submission.csv",
        "test.csv",
        "train.csv",
    ]


@pytest.mark.skipif(not (SHARED_DACON / "test.csv").exists(), reason="needs ../shared/data/dacon")
def test_real_test_features_with_a_simulated_train(tmp_path):
    data_dir = tmp_path / "mixed"
    assert run_cli(tmp_path, "--write-sample", str(data_dir)) == 0
    for name in ("test.csv", "sample_submission.csv"):
        shutil.copy(SHARED_DACON / name, data_dir / name)
    assert run_cli(tmp_path, "--stage", "all", "--data-dir", str(data_dir)) == 0
    submission = pd.read_csv(run_folder(tmp_path) / "submission.csv")
    real = pd.read_csv(SHARED_DACON / "sample_submission.csv")
    assert list(submission.columns) == list(real.columns)
    assert submission["id"].tolist() == real["id"].tolist()
    assert np.isfinite(submission.iloc[:, 1:].to_numpy()).all()


def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, sample_dir, capsys):
    frame = pd.read_csv(sample_dir / "train.csv")
    frame["psfMag_r"] = frame["psfMag_r"].astype(object)
    frame.loc[3, "psfMag_r"] = "n/a"
    frame.to_csv(sample_dir / "train.csv", index=False)
    assert run_cli(tmp_path, "--stage", "all", "--data-dir", str(sample_dir)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert (
        err[0].startswith("error: ") and "train.csv" in err[0] and "psfMag_r" in err[0] and "line 5" in err[0]
    )
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()


def test_bad_config_exits_2(tmp_path, capsys):
    assert run_cli(tmp_path, "--set", "lgbm.num_leavs=3") == 2
    assert "num_leaves" in capsys.readouterr().err


def test_partial_data_folder_is_an_error_not_a_silent_fallback(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("id\n1\n")
    assert run_cli(tmp_path, "--stage", "folds") == 2
    assert "test.csv" in capsys.readouterr().err


def test_load_result_returns_the_cached_oof(tmp_path, monkeypatch):
    from pipeline.api import load_result

    monkeypatch.chdir(tmp_path)
    assert run_cli(tmp_path, "--stage", "lgbm") == 0
    result = load_result("lgbm", cache_dir=tmp_path / "cache", overrides=TINY)
    assert result.oof_proba.index.name == "id" and result.oof_proba.shape[1] == 19


def test_mlp_stage_alone_and_its_result_in_python(tmp_path, monkeypatch, capsys):
    from pipeline.api import load_result

    monkeypatch.chdir(tmp_path)
    assert run_cli(tmp_path, "--stage", "mlp") == 0
    table = capsys.readouterr().out
    assert "mlp" in table and "lgbm" not in table
    result = load_result("mlp", cache_dir=tmp_path / "cache", overrides=TINY)
    assert result.oof_proba.shape[1] == 19 and result.info["epochs"]


def test_importance_stage_prints_eli5_writes_ranked_csv_and_reruns_from_cache(tmp_path, capsys):
    quick = ["--set", "importance.max_rows=200", "--set", "importance.n_iter=1"]
    assert run_cli(tmp_path, "--stage", "importance", *quick) == 0
    out = capsys.readouterr().out
    assert "Permutation importance (eli5)" in out and " ± " in out and "kept per fold: " in out
    folder = run_folder(tmp_path)
    ranked = pd.read_csv(folder / "importance.csv", index_col="rank")
    assert ranked["mean"].is_monotonic_decreasing and ranked.index.tolist()[0] == 1
    per_fold = ranked[[f"kept_fold_{k}" for k in range(3)]]
    assert (per_fold.sum(axis=1) == ranked["kept_folds"]).all() and per_fold.any().all()
    start = time.perf_counter()
    assert run_cli(tmp_path, "--stage", "importance", *quick) == 0
    assert time.perf_counter() - start < 5
    table = capsys.readouterr().out
    assert "importance" in table and " no " not in table


def test_all_writes_a_report_whose_images_exist_and_a_ledger_row_per_run(tmp_path):
    from html.parser import HTMLParser

    default_models = ["--set", 'blend.models=["lgbm", "mlp", "lgbm_pruned"]']
    assert run_cli(tmp_path, "--stage", "all", *default_models) == 0
    assert (run_folder(tmp_path) / "importance.csv").exists()  # the default prunes with eli5
    report = run_folder(tmp_path) / "report"
    sources = []

    class Images(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "img":
                sources.append(dict(attrs)["src"])

    Images().feed((report / "index.html").read_text(encoding="utf-8"))
    assert len(sources) >= 4 and all((report / src).read_bytes().startswith(b"\x89PNG") for src in sources)
    assert (report / "overview.csv").exists()

    ledger = pd.read_csv(tmp_path / "out" / "ledger.csv")
    assert len(ledger) == 1 and ledger.loc[0, "from_cache"] == "no" and ledger.loc[0, "stage"] == "all"
    assert {"lgbm", "mlp", "lgbm_pruned"} <= set(json.loads(ledger.loc[0, "models"]))
    assert ledger.loc[0, "blend_nested"] >= ledger.loc[0, "blend_optimistic"] - 1e-9
    assert set(json.loads(ledger.loc[0, "honesty"]).values()) == {"honest"}
    assert json.loads(ledger.loc[0, "duplicates"])["groups"] > 0  # the sample has duplicated rows
    assert 0 < ledger.loc[0, "simulated_holdout_se"] < ledger.loc[0, "simulated_holdout"]
    info = json.loads((run_folder(tmp_path) / "run.json").read_text())
    assert info["honesty"]["blend"] == "honest" and info["duplicates"]["kept_together"]
    assert info["simulated_holdout"]["log_loss"] == pytest.approx(
        ledger.loc[0, "simulated_holdout"], abs=1e-6
    )
    assert ledger.loc[0, "submission"].endswith("submission.csv")
    assert run_cli(tmp_path, "--stage", "all", *default_models) == 0
    assert run_cli(tmp_path, "--set", "lgbm.num_leavs=3") == 2
    ledger = pd.read_csv(tmp_path / "out" / "ledger.csv")
    assert len(ledger) == 2 and ledger.loc[1, "from_cache"] == "yes"
    assert ledger.loc[1, "run_id"] == ledger.loc[0, "run_id"]


def test_report_stage_alone_and_predictions_from_python(tmp_path, monkeypatch):
    from pipeline.api import load_predictions

    monkeypatch.chdir(tmp_path)
    assert run_cli(tmp_path, "--stage", "report") == 0
    folder = run_folder(tmp_path)
    assert folder.name.startswith("sample-report-") and (folder / "index.html").exists()
    oof = load_predictions("blend", cache_dir=tmp_path / "cache", overrides=TINY)
    test = load_predictions("mlp", "test", cache_dir=tmp_path / "cache", overrides=TINY)
    assert oof.index.name == "id" and oof.shape[1] == 19 and test.shape[1] == 19


def test_explain_says_what_is_cached_and_what_changed_and_computes_nothing(tmp_path, capsys):
    assert run_cli(tmp_path, "--stage", "folds") == 0
    capsys.readouterr()
    assert run_cli(tmp_path, "--stage", "folds", "--explain") == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("folds") and lines[-1].endswith("cached")
    entries = sorted((tmp_path / "cache" / "folds").iterdir())
    assert run_cli(tmp_path, "--stage", "folds", "--explain", "--set", "folds.seed=3") == 0
    assert "changed since the entry of" in (out := capsys.readouterr().out) and "config seed: 42 -> 3" in out
    assert sorted((tmp_path / "cache" / "folds").iterdir()) == entries  # nothing computed
    assert not (tmp_path / "out" / "ledger.csv").read_text().count("--set folds.seed=3")


def test_a_stacker_run_shows_its_per_class_weights_in_run_json_and_on_the_run_page(tmp_path, capsys):
    stack = ["blend.method='stack'", "blend.stack_penalty=[0.01]", "mlp.max_epochs=3"]
    assert run_cli(tmp_path, "--stage", "all", *(item for s in stack for item in ("--set", s))) == 0
    assert "optimistic: stacker fitted on the OOF rows it scores" in capsys.readouterr().out
    [folder] = [p for p in (tmp_path / "out").iterdir() if p.is_dir()]
    stacker = json.loads((folder / "run.json").read_text())["stacker"]
    assert stacker["penalty"] == 0.01 and len(stacker["class_weights"]) == 19
    assert set(stacker["class_weights"]["QSO"]) == {"lgbm", "mlp"}
    page = (folder / "report" / "index.html").read_text()
    assert "weight on its own log-probability of each class" in page
