"""One typed config, a section per stage: defaults from TOML, a user TOML on top, then --set overrides."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, get_type_hints

from features.families import FAMILY_NAMES
from pipeline.errors import ConfigError

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_config.toml")
PRESET_DIR = Path(__file__).with_name("presets")
PRESETS = ("fast", "full", "winner", "tuned")
MODEL_NAMES = ("lgbm", "mlp", "lgbm_pruned", "mlp_pruned")
TUNABLE_MODELS = ("lgbm", "mlp")
SETTINGS = ("config", "tuned")
SPACE_KEYS = {"low", "high", "log", "int", "choices"}


def check_ranges(section: str, values: Any, checks: dict[str, bool]) -> None:
    """A config error naming the first key of ``values`` whose check is False."""
    for key, ok in checks.items():
        if not ok:
            raise ConfigError(f"config: {section}.{key} = {getattr(values, key)!r} is out of range")


def choice(default: Any, choices: tuple, **kwargs) -> Any:
    """A field whose value must be one of ``choices`` (checked when the config is loaded)."""
    return field(default=default, metadata={"choices": choices}, **kwargs)


@dataclass(frozen=True)
class SampleConfig:
    """The built-in simulated sample of Dacon's schema."""

    n_train: int = 30_000
    n_test: int = 3_000
    seed: int = 2020
    min_rows_per_class: int = 4
    confusion: float = 0.04
    outlier_share: float = 0.001
    duplicate_share: float = 0.0175


@dataclass(frozen=True)
class FeaturesConfig:
    """Which feature families make up the feature table."""

    families: tuple[str, ...] = choice(
        ("raw", "fiber_id", "colours", "cross_family", "row_stats"), FAMILY_NAMES
    )
    outlier_clip: float = 0.0
    outlier_drop: float = 0.0
    svd_components: int = 0
    ica_components: int = 0
    decomposition_fit: str = choice("fold", ("fold", "train+test"))
    fiber_stats: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            "outlier_clip": 0.0 <= self.outlier_clip < 0.5,
            "outlier_drop": 0.0 <= self.outlier_drop < 0.5,
            "svd_components": 0 <= self.svd_components <= 19,
            "ica_components": 0 <= self.ica_components <= 20,
        }
        check_ranges("features", self, checks)


@dataclass(frozen=True)
class FoldsConfig:
    """Stratified K-fold split shared by every model; duplicated photometry kept within one fold."""

    n_splits: int = 5
    seed: int = 42
    group_duplicates: bool = True


@dataclass(frozen=True)
class LgbmConfig:
    """LightGBM trainer: control keys here, every other key is a LightGBM parameter."""

    mode: str = choice("gbdt", ("gbdt", "dart", "goss"))
    num_boost_round: int = 3000
    early_stopping_rounds: int = 100
    early_stopping: str = choice("inner", ("inner", "valid_fold", "none"))
    inner_share: float = 0.1
    n_seeds: int = 1
    settings: str = choice("config", SETTINGS)
    params: dict = field(default_factory=dict)

    OPEN_KEYS = "params"

    def __post_init__(self) -> None:
        if self.n_seeds < 1 or self.num_boost_round < 1:
            raise ConfigError(f"config: lgbm.n_seeds and lgbm.num_boost_round must be >= 1: {self}")
        taken = {"boosting", "boosting_type", "boost", "data_sample_strategy"} & set(self.params)
        if taken:
            raise ConfigError(f"config: set lgbm.mode (gbdt | dart | goss), not lgbm.{sorted(taken)[0]}")


