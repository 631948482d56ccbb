"""The CatBoost family's trainer: one MultiClass model per fold (and seed), on the CPU or a GPU."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import catboost
import numpy as np

from models.devices import resolve_device
from models.training import FamilyTrainer
from pipeline.engine.parallel import worker_threads
from pipeline.validation.cv import ModelResult

if TYPE_CHECKING:
    from models.catboost.config import CatboostConfig

SEED_STEP = 1000  # seed k of a fold trains with seed + k * SEED_STEP


def model_params(cfg: CatboostConfig, n_classes: int, seed: int) -> dict:
    """CatBoost's parameters: MultiClass over all ``n_classes`` (``class_names``, so a class the fit
    rows lack still gets its column), no files written, silent."""
    device = resolve_device("catboost", cfg.device)
    params = {
        "loss_function": "MultiClass",
        "class_names": list(range(n_classes)),
        "learning_rate": cfg.learning_rate,
        "depth": cfg.depth,
        "l2_leaf_reg": cfg.l2_leaf_reg,
        "border_count": cfg.border_count,
        "random_strength": cfg.random_strength,
        "iterations": cfg.iterations,
        "random_seed": seed,
        "task_type": "GPU" if device == "cuda" else "CPU",
        "allow_writing_files": False,
        "logging_level": "Silent",
    }
    if cfg.rsm < 1 and device == "cpu":
        params["rsm"] = cfg.rsm
    if cfg.bagging_temperature > 0:
        params.update(bootstrap_type="Bayesian", bagging_temperature=cfg.bagging_temperature)
    else:
        params["bootstrap_type"] = "No"
    return params


class CatboostFoldModel:
    """One fold's model: fitted on the fit rows, stopping early on the held-out rows when there are
    any (the best iteration is kept); ``n_classes`` columns in class order."""

    def __init__(self, params: dict, early_stopping_rounds: int, num_threads: int):
        self.params = params
        self.early_stopping_rounds = early_stopping_rounds
        self.num_threads = num_threads
        self.classifier: catboost.CatBoostClassifier | None = None

    def fit(self, x_fit, y_fit, x_stop, y_stop) -> None:
        threads = self.num_threads or worker_threads(results_depend_on_threads=False)
        self.classifier = catboost.CatBoostClassifier(**self.params, thread_count=threads)
        quiet = {"log_cout": io.StringIO(), "log_cerr": io.StringIO()}  # "found only 18 classes" of a fold
        if x_stop is not None and len(x_stop):
            self.classifier.fit(
                x_fit, y_fit, eval_set=(x_stop, y_stop), early_stopping_rounds=self.early_stopping_rounds,
                use_best_model=True, **quiet,
            )  # fmt: skip
        else:
            self.classifier.fit(x_fit, y_fit, **quiet)

    @property
    def best_iteration(self) -> int:
        return int(self.classifier.tree_count_)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        proba = self.classifier.predict_proba(
            x, thread_count=self.num_threads or worker_threads(results_depend_on_threads=False)
        )
        return np.asarray(proba, dtype=np.float64)


class CatboostTrainer(FamilyTrainer):
    """CatBoost for the shared training: seeds stepped per model, threads from the backend."""

    def fold_model(self, cfg: CatboostConfig, n_classes, names, fold, seed_index, label) -> CatboostFoldModel:
        params = model_params(cfg, n_classes, cfg.seed + seed_index * SEED_STEP)
        return CatboostFoldModel(params, cfg.early_stopping_rounds, cfg.num_threads)

    def summary(self, result: ModelResult, cfg: CatboostConfig) -> dict:
        return {
            "best_iterations": [model.best_iteration for model in result.fold_models],
            "device": result.fold_models[0].params["task_type"] if result.fold_models else cfg.device,
        }


TRAINER = CatboostTrainer()
