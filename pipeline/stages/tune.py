"""The tune stages: an Optuna study per model; each trial is the model's honest CV on the shared folds.

A trial trains the model through the same CV loop as training, a fold at a time, reporting the log
loss of the folds done so far, so the median pruner can stop a hopeless trial after any fold. The
study lives in a database (``pipeline/engine/studies.py``): a search killed mid-way resumes with its
finished trials, and several processes, or machines sharing a database, can run trials of one study
at once. The artifact is the best trial's settings, the trials table and Optuna's plots; a model
trained on them is labelled "settings tuned on these folds": its score chose them.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import joblib
import optuna
import pandas as pd
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState
from sqlalchemy.exc import IntegrityError, OperationalError

from models.registry import spec
from models.training import train_model
from pipeline.engine.codehash import code_hash
from pipeline.engine.errors import ConfigError
from pipeline.engine.files import figure_png
from pipeline.engine.parallel import planned_workers, run_tasks
from pipeline.engine.progress import progress
from pipeline.engine.redact import masked
from pipeline.engine.settings import section_fingerprint, toml_value
from pipeline.engine.studies import storage_url
from pipeline.validation.cv import TUNED_ON_THESE_FOLDS, ModelResult

if TYPE_CHECKING:
    from features.table import FeatureTable
    from pipeline.data.loading import Dataset
    from pipeline.stages.config import TuneTask
    from pipeline.validation.folds import Folds

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 30  # a trial silent this long (its process was killed) is failed and retried once
SEED_STEP = 1000
OPEN_ATTEMPTS = 5  # a new database's tables, created by another process meanwhile: retried
_memory_storage: optuna.storages.BaseStorage | None = None


@dataclass(frozen=True)
class TunedSettings:
    """The best trial's settings of one model's study, with every trial and Optuna's plots."""

    model: str
    params: dict
    best_score: float
    best_trial: int
    trials: pd.DataFrame
    study_name: str
    pictures: dict[str, bytes] = field(default_factory=dict)
    best_result: ModelResult | None = None
    """The best trial's own cross-validation (predictions and fold models), when this command ran
    it; the trainer then takes it instead of training the same settings on the same folds again.
    Never cached: a later command may run changed trainer code, and then trains them itself."""

    def __getstate__(self) -> dict:
        return {**self.__dict__, "best_result": None}

    @property
    def finished(self) -> int:
        return int(self.trials["state"].isin([s.name for s in FINISHED]).sum())

    def trained(self, name: str) -> ModelResult | None:
        """The best trial's result under the trainer's name and label (its settings were chosen on
        these folds); None when that trial ran in an earlier command: the trainer trains them again."""
        if self.best_result is None:
            return None
        result = self.best_result
        return dataclasses.replace(
            result,
            name=name,
            optimism=(*result.optimism, TUNED_ON_THESE_FOLDS),
            info={**result.info, "tuning_trial": self.best_trial},
        )

    def score_meta(self) -> dict:
        """The best CV log loss for the cache metadata and the summary, labelled: it chose itself."""
        reason = f"best of {self.finished} trials on these folds"
        return {"oof_score": self.best_score, "fold_scores": [], "optimism": [reason], "info": {}}

    def best_params_toml(self) -> str:
        """The best settings as a config file (``--config best_params.toml``)."""
        lines = [
            f"# Best of study {self.study_name}: trial {self.best_trial}, CV log loss {self.best_score:.5f}.",
            f"# Scores of models trained on them with these folds are optimistic: {TUNED_ON_THESE_FOLDS}.",
            f"[{self.model}]",
        ]
        lines += [f"{name} = {toml_value(value)}" for name, value in self.params.items()]
        return "\n".join(lines) + "\n"


def study_name(cfg: TuneTask, data: Dataset, features: FeatureTable, folds: Folds) -> str:
    """A name that changes with everything a trial's score depends on: search settings, space,
    model config, labels, features, folds and this code."""
    digest = hashlib.sha256(section_fingerprint(cfg).encode())
    digest.update(folds.signature.encode())
    digest.update(joblib.hash((data.labels, features.train, features.fitting)).encode())
    digest.update(code_hash("pipeline.stages.tune").encode())
    return f"{cfg.model}-{digest.hexdigest()[:16]}"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The study database at ``url`` (with heartbeats, so trials of a killed process are failed and
    retried), or this process's memory when ``url`` is empty."""
    global _memory_storage
    if not url:
        _memory_storage = _memory_storage or optuna.storages.InMemoryStorage()
        return _memory_storage
    for attempt in range(1, OPEN_ATTEMPTS + 1):
        try:
            return rdb_storage(url)
        except (IntegrityError, OperationalError) as error:  # another process may be creating the tables
            failure = error
            if attempt < OPEN_ATTEMPTS:
                time.sleep(0.2 * attempt)
        except Exception as error:  # SQLAlchemy's errors: a bad URL, a missing driver, no server
            failure = error
            break
    raise ConfigError(
        f"config: tune.storage {masked(url)!r}: cannot open ({masked(str(failure).splitlines()[0])})"
    ) from None