@dataclass(frozen=True)
class MlpConfig:
    """PyTorch MLP trainer: inputs scaled per fold, optional fiberID embedding and attention block."""

    scaling: str = choice(
        "robust_smooth", ("none", "standard", "minmax", "robust", "robust_smooth", "quantile")
    )
    clip_quantile: float = 0.001
    embedding_dim: int = 0
    architecture: str = choice("plain", ("plain", "attention", "tabm"))
    numeric_embedding: str = choice("periodic", ("none", "periodic", "piecewise"))
    numeric_embedding_dim: int = 16
    periodic_frequencies: int = 24
    periodic_scale: float = 0.1
    piecewise_bins: int = 32
    ensemble_size: int = 8
    hidden: int = 256
    depth: int = 2
    dropout: float = 0.1
    norm: str = choice("layer", ("layer", "batch", "none"))
    activation: str = choice("silu", ("relu", "gelu", "silu", "leaky_relu"))
    attention_dim: int = 8
    batch_size: int = 1024
    max_epochs: int = 60
    patience: int = 6
    large_rows: int = 100_000
    large_patience: int = 4
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = choice("plateau", ("plateau", "cosine", "onecycle", "coslog4", "constant"))
    label_smoothing: float = 0.0
    class_weight: str = choice("none", ("none", "balanced", "sqrt"))
    oversample_min_count: int = 0
    early_stopping: str = choice("inner", ("inner", "valid_fold", "none"))
    inner_share: float = 0.1
    seed: int = 42
    n_seeds: int = 1
    device: str = choice("auto", ("auto", "cpu", "cuda"))
    num_threads: int = 0
    settings: str = choice("config", SETTINGS)

    def __post_init__(self) -> None:
        checks = {
            "clip_quantile": 0.0 <= self.clip_quantile < 0.5,
            "embedding_dim": self.embedding_dim >= 0,
            "hidden": self.hidden > 0,
            "depth": self.depth >= 0,
            "dropout": 0.0 <= self.dropout < 1.0,
            "attention_dim": self.attention_dim > 0,
            "numeric_embedding_dim": self.numeric_embedding_dim > 0,
            "periodic_frequencies": self.periodic_frequencies > 0,
            "periodic_scale": self.periodic_scale > 0,
            "piecewise_bins": self.piecewise_bins >= 2,
            "ensemble_size": self.ensemble_size >= 1,
            "batch_size": self.batch_size > 0,
            "max_epochs": self.max_epochs > 0,
            "patience": self.patience > 0,
            "large_rows": self.large_rows >= 0,
            "large_patience": self.large_patience > 0,
            "learning_rate": self.learning_rate > 0,
            "label_smoothing": 0.0 <= self.label_smoothing < 1.0,
            "oversample_min_count": self.oversample_min_count >= 0,
            "inner_share": 0.0 <= self.inner_share < 1.0,
            "num_threads": self.num_threads >= 0,
            "n_seeds": self.n_seeds >= 1,
        }
        check_ranges("mlp", self, checks)


@dataclass(frozen=True)
class ImportanceConfig:
    """eli5 permutation importance of each fold's LightGBM model on that fold's inner held-out rows."""

    max_rows: int = 1000
    n_iter: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_rows < 1 or self.n_iter < 1:
            raise ConfigError(f"config: importance.max_rows and importance.n_iter must be >= 1: {self}")


@dataclass(frozen=True)
class SelectionConfig:
    """Which features the pruned models keep, from the ranked importances."""

    rule: str = choice("mean_minus_std", ("mean_minus_std", "mean_above", "top_k", "all"))
    threshold: float = 0.0
    k_std: float = 1.0
    top_k: int = 40


@dataclass(frozen=True)
class BlendConfig:
    """Blend of the models' OOF predictions; weights on the simplex minimise OOF log loss."""

    models: tuple[str, ...] = choice(("lgbm", "mlp", "lgbm_pruned"), MODEL_NAMES)
    method: str = choice("auto", ("auto", "linear", "geometric"))
    temperature: bool = True

    def __post_init__(self) -> None:
        if not self.models or len(set(self.models)) != len(self.models):
            names = list(self.models)
            raise ConfigError(f"config: blend.models must name one model or more, each once: {names}")


@dataclass(frozen=True)
class TuneConfig:
    """Optuna search (``--stage tune``): a study per model of ``models``, each with its space."""

    models: tuple[str, ...] = choice(("lgbm",), TUNABLE_MODELS)
    n_trials: int = 20
    timeout: float = 0.0
    seed: int = 0
    pruner: str = choice("median", ("median", "none"))
    pruner_startup_trials: int = 5
    storage: str = ""
    lgbm_space: dict = field(default_factory=dict)
    mlp_space: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = {
            "n_trials": self.n_trials >= 1,
            "timeout": self.timeout >= 0,
            "pruner_startup_trials": self.pruner_startup_trials >= 0,
        }
        check_ranges("tune", self, checks)
        object.__setattr__(self, "lgbm_space", check_space("tune.lgbm_space", self.lgbm_space, lgbm_key_ok))
        object.__setattr__(self, "mlp_space", check_space("tune.mlp_space", self.mlp_space, mlp_key_ok))

    def space(self, model: str) -> dict:
        return self.lgbm_space if model == "lgbm" else self.mlp_space


