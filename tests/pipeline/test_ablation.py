"""--stage ablate: variants as config overrides, one table, shared stages from the cache."""

import pandas as pd
import pytest
from testkit import run_cli

from pipeline.ablation import Variant, format_ablation, load_variants, with_differences
from pipeline.errors import ConfigError

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


def test_ablate_writes_one_table_and_reuses_shared_stages(tmp_path, capsys):
    path = tmp_path / "variants.toml"
    path.write_text(VARIANTS)
    assert run_cli(tmp_path, "--stage", "ablate", "--variants", str(path)) == 0
    out = capsys.readouterr().out
    header = (
        "| variant | model | OOF log loss (fold mean ± std) | vs baseline | honesty | seconds | from cache |"
    )
    assert header in out
    [folder] = [p for p in (tmp_path / "out").iterdir() if p.name.startswith("sample-ablation")]
    table = pd.read_csv(folder / "ablation.csv")
    assert list(table["variant"]) == ["baseline"] * 3 + ["mlp standard"] * 3 + ["lgbm only, goss"]
    assert list(table["model"]) == ["lgbm", "mlp", "blend", "lgbm", "mlp", "blend", "lgbm"]
    row = table.set_index(["variant", "model"])
    assert row.loc[("mlp standard", "lgbm"), "from_cache"] == "yes"  # LightGBM did not change
    assert row.loc[("mlp standard", "mlp"), "from_cache"] == "no"
    assert row.loc[("mlp standard", "lgbm"), "vs_baseline"] == 0.0
    goss = row.loc[("lgbm only, goss", "lgbm")]
    expected = goss["oof_mean"] - row.loc[("baseline", "lgbm"), "oof_mean"]
    assert goss["vs_baseline"] == pytest.approx(expected, abs=1e-6)
    assert (folder / "ablation.md").read_text().startswith("| variant |")
    assert set(table["honesty"]) == {"honest"}


def test_differences_compare_pruned_models_with_their_unpruned_baseline():
    rows = [
        {
            "variant": "baseline",
            "model": "lgbm",
            "oof_mean": 0.5,
            "oof_std": 0.1,
            "honesty": "honest",
            "seconds": 1,
            "from_cache": "no",
        },
        {
            "variant": "pruned",
            "model": "lgbm_pruned",
            "oof_mean": 0.4,
            "oof_std": 0.1,
            "honesty": "honest",
            "seconds": 1,
            "from_cache": "no",
        },
    ]
    table = with_differences(rows)
    assert table["vs_baseline"].tolist()[1] == pytest.approx(-0.1)
    assert "| pruned | lgbm_pruned | 0.4000 ± 0.1000 | -0.1000 | honest |" in format_ablation(table)


def test_a_variants_file_must_start_with_the_baseline(tmp_path):
    path = tmp_path / "v.toml"
    path.write_text('[[variant]]\nname = "x"\nset = ["mlp.hidden=8"]\n')
    with pytest.raises(ConfigError, match="baseline"):
        load_variants(path)
    with pytest.raises(ConfigError, match="not found"):
        load_variants(tmp_path / "missing.toml")
    assert Variant("a", ()).overrides == ()
