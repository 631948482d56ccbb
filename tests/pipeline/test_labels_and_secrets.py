"""What a run shows and stores: an optimistic score says so everywhere it appears, and a password in a
URL appears nowhere."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from testkit import run_cli

GROUPING_OFF = "duplicated rows on both sides of a fold (folds.group_duplicates = false)"
STOPPED_ON_FOLD = "early stopping on the scored fold"
TUNED = "settings tuned on these folds"
OPTIMISTIC = [
    "--set", 'lgbm.early_stopping="valid_fold"', "--set", "folds.group_duplicates=false",
    "--set", 'lgbm.settings="tuned"', "--set", "tune.n_trials=2", "--set", "mlp.max_epochs=3",
]  # fmt: skip


def run_folder(out: Path) -> Path:
    [folder] = [p for p in out.iterdir() if p.is_dir() and (p / "run.json").exists()]
    return folder


def test_an_optimistic_run_says_why_in_summary_ledger_run_json_run_page_index_and_ablation(tmp_path, capsys):
    assert run_cli(tmp_path, "--stage", "all", *OPTIMISTIC) == 0
    summary = capsys.readouterr().out
    folder = run_folder(tmp_path / "out")
    lgbm_reasons, mlp_reasons = (GROUPING_OFF, STOPPED_ON_FOLD, TUNED), (GROUPING_OFF,)

    def says(label: str, reasons: tuple[str, ...]) -> bool:
        return label.startswith("optimistic: ") and all(reason in label for reason in reasons)

    lgbm_line = next(line for line in summary.splitlines() if line.startswith("lgbm "))
    assert "optimistic" in lgbm_line and STOPPED_ON_FOLD in summary and TUNED in summary
    ledger = pd.read_csv(tmp_path / "out" / "ledger.csv", dtype=str)
    honesty = json.loads(ledger["honesty"].iloc[-1])
    info = json.loads((folder / "run.json").read_text())
    for labels in (honesty, info["honesty"]):
        assert says(labels["lgbm"], lgbm_reasons) and says(labels["mlp"], mlp_reasons)
        assert says(labels["blend"], lgbm_reasons)
    assert TUNED not in labels["mlp"] and STOPPED_ON_FOLD not in labels["mlp"]
    page = (folder / "report" / "index.html").read_text()
    assert all(reason in page for reason in lgbm_reasons)
    index = (tmp_path / "out" / "index.html").read_text()
    assert "optimistic" in index and ">honest<" not in index

    variants = tmp_path / "variants.toml"
    variants.write_text('[[variant]]\nname = "baseline"\nset = []\n')
    assert run_cli(tmp_path, "--stage", "ablate", *OPTIMISTIC, "--variants", str(variants)) == 0
    [ablation] = (tmp_path / "out").glob("*-ablation-*/ablation.csv")
    table = pd.read_csv(ablation).set_index("model")
    assert says(table.loc["lgbm", "honesty"], lgbm_reasons) and says(table.loc["mlp", "honesty"], mlp_reasons)


def test_a_password_in_the_study_storage_url_reaches_no_output(tmp_path, capsys):
    url = "postgresql://alice:s3cr3t-pw@db.example.org:5432/studies"
    assert (
        run_cli(tmp_path, "--stage", "all", "--set", "mlp.max_epochs=3", "--set", f'tune.storage="{url}"')
        == 0
    )
    captured = capsys.readouterr()
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "run.json" for p in written) and any(p.name == "ledger.csv" for p in written)
    leaks = [str(p) for p in written if b"s3cr3t-pw" in p.read_bytes()]
    assert leaks == [] and "s3cr3t-pw" not in captured.out + captured.err
    info = json.loads(run_folder(tmp_path / "out").joinpath("run.json").read_text())
    assert info["config"]["tune"]["storage"] == "postgresql://alice:***@db.example.org:5432/studies"
    ledger = pd.read_csv(tmp_path / "out" / "ledger.csv", dtype=str)
    assert "postgresql://alice:***@db.example.org" in ledger["options"].iloc[-1]

    assert run_cli(tmp_path, "--stage", "tune", "--set", f'tune.storage="{url}"') == 2
    error = capsys.readouterr().err
    assert "s3cr3t-pw" not in error and "alice:***@" in error and len(error.splitlines()) == 1