@dataclass(frozen=True)
class TuneTask:
    """What one model's study depends on (its cache key): the search settings, the model's space
    and the model's own config, which trials start from. Where the study is stored is not part of it."""

    model: str
    n_trials: int
    timeout: float
    seed: int
    pruner: str
    pruner_startup_trials: int
    space: dict
    base: Any


def lgbm_key_ok(name: str) -> bool:
    known = _lightgbm_parameter_names()
    return name not in ("boosting", "boosting_type", "boost", "objective", "num_class") and (
        known is None or name in known
    )


MLP_TUNABLE = {
    "scaling", "clip_quantile", "embedding_dim", "architecture", "hidden", "depth", "dropout", "norm",
    "activation", "attention_dim", "batch_size", "learning_rate", "weight_decay", "schedule",
    "numeric_embedding", "numeric_embedding_dim", "periodic_frequencies", "periodic_scale", "piecewise_bins",
    "ensemble_size",
    "label_smoothing", "class_weight", "oversample_min_count", "patience",
    "large_patience",
}  # fmt: skip


def mlp_key_ok(name: str) -> bool:
    return name in MLP_TUNABLE


def check_space(section: str, space: dict, key_ok) -> dict:
    """A search space: ``name = {low, high[, log][, int]}`` or ``{choices = [...]}``; ``name = false``
    removes a default entry. Anything else is a one-line config error."""
    if not isinstance(space, dict):
        raise ConfigError(f"config: {section} must be a table of parameters, got {space!r}")
    checked = {}
    for name, spec in space.items():
        if spec is False:
            continue
        where = f"config: {section}.{name}"
        if not key_ok(name):
            raise ConfigError(f"{where}: not a parameter that can be tuned")
        if not isinstance(spec, dict) or not spec or set(spec) - SPACE_KEYS:
            raise ConfigError(f"{where} must be {{low = .., high = .., log = true}} or {{choices = [..]}}")
        checked[name] = check_range(where, spec)
    return checked


def check_range(where: str, spec: dict) -> dict:
    if "choices" in spec:
        choices = spec["choices"]
        if set(spec) != {"choices"} or not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: choices must be a non-empty list, alone")
        return {"choices": list(choices)}
    low, high = spec.get("low"), spec.get("high")
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high))
    if not numbers or not low < high:
        raise ConfigError(f"{where}: needs numbers low < high, got low = {low!r}, high = {high!r}")
    if spec.get("log") and low <= 0:
        raise ConfigError(f"{where}: a log scale needs low > 0, got {low!r}")
    if spec.get("int") and not (float(low).is_integer() and float(high).is_integer()):
        raise ConfigError(f"{where}: an integer range needs whole low and high")
    return {"low": low, "high": high, "log": bool(spec.get("log")), "int": bool(spec.get("int"))}


@dataclass(frozen=True)
class ReportConfig:
    """The OOF report: how many confused pairs to list, how many confidence bins to plot."""

    top_pairs: int = 10
    bins: int = 10


@dataclass(frozen=True)
class SubmissionConfig:
    """Dacon submission: probabilities clipped to [clip, 1] and renormalised."""

    clip: float = 1e-6


@dataclass(frozen=True)
class ParallelConfig:
    """How folds and seeds are spread over workers. Not part of any cache key: results are the same."""

    backend: str = choice("processes", ("sequential", "processes", "dask"))
    n_jobs: int = 0
    scheduler: str = ""
    threads_per_worker: int = 0

    def __post_init__(self) -> None:
        if self.n_jobs < 0 or self.threads_per_worker < 0:
            raise ConfigError(f"config: parallel.n_jobs and threads_per_worker must be >= 0: {self}")
        if self.scheduler and not self.scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            raise ConfigError(
                f"config: parallel.scheduler must be an address like tcp://HOST:PORT, not {self.scheduler!r}"
            )


