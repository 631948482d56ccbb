"""The sections of the stages that use models: importance, selection, blend, tune, submission.

Which models a setting may name comes from the model registry, so a new family is a valid choice
without an edit here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from models import registry
from pipeline.engine.errors import ConfigError
from pipeline.engine.settings import SEED_RANGE, SPACE_KEYS, check_in_range, setting


def check_names(key: str, names: tuple[str, ...], valid: tuple[str, ...]) -> None:
    for name in names:
        if name not in valid:
            raise ConfigError(f"config: {key}: {name!r} is not one of {', '.join(map(repr, valid))}")


@dataclass(frozen=True)
class ImportanceConfig:
    """eli5 PermutationImportance of each fold's model, scored by log loss on a stratified sample of
    that fold's inner held-out rows: rows its model did not fit on and that the scored fold never
    influenced. Each fold's pruned models keep what its own importances keep (honest)."""

    model: str = setting("lgbm", "the model whose fold models are permuted (any family)")
    max_rows: int = setting(1000, "validation rows per fold (stratified sample) that are shuffled")
    n_iter: int = setting(2, "shuffles per feature and fold")
    seed: int = setting(0)

    RANGES = {"max_rows": "[1, inf)", "n_iter": "[1, 100]", "seed": SEED_RANGE}

    def __post_init__(self) -> None:
        check_names("importance.model", (self.model,), registry.family_names())


@dataclass(frozen=True)
class SelectionConfig:
    """Which features the pruned models keep, fold by fold (mean/std: log-loss increase over that
    fold's shuffles)."""

    rule: str = setting(
        "mean_minus_std",
        "mean_minus_std: mean - k_std * std > threshold | mean_above: mean > threshold | top_k: the top_k "
        "by mean | all: no pruning",
        choices=("mean_minus_std", "mean_above", "top_k", "all"),
    )
    threshold: float = setting(0.0)
    k_std: float = setting(1.0)
    top_k: int = setting(40)

    RANGES = {"threshold": "(-inf, inf)", "k_std": "[0, 100]", "top_k": "[1, inf)"}


@dataclass(frozen=True)
class BlendConfig:
    """Models whose OOF predictions are blended (weights on the simplex fitted to OOF log loss).
    Scores: "honest" refits the weights on the other folds for each fold (nested); "optimistic" fits
    them on all OOF rows and scores the same rows. The blend's OOF predictions are the honest ones."""

    models: tuple[str, ...] = setting(
        ("lgbm", "mlp", "lgbm_pruned"), "any model stage: a family's name or <family>_pruned"
    )
    method: str = setting(
        "auto",
        "linear (mean of probabilities) | geometric (mean of log probabilities) | auto: whichever fits "
        "better (each fold chooses on the other folds) | stack: a level-2 multinomial logistic regression "
        "on the models' log-probabilities, nested by outer fold",
        choices=("auto", "linear", "geometric", "stack"),
    )
    temperature: bool = setting(True, "also fit one temperature for the blend (p ** (1/T), renormalised)")
    stack_form: str = setting(
        "per_class",
        "stack: per_class (a weight per model and class on the model's own log-probability of the class) | "
        "full (every class's logit sees every model's log-probability of every class)",
        choices=("per_class", "full"),
    )
    stack_penalty: tuple[float, ...] = setting(
        (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1),
        "stack: L2 strengths towards the geometric blend's weights that are tried; each outer fold "
        "chooses one by leave-one-fold-out CV on the other folds' rows",
    )
    stack_max_iter: int = setting(200, "stack: L-BFGS iterations per fit")

    RANGES = {"stack_penalty": "[0, inf)", "stack_max_iter": "[1, 100000]"}

    def __post_init__(self) -> None:
        if not self.stack_penalty:
            raise ConfigError("config: blend.stack_penalty = [] must hold one number or more (each >= 0)")
        if not self.models or len(set(self.models)) != len(self.models):
            names = list(self.models)
            raise ConfigError(f"config: blend.models must name one model or more, each once: {names}")
        check_names("blend.models", self.models, registry.model_stage_names())


