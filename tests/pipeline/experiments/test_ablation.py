"""--stage ablate: variants as config overrides, one table, shared stages from the cache."""

import numpy as np
import pandas as pd
import pytest
from testkit import run_cli

from pipeline.engine.errors import ConfigError
from pipeline.experiments.ablation import Baseline, Scored, Variant, load_variants
from pipeline.validation.folds import Folds

VARIANTS = """
[[variant]]
name = "baseline"
set = []

[[variant]]
name = "mlp standard"
set = ['mlp.scaling="standard"']

[[variant]]
name = "lgbm only, goss"
set = ['lgbm.mode="goss"', 'blend.models=["lgbm"]']
"""


def test_the_shipped_variants_cover_the_options_asked_for():
    names = " ".join(v.name for v in load_variants())
    for word in (
        "pairwise",
        "flux",
        "SVD",
        "ICA",
        "fiber",
        "clipped",
        "dropped",
        "dart",
        "goss",
        "seeds",
        "scaling",
        "oversampling",
        "attention",
        "embedding",
        "pruned",
        "- colours",
    ):
        assert word in names, word
    for variant in load_variants():  # every override parses into a valid config
        from pipeline.config import load_config

        load_config(overrides=list(variant.overrides))


def test_ablate_writes_one_table_with_paired_differences_and_reuses_shared_stages(tmp_path, capsys):
    path = tmp_path / "variants.toml"
    path.write_text(VARIANTS)
    assert run_cli(tmp_path, "--stage", "ablate", "--variants", str(path), "--seed-runs", "2") == 0
    out = capsys.readouterr().out
    assert (
        "| variant | model | OOF log loss (fold mean ± std) | vs baseline ± s.e. | 95 % interval | verdict"
        in out
    )
    [folder] = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("sample-ablation")]
    table = pd.read_csv(folder / "ablation.csv")
    seeds = ["baseline, seeds +1"] * 3 + ["baseline, seeds +2"] * 3
    assert list(table["variant"]) == ["baseline"] * 3 + seeds + ["mlp standard"] * 3 + ["lgbm only, goss"]
    row = table.set_index(["variant", "model"])
    assert row.loc[("mlp standard", "lgbm"), "from_cache"] == "yes"  # LightGBM did not change
    assert row.loc[("mlp standard", "mlp"), "from_cache"] == "no"
    unchanged = row.loc[("mlp standard", "lgbm")]
    assert unchanged["vs_baseline"] == 0.0 and unchanged["verdict"] in ("within noise", "within seed noise")
    goss = row.loc[("lgbm only, goss", "lgbm")]
    expected = goss["oof_mean"] - row.loc[("baseline", "lgbm"), "oof_mean"]  # fold means of ~equal folds
    assert goss["vs_baseline"] == pytest.approx(expected, abs=2e-3)
    assert goss["low_95"] <= goss["vs_baseline"] <= goss["high_95"]
    assert (
        row.loc[("baseline", "lgbm"), "seed_spread"] > 0 and row.loc[("baseline", "mlp"), "seed_spread"] > 0
    )
    assert (folder / "ablation.md").read_text().startswith("| variant |")
    assert set(table["honesty"]) == {"honest"}


def scored(model, losses, signature="f"):
    row = {"variant": "v", "model": model}
    return Scored(row, pd.Series(losses, index=pd.RangeIndex(len(losses), name="id")), signature)


def test_pruned_models_are_paired_with_their_unpruned_baseline_and_other_folds_are_not_paired():
    rng = np.random.default_rng(0)
    base_losses = rng.exponential(0.4, 600)
    labels = pd.Series(rng.integers(0, 3, 600), index=pd.RangeIndex(600, name="id"))
    folds = Folds(fold_of_row=pd.Series(np.arange(600) % 3, index=labels.index))
    baseline = Baseline({"lgbm": scored("lgbm", base_losses)}, labels, folds, seed_spread={})
    better = baseline.compare(scored("lgbm_pruned", base_losses - 0.1))
    assert better["vs_baseline"] == pytest.approx(-0.1) and better["verdict"] == "better"
    assert baseline.compare(scored("lgbm", base_losses, "other"))["verdict"] == "other folds: not paired"
    assert baseline.compare(scored("mlp", base_losses))["verdict"] == "—"


def test_a_variants_file_must_start_with_the_baseline(tmp_path):
    path = tmp_path / "v.toml"
    path.write_text('[[variant]]\nname = "x"\nset = ["mlp.hidden=8"]\n')
    with pytest.raises(ConfigError, match="baseline"):
        load_variants(path)
    with pytest.raises(ConfigError, match="not found"):
        load_variants(tmp_path / "missing.toml")
    assert Variant("a", ()).overrides == ()