@dataclass(frozen=True)
class Config:
    """The whole run's configuration; each stage receives only its own section."""

    sample: SampleConfig = SampleConfig()
    features: FeaturesConfig = FeaturesConfig()
    folds: FoldsConfig = FoldsConfig()
    lgbm: LgbmConfig = LgbmConfig()
    mlp: MlpConfig = MlpConfig()
    importance: ImportanceConfig = ImportanceConfig()
    selection: SelectionConfig = SelectionConfig()
    blend: BlendConfig = BlendConfig()
    tune: TuneConfig = TuneConfig()
    report: ReportConfig = ReportConfig()
    submission: SubmissionConfig = SubmissionConfig()
    parallel: ParallelConfig = ParallelConfig()

    def section(self, name: str) -> Any:
        """The config section of one stage (``tune_<model>``: that model's study, see ``TuneTask``)."""
        if name.startswith("tune_"):
            return self.tune_task(name.removeprefix("tune_"))
        return getattr(self, name)

    def tune_task(self, model: str) -> TuneTask:
        tune = self.tune
        return TuneTask(
            model=model,
            n_trials=tune.n_trials,
            timeout=tune.timeout,
            seed=tune.seed,
            pruner=tune.pruner,
            pruner_startup_trials=tune.pruner_startup_trials,
            space=tune.space(model),
            base=dataclasses.replace(getattr(self, model), settings="config"),
        )

    def tuned_models(self) -> tuple[str, ...]:
        """The models configured to train on their tuned settings."""
        return tuple(model for model in TUNABLE_MODELS if getattr(self, model).settings == "tuned")


def section_fingerprint(section: Any) -> str:
    """Canonical JSON of a config section (part of a cache key)."""
    return json.dumps(dataclasses.asdict(section), sort_keys=True, default=list)


def load_config(path: Path | None = None, overrides: list[str] = (), preset: str | None = None) -> Config:
    """Defaults, then a preset (pipeline/presets/NAME.toml), then the user's TOML file, then
    ``section.key=value`` overrides."""
    raw: dict = {}
    _merge_layer(raw, _read_toml(DEFAULT_CONFIG_PATH), str(DEFAULT_CONFIG_PATH))
    if preset is not None:
        for layer in preset_layers(preset):
            _merge_layer(raw, layer, f"--preset {preset}")
    if path is not None:
        _merge_layer(raw, _read_toml(Path(path)), str(path))
    for item in overrides:
        _merge_layer(raw, parse_override(item), f"--set {item}")
    return build_config(raw)


def _merge_layer(raw: dict, layer: dict, source: str) -> None:
    """Merge one layer of the config (``source`` names it in errors) into those before it."""
    if isinstance(layer.get("lgbm"), dict):
        _replace_aliases(raw.get("lgbm", {}), layer["lgbm"], source)
    _merge(raw, layer)


def preset_layers(preset: str) -> list[dict]:
    """A preset's TOML, after the preset it ``extends`` (if any)."""
    if preset not in PRESETS:
        raise ConfigError(f"--preset {preset!r}: not one of {', '.join(PRESETS)}")
    layer = _read_toml(PRESET_DIR / f"{preset}.toml")
    base = layer.pop("extends", None)
    return [*(preset_layers(base) if base else []), layer]


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None


def parse_override(item: str) -> dict:
    """``lgbm.learning_rate=0.03`` -> ``{"lgbm": {"learning_rate": 0.03}}`` (values read as TOML);
    deeper keys nest: ``tune.lgbm_space.max_depth=false``."""
    key, sep, text = item.partition("=")
    parts = [part.strip() for part in key.split(".")]
    if not sep or len(parts) < 2 or not all(parts):
        raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. lgbm.learning_rate=0.03")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    for part in reversed(parts):
        value = {part: value}
    return value


