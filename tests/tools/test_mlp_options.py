"""tools/mlp_options.py: LightGBM predictions exported from a cache, MLP options blended with them."""

import importlib.util
import json
from pathlib import Path

import pytest
from testkit import TINY, make_runner

from pipeline.config import load_config

TOOL = Path(__file__).resolve().parents[2] / "tools" / "mlp_options.py"
spec = importlib.util.spec_from_file_location("mlp_options", TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)

ROWS = 1500
MODELS = [o for o in TINY if not o.startswith(("sample.", "blend."))]


def test_exported_lightgbm_predictions_blend_with_each_option_on_the_same_rows_and_folds(tmp_path):
    config = load_config(overrides=[*tool.sample_rows(ROWS), *MODELS])
    runner = make_runner(config, tmp_path / "cache")
    runner.run("lgbm_pruned")
    exported = tmp_path / "lgbm_oof.npz"
    tool.export(tmp_path / "cache", exported)
    options = [("default", []), ("piecewise", ['mlp.numeric_embedding="piecewise"'])]
    report = tool.train(exported, ROWS, tmp_path / "options.json", options, extra=MODELS)
    assert [row["option"] for row in report] == ["default", "piecewise"]
    assert report[0]["verdict"] == "-" and report[0]["blend_vs_first"] == 0.0
    assert all(0 < row["blend"] < row["mlp_fold_mean"] + 0.5 for row in report)
    assert json.loads((tmp_path / "options.json").read_text()) == report
    with pytest.raises(SystemExit, match="other rows"):
        tool.train(exported, ROWS + 1, tmp_path / "other.json", options[:1], extra=MODELS)


def test_chosen_options_keep_the_default_first_and_name_an_unknown_one():
    assert tool.chosen(tool.OPTIONS, []) == tool.OPTIONS
    picked = tool.chosen(tool.OPTIONS, ["scaling quantile", "coslog4", "without the smooth"])
    assert [name for name, _ in picked][0] == tool.OPTIONS[0][0]
    assert [name for name, _ in picked][1:] == [
        "coslog4 schedule (RealMLP)",
        "robust scaling without the smooth clip",
        "scaling quantile",
    ]
    with pytest.raises(SystemExit, match="'warp drive'"):
        tool.chosen(tool.OPTIONS, ["warp drive"])
