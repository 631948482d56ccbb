import pytest

from pipeline.config import load_config, parse_override
from pipeline.engine.errors import ConfigError


def test_defaults_load_with_lightgbm_parameters_in_params():
    config = load_config()
    assert config.folds.n_splits == 5
    assert config.lgbm.params["learning_rate"] == 0.05
    assert "raw" in config.features.families


def test_set_override_reads_values_as_toml():
    config = load_config(
        overrides=["lgbm.learning_rate=0.03", "folds.n_splits=3", "features.families=['raw']"]
    )
    assert config.lgbm.params["learning_rate"] == 0.03
    assert config.folds.n_splits == 3
    assert config.features.families == ("raw",)


def test_user_toml_file_overrides_defaults(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("[lgbm]\nnum_leaves = 15\n[sample]\nn_train = 1000\n")
    config = load_config(path)
    assert config.lgbm.params["num_leaves"] == 15
    assert config.sample.n_train == 1000
    assert config.sample.n_test == load_config().sample.n_test


@pytest.mark.parametrize(
    "override, words",
    [
        ("folds.n_split=3", ["folds.n_split", "folds.n_splits"]),
        ("fold.n_splits=3", ["fold", "folds"]),
        ("lgbm.learnin_rate=0.1", ["lgbm.learnin_rate", "learning_rate"]),
        ("folds.n_splits='five'", ["folds.n_splits", "int"]),
        ("sample.confusion=true", ["sample.confusion", "float"]),
        ("lgbm.early_stopping='sometimes'", ["'inner'", "'valid_fold'"]),
        ("features.families=['raw','colors']", ["'colors'", "'colours'"]),
        ("blend.models=['rf']", ["'rf'", "'lgbm'", "'catboost'"]),
        ("blend.models=[]", ["blend.models", "one model or more"]),
    ],
)
def test_bad_keys_and_values_are_named_with_valid_choices(override, words):
    with pytest.raises(ConfigError) as error:
        load_config(overrides=[override])
    message = str(error.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def test_override_without_section_is_rejected():
    with pytest.raises(ConfigError, match="SECTION.KEY=VALUE"):
        parse_override("learning_rate=0.1")


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")


@pytest.mark.parametrize("preset", ["fast", "full", "winner"])
def test_every_preset_loads_and_user_settings_still_win(preset):
    config = load_config(overrides=["lgbm.num_leaves=5"], preset=preset)
    assert config.lgbm.params["num_leaves"] == 5


def test_winner_preset_is_lightgbm_dart_on_row_stats_and_pairwise_differences_pruned():
    config = load_config(preset="winner")
    assert config.lgbm.mode == "dart"
    assert {"row_stats", "pairwise"} <= set(config.features.families)
    assert config.blend.models == ("lgbm_pruned",)


def test_unknown_preset_is_a_config_error():
    with pytest.raises(ConfigError, match="fast, full, winner"):
        load_config(preset="fastest")


def test_parallel_settings_are_not_in_any_stage_key(tmp_path):
    from testkit import make_runner

    keys = {}
    for backend in ("sequential", "processes", "dask"):
        config = load_config(overrides=[f'parallel.backend="{backend}"', "parallel.n_jobs=3"])
        runner = make_runner(config, tmp_path)
        keys[backend] = [runner.key(name) for name in runner.graph]
    assert keys["sequential"] == keys["processes"] == keys["dask"]


def test_the_shipped_lightgbm_parameter_list_matches_the_installed_lightgbm():
    """Checking [lgbm] keys reads models/lgbm/lightgbm_params.json instead of importing LightGBM; the file
    must say what LightGBM itself says (rerun tools/lightgbm_params.py after an upgrade)."""
    import json
    from importlib import metadata

    from lightgbm.basic import _ConfigAliases

    from models.lgbm.config import LIGHTGBM_PARAMS_PATH

    stored = json.loads(LIGHTGBM_PARAMS_PATH.read_text())
    if stored["lightgbm"] != metadata.version("lightgbm"):
        pytest.skip(
            "another LightGBM is installed: keys are checked by importing it (tools/lightgbm_params.py)"
        )
    aliases = _ConfigAliases._get_all_param_aliases()
    assert set(stored["names"]) == set(aliases) | {a for names in aliases.values() for a in names}
    assert stored["aliases"] == {main: list(names) for main, names in aliases.items()}


def test_a_later_layer_naming_a_lightgbm_parameter_by_an_alias_replaces_the_earlier_value():
    params = load_config(overrides=["lgbm.min_child_samples=7"]).lgbm.params
    assert params["min_child_samples"] == 7 and "min_data_in_leaf" not in params
    params = load_config(overrides=["lgbm.min_child_samples=7", "lgbm.min_data_in_leaf=9"]).lgbm.params
    assert params["min_data_in_leaf"] == 9 and "min_child_samples" not in params
    assert load_config(overrides=["lgbm.num_boost_round=5"]).lgbm.num_boost_round == 5  # own keys as they are


def test_one_layer_naming_a_lightgbm_parameter_twice_is_a_one_line_error(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text("[lgbm]\nreg_alpha = 1.0\nlambda_l1 = 2.0\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert "lgbm.reg_alpha and lgbm.lambda_l1" in message and "(lambda_l1)" in message


def test_defaults_are_written_once_the_sections_and_load_config_agree():
    """Every section's defaults are its dataclass's; loading with no layer gives exactly them."""
    from pipeline.config import Config

    assert load_config() == Config()
    assert load_config().lgbm.params["learning_rate"] == 0.05  # LightGBM's parameters are defaults too


def test_the_shipped_defaults_file_is_what_the_sections_write():
    """pipeline/default_config.toml is generated (python -m pipeline.config): edit the sections, not it."""
    from pipeline.config import DEFAULT_CONFIG_PATH, default_config_toml

    assert DEFAULT_CONFIG_PATH.read_text(encoding="utf-8") == default_config_toml()


def test_the_defaults_file_read_back_is_the_default_config():
    import tomllib

    from pipeline.config import DEFAULT_CONFIG_PATH, Config, build_config

    assert build_config(tomllib.loads(DEFAULT_CONFIG_PATH.read_text(encoding="utf-8"))) == Config()


def test_every_setting_has_a_doc_or_a_self_explaining_name():
    """The defaults file documents the settings: a section without a docstring is refused."""
    from pipeline.config import Config

    for name in Config().names:
        assert (type(Config().section(name)).__doc__ or "").strip(), name


def numeric_fields(cls):
    """The fields of a section that hold numbers (or lists of numbers)."""
    import dataclasses
    from typing import get_type_hints

    hints = get_type_hints(cls)
    return [
        f.name
        for f in dataclasses.fields(cls)
        if hints[f.name] in (int, float) or hints[f.name] == tuple[float, ...]
    ]


def test_every_numeric_setting_declares_its_range_and_its_default_lies_inside():
    from pipeline.config import section_classes
    from pipeline.engine.settings import check_in_range, parse_bounds

    for name, cls in section_classes().items():
        ranges = getattr(cls, "RANGES", {})
        missing = [key for key in numeric_fields(cls) if key not in ranges]
        assert not missing, f"[{name}] has no declared range for {missing}"
        for key, bounds in ranges.items():
            parse_bounds(bounds)
            check_in_range(f"{name}.{key}", getattr(cls(), key), bounds)


@pytest.mark.parametrize(
    "override, allowed",
    [
        ("lgbm.inner_share=-0.1", "0 < inner_share <= 0.5"),
        ("submission.clip=0.5", "0 <= clip <= 0.01"),
        ("report.top_pairs=-3", "0 <= top_pairs <= 342"),
        ("report.bins=1", "2 <= bins <= 100"),
        ("folds.n_splits=1", "2 <= n_splits <= 50"),
        ("sample.n_train=10", "200 <= n_train"),
        ("holdout.share=0.9", "0 <= share <= 0.5"),
        ("mlp.dropout=1.0", "0 <= dropout < 1"),
        ("mlp.learning_rate=inf", "0 < learning_rate <= 1"),
        ("xgb.subsample=nan", "0 < subsample <= 1"),
        ("importance.n_iter=0", "1 <= n_iter <= 100"),
        ("blend.stack_penalty=[0.1, -1.0]", "stack_penalty >= 0"),
        ("tune.timeout=-5", "timeout >= 0"),
        ("parallel.n_jobs=-1", "0 <= n_jobs <= 1024"),
        ("tune.space.mlp.dropout={low = 0.0, high = 1.5}", "0 <= dropout < 1"),
    ],
)
def test_a_setting_out_of_its_range_is_refused_naming_key_value_and_range(override, allowed):
    key, _, value = override.partition("=")
    with pytest.raises(ConfigError) as error:
        load_config(overrides=[override])
    message = str(error.value)
    assert message.startswith(f"config: {key.rsplit('.', 1)[0] if 'space' in key else key}")
    assert "out of range" in message and f"allowed: {allowed}" in message and "\n" not in message


def test_a_section_built_in_python_is_range_checked_too():
    import dataclasses

    from models.lgbm.config import LgbmConfig
    from pipeline.config import Config

    with pytest.raises(ConfigError, match="lgbm.inner_share = -1.0 is out of range"):
        Config(lgbm=dataclasses.replace(LgbmConfig(), inner_share=-1.0))


@pytest.mark.parametrize(
    "override, words",
    [
        ('lgbm.learning_rate="fast"', "lgbm.learning_rate = 'fast': LightGBM refuses it (not a number)"),
        ("lgbm.bagging_fraction=1.5", "it requires bagging_fraction <= 1.0"),
        ('lgbm.seed="a"', "lgbm.seed = 'a': LightGBM refuses it"),
        ("lgbm.num_leaves=[3, 4]", "a LightGBM parameter takes one value"),
    ],
)
def test_a_lightgbm_parameter_lightgbm_refuses_is_a_config_error_before_any_training(override, words, capfd):
    with pytest.raises(ConfigError) as error:
        load_config(overrides=[override])
    assert words in str(error.value)
    out, err = capfd.readouterr()
    assert out == "" and err == "", "LightGBM's own output must not reach the terminal"