def _merge(base: dict, update: dict) -> None:
    """Tables merge key by key; a search-space entry (low/high/choices) replaces the one before."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and not SPACE_KEYS & set(value):
            _merge(base[key], value)
        else:
            base[key] = value


def build_config(raw: dict) -> Config:
    """Check every key and type against the dataclasses and build the frozen config."""
    sections = {f.name: f.type for f in dataclasses.fields(Config)}
    hints = get_type_hints(Config)
    built = {}
    for name, values in raw.items():
        if name not in sections:
            raise ConfigError(_unknown("section", name, sections))
        if not isinstance(values, dict):
            raise ConfigError(f"config: [{name}] must be a table of keys, got {values!r}")
        built[name] = _build_section(name, hints[name], values)
    return Config(**built)


def _build_section(name: str, cls: type, values: dict) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = get_type_hints(cls)
    open_key = getattr(cls, "OPEN_KEYS", None)
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in values.items():
        if key in fields and key != open_key:
            kwargs[key] = _check_value(
                f"{name}.{key}", value, hints[key], fields[key].metadata.get("choices")
            )
        elif open_key is not None:
            extra.update(value if key == open_key and isinstance(value, dict) else {key: value})
        else:
            raise ConfigError(_unknown("key", f"{name}.{key}", [f"{name}.{k}" for k in fields]))
    if open_key is not None:
        kwargs[open_key] = _check_open_keys(name, extra)
    return cls(**kwargs)


def _check_value(key: str, value: Any, hint: Any, choices: tuple | None) -> Any:
    expected = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}.get(hint)
    if expected is not None:
        if isinstance(value, bool) and hint is not bool or not isinstance(value, expected):
            raise ConfigError(f"config: {key} must be {hint.__name__}, got {value!r}")
        value = float(value) if hint is float else value
    elif getattr(hint, "__origin__", None) is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"config: {key} must be a list of strings, got {value!r}")
        value = tuple(value)
    for item in value if isinstance(value, tuple) else (value,):
        if choices is not None and item not in choices:
            raise ConfigError(f"config: {key}: {item!r} is not one of {', '.join(map(repr, choices))}")
    return value


def _check_open_keys(section: str, params: dict) -> dict:
    """Reject keys that the section's library does not know (LightGBM's parameter list)."""
    known = _lightgbm_parameter_names() if section == "lgbm" else None
    for key in params:
        if known is not None and key not in known:
            raise ConfigError(_unknown("LightGBM parameter", f"{section}.{key}", sorted(known)))
    return dict(sorted(params.items()))


LIGHTGBM_PARAMS_PATH = Path(__file__).with_name("lightgbm_params.json")


def _lightgbm_parameter_names() -> frozenset[str] | None:
    """Every name LightGBM takes for a parameter (main names and aliases); None if unknown."""
    main_of = _lightgbm_main_names()
    return None if main_of is None else frozenset(main_of)


@functools.lru_cache(maxsize=1)
def _lightgbm_main_names() -> dict[str, str] | None:
    """Each LightGBM parameter name or alias -> the parameter's main name: from the table written for
    the installed version by tools/lightgbm_params.py (no LightGBM import), else from LightGBM
    itself; None if neither works."""
    try:
        stored = json.loads(LIGHTGBM_PARAMS_PATH.read_text(encoding="utf-8"))
        if stored["lightgbm"] == metadata.version("lightgbm"):
            aliases = stored["aliases"]
        else:
            aliases = None
    except (OSError, ValueError, KeyError, metadata.PackageNotFoundError):
        aliases = None
    if aliases is None:
        try:
            from lightgbm.basic import _ConfigAliases

            aliases = _ConfigAliases._get_all_param_aliases()
        except (ImportError, AttributeError):
            return None
    return {name: main for main, names in aliases.items() for name in (main, *names)}


def _replace_aliases(base: dict, update: dict, source: str) -> None:
    """A layer that names a LightGBM parameter replaces the value an earlier layer gave it under any
    of its names (``--set lgbm.min_child_samples=7`` over the defaults' ``min_data_in_leaf``); one
    layer naming a parameter twice is an error (LightGBM would silently keep one of the values)."""
    main_of = _lightgbm_main_names()
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


def _unknown(what: str, name: str, valid) -> str:
    valid = list(valid)
    close = difflib.get_close_matches(name, valid, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"valid: {', '.join(valid[:40])}"
    return f"config: unknown {what} '{name}'; {hint}"
