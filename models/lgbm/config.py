"""The lgbm section, its search space and LightGBM's parameter names (read without importing LightGBM)."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from pipeline.engine.errors import ConfigError
from pipeline.engine.settings import setting, unknown

LIGHTGBM_PARAMS_PATH = Path(__file__).with_name("lightgbm_params.json")
DEFAULT_PARAMS = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "min_sum_hessian_in_leaf": 1.0,
    "lambda_l2": 1.0,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "max_bin": 255,
    "seed": 42,
    "num_threads": 0,
    "deterministic": True,
    "force_col_wise": True,
}
PARAM_DOCS = {
    "min_sum_hessian_in_leaf": "keeps leaf values of rare classes from exploding",
    "num_threads": "0: all cores",
}
SPACE = {
    "learning_rate": {"low": 0.01, "high": 0.15, "log": True},
    "num_leaves": {"low": 7, "high": 127, "log": True, "int": True},
    "max_depth": {"low": 4, "high": 12, "int": True},
    "min_data_in_leaf": {"low": 5, "high": 150, "log": True, "int": True},
    "min_sum_hessian_in_leaf": {"low": 0.001, "high": 10.0, "log": True},
    "feature_fraction": {"low": 0.2, "high": 1.0},
    "bagging_fraction": {"low": 0.5, "high": 1.0},
    "lambda_l1": {"low": 0.001, "high": 10.0, "log": True},
    "lambda_l2": {"low": 0.001, "high": 30.0, "log": True},
}
MODE_KEYS = {"boosting", "boosting_type", "boost", "data_sample_strategy"}


@dataclass(frozen=True)
class LgbmConfig:
    """LightGBM trainer: the keys below are the trainer's own; every other key of [lgbm] is a
    LightGBM parameter, passed to lgb.train as is (a misspelt one is refused with the closest names)."""

    mode: str = setting(
        "gbdt",
        "gbdt | dart (fixed num_boost_round, no early stopping) | goss",
        choices=("gbdt", "dart", "goss"),
    )
    n_seeds: int = setting(1, "boosters per fold with seeds seed, seed + 1000, ...; probabilities averaged")
    num_boost_round: int = setting(3000)
    early_stopping_rounds: int = setting(100)
    early_stopping: str = setting(
        "inner",
        '"inner": hold out a stratified share of each fold\'s training rows (whole duplicate groups) and '
        "stop on it (honest CV; permutation importance is measured on these rows, dart only holds them "
        'out); "valid_fold": stop on the scored fold itself (labelled optimistic, as many notebooks do); '
        '"none": no held-out rows, num_boost_round rounds on every training row (no importance possible).',
        choices=("inner", "valid_fold", "none"),
    )
    inner_share: float = setting(0.1)
    settings: str = setting(
        "config",
        "config: the parameters below | tuned: the best of the tune_lgbm study",
        choices=("config", "tuned"),
    )
    params: dict = setting(
        DEFAULT_PARAMS, "Every other key is a LightGBM parameter, passed to lgb.train as is."
    )

    OPEN_KEYS = "params"
    OPEN_KEY_DOCS = PARAM_DOCS
    RANGES = {
        "n_seeds": "[1, 100]",
        "num_boost_round": "[1, inf)",
        "early_stopping_rounds": "[1, inf)",
        "inner_share": "(0, 0.5]",
    }

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", dict(sorted(self.params.items())))
        taken = MODE_KEYS & set(self.params)
        if taken:
            raise ConfigError(f"config: set lgbm.mode (gbdt | dart | goss), not lgbm.{sorted(taken)[0]}")

    @staticmethod
    def check_open_keys(section: str, params: dict) -> dict:
        """Refuse keys LightGBM does not know (its parameter list of the installed version) and values
        it refuses (a string where a number belongs, a bagging_fraction above 1, ...)."""
        known = lightgbm_parameter_names()
        for key in params:
            if known is not None and key not in known:
                raise ConfigError(unknown("LightGBM parameter", f"{section}.{key}", sorted(known)))
        if params != DEFAULT_PARAMS:
            check_lightgbm_values(section, params)
        return dict(sorted(params.items()))

    @staticmethod
    def merge_layer(base: dict, update: dict, source: str) -> None:
        """A layer that names a LightGBM parameter replaces the value an earlier layer gave it under any
        of its names (``--set lgbm.min_child_samples=7`` over the defaults' ``min_data_in_leaf``); one
        layer naming a parameter twice is an error (LightGBM would silently keep one of the values)."""
        main_of = lightgbm_main_names()
        if main_of is None:
            return
        own = {f.name for f in dataclasses.fields(LgbmConfig)}
        named: dict[str, str] = {}
        for key in update:
            main = main_of.get(key)
            if key in own or main is None:
                continue
            if main in named:
                raise ConfigError(
                    f"{source}: lgbm.{named[main]} and lgbm.{key} are one LightGBM parameter ({main}): "
                    "give it once"
                )
            named[main] = key
            for earlier in [k for k in base if k != key and k not in own and main_of.get(k) == main]:
                del base[earlier]


def check_lightgbm_values(section: str, params: dict) -> None:
    """A config error naming the first parameter whose value LightGBM refuses, in LightGBM's words."""
    for key, value in params.items():
        if isinstance(value, (list, dict)) or value is None:
            raise ConfigError(f"config: {section}.{key} = {value!r}: a LightGBM parameter takes one value")
    if lightgbm_refusal(tuple(sorted(params.items(), key=str))) is None:
        return
    for key, value in params.items():
        why = lightgbm_refusal(((key, value),))
        if why is not None:
            raise ConfigError(f"config: {section}.{key} = {value!r}: LightGBM refuses it ({why})")
    raise ConfigError(f"config: [{section}]: LightGBM refuses these parameters together ({why})")


@functools.lru_cache(maxsize=256)
def lightgbm_refusal(items: tuple) -> str | None:
    """Why LightGBM refuses these parameters for a multiclass booster (None: it takes them, or
    LightGBM is not installed), found by building one on six rows with its C++ output silenced."""
    try:
        import lightgbm as lgb
        import numpy as np
    except ImportError:
        return None
    params = {**dict(items), "objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1}
    rows = np.arange(12.0).reshape(6, 2)
    with native_output_silenced():
        try:
            lgb.Booster(params=params, train_set=lgb.Dataset(rows, [0, 1, 2, 0, 1, 2]))
        except Exception as error:  # LightGBMError, or a Python-side TypeError/ValueError
            text = str(error).splitlines()[0] if str(error) else type(error).__name__
            text = text.split(" at /")[0].strip().rstrip(".")
            check = re.fullmatch(r"Check failed: \((\w+)\) (\S+) \(([^)]*)\)", text)
            if check:
                return f"it requires {check[1]} {check[2]} {check[3]}"
            return "not a number" if text.startswith("Unknown token") else text
    return None


@contextlib.contextmanager
def native_output_silenced():
    """File descriptors 1 and 2 to /dev/null for the while (C++ libraries write to them directly)."""
    sys.stdout.flush(), sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1), os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1), os.dup2(saved[1], 2)
        for handle in (*saved, null):
            os.close(handle)