def default_spaces() -> dict:
    """Each tunable family's own search space."""
    return {spec.name: dict(spec.space) for spec in registry.specs() if spec.tunable}


@dataclass(frozen=True)
class TuneConfig:
    """--stage tune: an Optuna study per model (TPE, seeded, multivariate; the median pruner stops a
    trial whose running CV log loss after a fold is worse than the median of earlier trials at that
    fold). Each trial is the model's honest CV on the shared folds, starting from its section above.
    A model trained with settings = "tuned" is labelled "settings tuned on these folds"."""

    models: tuple[str, ...] = setting(("lgbm",), "the tunable families (those with a search space)")
    n_trials: int = setting(20, "finished (complete or pruned) trials the study should hold; a rerun resumes")
    timeout: float = setting(0.0, "seconds one command may spend searching (0: no limit)")
    seed: int = setting(0)
    pruner: str = setting("median", "median | none", choices=("median", "none"))
    pruner_startup_trials: int = setting(5, "trials that always run every fold before the pruner judges")
    storage: str = setting(
        "",
        '"": sqlite:///<cache-dir>/tune/optuna.sqlite3; or any SQLAlchemy URL shared by several machines '
        "(postgresql://user@host/db, mysql://...)",
    )
    space: dict = dataclasses.field(
        default_factory=default_spaces,
        metadata={
            "doc": "Search spaces, one table per model: name = { low, high, log = true, int = true } or "
            "{ choices = [...] }; name = false drops an entry (--set tune.space.lgbm.max_depth=false). "
            "The defaults are each family's own (models/<family>/config.py).",
            "choices": None,
        },
    )

    RANGES = {
        "n_trials": "[1, 100000]",
        "timeout": "[0, inf)",
        "seed": SEED_RANGE,
        "pruner_startup_trials": "[0, 100000]",
    }

    def __post_init__(self) -> None:
        check_names("tune.models", self.models, registry.tunable_names())
        object.__setattr__(self, "space", check_spaces(self.space))


def check_spaces(spaces: Any) -> dict:
    """Every family's space checked; a family the config does not give keeps its default space."""
    if not isinstance(spaces, dict):
        raise ConfigError(f"config: tune.space must be a table with one table per model, got {spaces!r}")
    check_names("tune.space", tuple(spaces), registry.tunable_names())
    merged = {**default_spaces(), **spaces}
    return {
        model: check_space(
            f"tune.space.{model}",
            space,
            registry.spec(model).space_key_ok,
            getattr(registry.spec(model).section, "RANGES", {}),
        )
        for model, space in merged.items()
    }


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


def tune_task(tune: TuneConfig, model: str, section: Any) -> TuneTask:
    """The study of ``model``: the [tune] settings, its space, and its section with its own settings."""
    return TuneTask(
        model=model,
        n_trials=tune.n_trials,
        timeout=tune.timeout,
        seed=tune.seed,
        pruner=tune.pruner,
        pruner_startup_trials=tune.pruner_startup_trials,
        space=tune.space[model],
        base=dataclasses.replace(section, settings="config"),
    )


def check_space(section: str, space: dict, key_ok, ranges: dict | None = None) -> dict:
    """A search space: ``name = {low, high[, log][, int]}`` or ``{choices = [...]}``; ``name = false``
    removes a default entry; a setting's space lies inside its allowed range (``ranges``). Anything
    else is a one-line config error."""
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
        if name in (ranges or {}):
            ends = checked[name].get("choices") or [checked[name]["low"], checked[name]["high"]]
            check_in_range(f"{section}.{name}", ends, ranges[name])
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
class SubmissionConfig:
    """Dacon submission: probabilities clipped to [clip, 1] and renormalised."""

    clip: float = setting(
        1e-6, "probabilities are clipped to [clip, 1] and renormalised (at most 0.01: more flattens them)"
    )

    RANGES = {"clip": "[0, 0.01]"}
