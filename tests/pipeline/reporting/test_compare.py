"""--stage compare: two finished runs, paired, from their run folders or ledger run ids."""

import json
from pathlib import Path

import pandas as pd
from testkit import run_cli

FAST = ["--set", "mlp.max_epochs=3"]


def run_folders(tmp_path) -> dict[str, str]:
    ledger = pd.read_csv(tmp_path / "out" / "ledger.csv", dtype=str)
    return {row.run_id: str(Path(row.submission).parent) for row in ledger.itertuples()}


def test_compare_two_runs_by_folder_and_by_run_id(tmp_path, capsys):
    assert run_cli(tmp_path, "--stage", "all", *FAST) == 0
    assert run_cli(tmp_path, "--stage", "all", *FAST, "--set", "lgbm.num_leaves=4") == 0
    (id_a, folder_a), (id_b, folder_b) = run_folders(tmp_path).items()
    rows = pd.read_csv(Path(folder_a) / "row_losses.csv", index_col="id")
    assert {"fold", "group", "label", "loss_lgbm", "loss_blend", "predicted_blend"} <= set(rows.columns)
    capsys.readouterr()

    assert run_cli(tmp_path, "--stage", "compare", "--runs", folder_a, id_b) == 0
    out = capsys.readouterr().out
    assert "lgbm  " in out and "mlp  OOF  +0.0000" in out and "rows whose predicted class changed" in out
    [folder] = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("compare-")]
    overall = pd.read_csv(folder / "compare.csv").set_index("model")
    assert overall.loc["mlp", "difference"] == 0.0 and overall.loc["mlp", "verdict"] == "within noise"
    assert (
        overall.loc["lgbm", "low_95"] <= overall.loc["lgbm", "difference"] <= overall.loc["lgbm", "high_95"]
    )
    per_class = pd.read_csv(folder / "per_class.csv")
    assert set(per_class["model"]) == {"lgbm", "mlp", "blend"} and len(per_class) > 30
    assert (folder / "per_class_difference.png").read_bytes().startswith(b"\x89PNG")
    assert "per_class_difference.png" in (folder / "index.html").read_text()
    assert set(pd.read_csv(folder / "weights.csv", index_col=0).columns) == {
        f"A: {Path(folder_a).name}",
        f"B: {Path(folder_b).name}",
    }


def test_a_run_compared_with_itself_differs_by_nothing(tmp_path, capsys):
    """The first sanity check a user makes: both runs have one name, so nothing may be keyed by it."""
    assert run_cli(tmp_path, "--stage", "all", *FAST) == 0
    [(run_id, folder)] = run_folders(tmp_path).items()
    capsys.readouterr()
    assert run_cli(tmp_path, "--stage", "compare", "--runs", run_id, folder) == 0
    assert "rows whose predicted class changed: 0" in capsys.readouterr().out
    [compared] = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("compare-")]
    overall = pd.read_csv(compared / "compare.csv")
    assert (overall["difference"] == 0).all() and set(overall["verdict"]) == {"within noise"}
    weights = pd.read_csv(compared / "weights.csv", index_col=0)
    assert weights.iloc[:, 0].equals(weights.iloc[:, 1])


def test_runs_on_other_folds_are_refused_in_one_line(tmp_path, capsys):
    assert run_cli(tmp_path, "--stage", "all", *FAST) == 0
    assert run_cli(tmp_path, "--stage", "all", *FAST, "--set", "folds.seed=7") == 0
    folders = list(run_folders(tmp_path).values())
    capsys.readouterr()
    assert run_cli(tmp_path, "--stage", "compare", "--runs", *folders) == 2
    error = capsys.readouterr().err.strip()
    assert "different folds" in error and len(error.splitlines()) == 1
    assert run_cli(tmp_path, "--stage", "compare", "--runs", folders[0], "no-such-run") == 2
    assert "neither a run folder nor a run id" in capsys.readouterr().err


def test_runs_with_the_same_holdout_are_compared_on_its_rows_too(tmp_path, capsys):
    """Every reporting place carries the holdout: summary, run.json, ledger, run page, compare."""
    for extra in ((), ("--set", "lgbm.num_leaves=4")):
        assert run_cli(tmp_path, "--stage", "all", *FAST, "--holdout", "0.3", *extra) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("stage "))
    assert "holdout" in header and "submission pipeline (the blend, clipped as submitted)" in out
    assert "against blend (best by OOF)" in out or "against lgbm (best by OOF)" in out
    (id_a, folder_a), (id_b, folder_b) = run_folders(tmp_path).items()
    info = json.loads((Path(folder_a) / "run.json").read_text())
    assert info["holdout"]["rows"] > 300 and set(info["holdout"]["log_loss"]) == {"lgbm", "mlp", "blend"}
    assert (Path(folder_a) / "report" / "index.html").read_text().count("holdout log loss") == 1
    ledger = pd.read_csv(tmp_path / "out" / "ledger.csv", dtype=str)
    assert set(json.loads(ledger["holdout"].iloc[0])) == {"lgbm", "mlp", "blend"}
    assert json.loads(ledger["holdout_verdicts"].iloc[0])
    rows = pd.read_csv(Path(folder_a) / "row_losses.csv", index_col="id")
    assert (rows["fold"] == -1).sum() == info["holdout"]["rows"]

    assert run_cli(tmp_path, "--stage", "compare", "--runs", id_a, id_b) == 0
    [folder] = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("compare-")]
    overall = pd.read_csv(folder / "compare.csv")
    holdout = overall[overall["scope"] == "holdout rows"].set_index("model")
    assert (
        set(holdout.index) == {"lgbm", "mlp", "blend"} and (holdout["rows"] == info["holdout"]["rows"]).all()
    )
    assert holdout.loc["mlp", "difference"] == 0.0