def space_key_ok(name: str) -> bool:
    """A LightGBM parameter other than the mode and the objective."""
    known = lightgbm_parameter_names()
    return name not in ("boosting", "boosting_type", "boost", "objective", "num_class") and (
        known is None or name in known
    )


def lightgbm_parameter_names() -> frozenset[str] | None:
    """Every name LightGBM takes for a parameter (main names and aliases); None if unknown."""
    main_of = lightgbm_main_names()
    return None if main_of is None else frozenset(main_of)


@functools.lru_cache(maxsize=1)
def lightgbm_main_names() -> dict[str, str] | None:
    """Each LightGBM parameter name or alias -> the parameter's main name: from the table written for
    the installed version by tools/lightgbm_params.py (no LightGBM import), else from LightGBM
    itself; None if neither works."""
    try:
        stored = json.loads(LIGHTGBM_PARAMS_PATH.read_text(encoding="utf-8"))
        aliases = stored["aliases"] if stored["lightgbm"] == metadata.version("lightgbm") else None
    except (OSError, ValueError, KeyError, metadata.PackageNotFoundError):
        aliases = None
    if aliases is None:
        try:
            from lightgbm.basic import _ConfigAliases

            aliases = _ConfigAliases._get_all_param_aliases()
        except (ImportError, AttributeError):
            return None
    return {name: main for main, names in aliases.items() for name in (main, *names)}