def rdb_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's database storage at ``url``, with heartbeats and one retry of a killed trial."""
    engine = {"connect_args": {"timeout": 300}} if url.startswith("sqlite") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeats
        storage = optuna.storages.RDBStorage(
            url,
            engine_kwargs=engine,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=GRACE_SECONDS,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1),
        )
    if url.startswith("sqlite"):
        serialize_sqlite_transactions(storage)
    return storage


def serialize_sqlite_transactions(storage: optuna.storages.RDBStorage) -> None:
    """Every transaction on the SQLite study starts with ``BEGIN IMMEDIATE`` (one writer at a time).
    Python's sqlite3 opens a transaction only at the first write, so two processes could both read a
    waiting trial (the configured one, a retried one) and both mark it running: the trial ran twice
    and the second ``tell`` failed ("Cannot tell a COMPLETE trial"). SQLite ignores the row lock
    optuna asks for (SELECT ... FOR UPDATE); an immediate transaction holds the lock from the read on."""
    from sqlalchemy import event

    @event.listens_for(storage.engine, "begin")
    def begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def finished_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def trials_toward_budget(study: optuna.Study, since: datetime.datetime) -> int:
    """Finished trials, plus running ones started at or after ``since`` (this search's workers, or a
    search beside it). Counting a trial another worker runs is what ends a search of several workers
    at ``n_trials`` finished trials instead of up to ``n_trials + workers - 1``; a trial left running
    by a killed earlier search started before ``since`` and does not count."""
    trials = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
    started = [trial.datetime_start for trial in trials if trial.state == TrialState.RUNNING]
    return len(trials) - len(started) + sum(start is not None and start >= since for start in started)


@dataclass
class StopAtBudget:
    """Optuna callback: after each trial, stop this worker once ``trials_toward_budget`` reaches
    ``n_trials``."""

    n_trials: int
    since: datetime.datetime

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trials_toward_budget(study, self.since) >= self.n_trials:
            study.stop()


def make_sampler(cfg: TuneTask, worker: int, done: int) -> optuna.samplers.BaseSampler:
    """Seeded multivariate TPE; a worker or a resumed search gets its own seed, so none repeats the
    random start-up trials of another."""
    startup = max(3, min(10, cfg.n_trials // 3))
    seed = cfg.seed + worker * SEED_STEP + done
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=startup)


def make_pruner(cfg: TuneTask) -> optuna.pruners.BasePruner:
    if cfg.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=cfg.pruner_startup_trials, n_warmup_steps=0)


def configured_settings(cfg: TuneTask) -> dict:
    """The model's own settings as a point of the search space: the study's first trial, so the
    search starts from what it should beat. The family says by which names it holds them (LightGBM's
    parameters count under any of their names). A value outside the space moves to its nearest point
    (LightGBM's depth without limit to the deepest); a choice the space lacks is left to the sampler."""
    trainer = spec(cfg.model).load_trainer()
    own = trainer.own_settings(cfg.base)
    start = {}
    for name, space in cfg.space.items():
        value = own.get(trainer.canonical_name(name))
        if "choices" in space:
            if value in space["choices"]:
                start[name] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            nearest = min(max(value, space["low"]), space["high"])
            start[name] = int(nearest) if space["int"] else float(nearest)
    return start


def suggest(trial: optuna.Trial, space: dict) -> dict:
    """One value per entry of the search space."""
    params = {}
    for name, entry in space.items():
        if "choices" in entry:
            params[name] = trial.suggest_categorical(name, entry["choices"])
        elif entry["int"]:
            params[name] = trial.suggest_int(name, int(entry["low"]), int(entry["high"]), log=entry["log"])
        else:
            params[name] = trial.suggest_float(
                name, float(entry["low"]), float(entry["high"]), log=entry["log"]
            )
    return params


def train_with(cfg: TuneTask, params: dict, data, features, folds, on_fold) -> ModelResult:
    """The model's CV on the shared folds with ``params`` on top of its config."""
    settings = spec(cfg.model).load_trainer().with_params(cfg.base, params)
    return train_model(data, features, folds, cfg=settings, family=cfg.model, on_fold=on_fold)


class Objective:
    """A trial: suggested settings, then the model's CV, reported fold by fold to the pruner. It
    keeps the best complete trial's result it ran, as (trial number, result)."""

    def __init__(self, cfg: TuneTask, data: Dataset, features: FeatureTable, folds: Folds):
        self.cfg, self.data, self.features, self.folds = cfg, data, features, folds
        self.best: tuple[int, ModelResult] | None = None

    def __call__(self, trial: optuna.Trial) -> float:
        params = suggest(trial, self.cfg.space)
        start, fold_scores = time.perf_counter(), []

        def on_fold(fold: int, fold_score: float, so_far: float) -> None:
            fold_scores.append(fold_score)
            trial.set_user_attr("fold_scores", list(fold_scores))
            trial.set_user_attr("seconds", round(time.perf_counter() - start, 1))
            trial.report(so_far, fold)
            if trial.should_prune():
                raise optuna.TrialPruned(f"after fold {fold}: {so_far:.5f}")

        result = train_with(self.cfg, params, self.data, self.features, self.folds, on_fold)
        if self.best is None or result.oof_score < self.best[1].oof_score:
            self.best = (trial.number, result)
        return result.oof_score


def run_trials(
    name: str, url: str, cfg: TuneTask, data, features, folds, worker: int, since: datetime.datetime
) -> tuple[int, ModelResult] | None:
    """One worker: trials of the study until it holds ``n_trials`` finished ones, counting those
    running since the search began (or until the timeout); its best complete trial, (number,
    result), or None."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url)
    existing = optuna.load_study(study_name=name, storage=storage)
    if trials_toward_budget(existing, since) >= cfg.n_trials:
        return None
    done = finished_trials(existing)
    study = optuna.load_study(
        study_name=name, storage=storage, sampler=make_sampler(cfg, worker, done), pruner=make_pruner(cfg)
    )
    objective = Objective(cfg, data, features, folds)
    study.optimize(objective, timeout=cfg.timeout or None, callbacks=[StopAtBudget(cfg.n_trials, since)])
    return objective.best


class TrialProgress:
    """A bar over the study's finished trials with the best score so far, read from the storage."""

    def __init__(self, study: optuna.Study, total: int, label: str):
        self.study, self.total, self.label = study, total, label
        self.done = threading.Event()

    def __enter__(self) -> TrialProgress:
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()

    def watch(self) -> None:
        bar = progress(None, total=self.total, desc=self.label, unit="trial")
        while not self.done.wait(1.0):
            trials = self.study.get_trials(deepcopy=False, states=FINISHED)
            values = [t.value for t in trials if t.state == TrialState.COMPLETE]
            bar.n = len(trials)
            bar.set_postfix(best=f"{min(values):.5f}" if values else "-", refresh=True)
        bar.close()


def tune_model(data: Dataset, features: FeatureTable, folds: Folds, cfg: TuneTask) -> TunedSettings:
    """Run (or resume) the model's study until it holds ``n_trials`` finished trials; its best."""
    name, url = study_name(cfg, data, features, folds), storage_url()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name, storage=open_storage(url), direction="minimize", load_if_exists=True
    )
    if not study.get_trials(deepcopy=False):
        study.enqueue_trial(configured_settings(cfg), user_attrs={"start": "configured"}, skip_if_exists=True)
    since = datetime.datetime.now()  # naive local time, as Optuna stamps a trial's start
    workers = planned_workers(max(1, cfg.n_trials - finished_trials(study))) if url else 1
    tasks = [(name, url, cfg, data, features, folds, worker, since) for worker in range(workers)]
    with TrialProgress(study, cfg.n_trials, f"tune {cfg.model} ({workers} workers)"):
        kept = [best for best in run_tasks(run_trials, tasks, desc=f"tune {cfg.model}") if best is not None]
    tuned = summarize(optuna.load_study(study_name=name, storage=open_storage(url)), cfg)
    ran_best = [result for number, result in kept if number == tuned.best_trial]
    return dataclasses.replace(tuned, best_result=ran_best[0] if ran_best else None)


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial: number, state, CV log loss, seconds, each fold's log loss, parameters."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        row = {"trial": trial.number, "state": trial.state.name, "cv_log_loss": trial.value}
        row["seconds"] = trial.user_attrs.get("seconds")
        row["start"] = trial.user_attrs.get("start", "sampled")
        row.update({f"fold_{k}": score for k, score in enumerate(trial.user_attrs.get("fold_scores", []))})
        row.update({f"param_{key}": value for key, value in trial.params.items()})
        rows.append(row)
    return pd.DataFrame(rows).set_index("trial")


def summarize(study: optuna.Study, cfg: TuneTask) -> TunedSettings:
    """The best complete trial's settings, the trials table and the plots."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise ConfigError(f"tune: no trial of {cfg.model} finished; raise tune.n_trials or tune.timeout")
    best = study.best_trial
    return TunedSettings(
        model=cfg.model,
        params=dict(best.params),
        best_score=float(best.value),
        best_trial=best.number,
        trials=trials_table(study),
        study_name=study.study_name,
        pictures=study_pictures(study, cfg.model),
    )


def study_pictures(study: optuna.Study, model: str) -> dict[str, bytes]:
    """Optuna's optimisation history and hyperparameter importances (matplotlib), as PNG bytes."""
    import matplotlib
    from optuna.visualization import matplotlib as plots

    pictures = {}
    with warnings.catch_warnings(), matplotlib.rc_context():  # Optuna's plots change the style
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        pictures[f"tune_{model}_history.png"] = figure_png(plots.plot_optimization_history(study).figure)
        try:
            pictures[f"tune_{model}_importances.png"] = figure_png(plots.plot_param_importances(study).figure)
        except (ValueError, RuntimeError, ZeroDivisionError):  # too few complete trials to rank
            pass
    return pictures
