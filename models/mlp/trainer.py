"""The MLP family's trainer: a PyTorch classifier per fold, on the shared folds and feature table.

Per fold: inputs clipped and scaled on the fold's fit rows only, rare classes optionally duplicated
among those rows, AdamW on cross-entropy with a learning-rate schedule, early stopping on held-out
log loss with the best epoch's weights restored.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import numpy as np
import torch
from torch import nn

from models.mlp.inputs import InputScaler, class_weights, fiber_slots, oversample_rows, quantile_bins
from models.mlp.net import make_net
from models.training import FamilyTrainer
from pipeline.engine.errors import ConfigError
from pipeline.engine.parallel import available_cores, worker_threads
from pipeline.engine.progress import progress
from pipeline.validation.cv import ModelResult
from pipeline.validation.metrics import multiclass_log_loss

if TYPE_CHECKING:
    from features.table import FeatureTable
    from models.mlp.config import MlpConfig
    from pipeline.data.loading import Dataset

FIBER_COLUMN = "fiberID"
PREDICT_BATCH = 8192
SEED_STEP = 1000  # seed k of a fold trains with seed + fold + k * SEED_STEP
MIN_IMPROVEMENT = 1e-5


def resolve_device(choice: str) -> torch.device:
    """``auto``: CUDA when torch sees a GPU, else CPU; ``cuda`` without a GPU is a config error."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("config: mlp.device = 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


@contextmanager
def torch_session(seed: int, threads: int, device: torch.device) -> Iterator[None]:
    """Seeded torch RNGs and a thread count for one fit; the caller's RNG state and threads come back."""
    before = torch.get_num_threads()
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        torch.set_num_threads(threads or available_cores())
        try:
            yield
        finally:
            torch.set_num_threads(before)


class MlpInputs:
    """Splits a feature matrix into scaled numeric columns and fiber slots (when the embedding is on)."""

    def __init__(self, cfg: MlpConfig, fiber_column: int | None):
        self.fiber_column = fiber_column if cfg.embedding_dim > 0 else None
        self.scaler = InputScaler(cfg.scaling, cfg.clip_quantile, cfg.seed)

    def numeric(self, x: np.ndarray) -> np.ndarray:
        return x if self.fiber_column is None else np.delete(x, self.fiber_column, axis=1)

    def fit(self, x: np.ndarray) -> MlpInputs:
        self.scaler.fit(self.numeric(x))
        return self

    def tensors(self, x: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        numeric = torch.from_numpy(self.scaler.transform(self.numeric(x)))
        fiber = fiber_slots(x[:, self.fiber_column]) if self.fiber_column is not None else np.zeros(len(x))
        return numeric.to(device), torch.from_numpy(fiber.astype(np.int64)).to(device)


def make_schedule(name: str, optimiser: torch.optim.Optimizer, total_steps: int):
    """(scheduler, steps per batch?) for the configured learning-rate schedule, or (None, False)."""
    if name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimiser, factor=0.5, patience=2), False
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=total_steps), True
    if name == "onecycle":
        max_lr = optimiser.param_groups[0]["lr"]
        return torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=max_lr, total_steps=total_steps), True
    if name == "coslog4":  # RealMLP's: four cosine cycles, on a log scale of training time
        return torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: coslog4(step / total_steps)), True
    return None, False


def coslog4(t: float) -> float:
    """RealMLP's learning-rate factor at training fraction t: 0.5 (1 - cos(2 pi log2(1 + 15 t)))."""
    return 0.5 * (1.0 - math.cos(2.0 * math.pi * math.log2(1.0 + 15.0 * min(t, 1.0))))


def train_one_epoch(
    net: nn.Module,
    numeric: torch.Tensor,
    fiber: torch.Tensor,
    labels: torch.Tensor,
    loss_fn: nn.Module,
    optimiser: torch.optim.Optimizer,
    batch_size: int,
    generator: torch.Generator,
    step_schedule=None,
) -> float:
    """One pass over the training rows in shuffled mini-batches; the mean training loss."""
    net.train()
    order = torch.randperm(len(labels), generator=generator).to(labels.device)
    total, seen = 0.0, 0
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        if len(batch) < 2:  # batch norm needs two rows
            continue
        optimiser.zero_grad(set_to_none=True)
        loss = ensemble_loss(loss_fn, net(numeric[batch], fiber[batch]), labels[batch])
        loss.backward()
        optimiser.step()
        if step_schedule is not None:
            step_schedule.step()
        total += loss.item() * len(batch)
        seen += len(batch)
    return total / max(seen, 1)


def ensemble_loss(loss_fn: nn.Module, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The loss of every head of an ensemble (rows, k, classes) on the same rows, or of one head."""
    if logits.dim() == 3:
        return loss_fn(logits.flatten(0, 1), labels.repeat_interleave(logits.shape[1]))
    return loss_fn(logits, labels)


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Class probabilities; an ensemble's are the mean of its heads' probabilities."""
    proba = torch.softmax(logits.double(), dim=-1)
    return proba.mean(dim=1) if proba.dim() == 3 else proba


@torch.no_grad()
def predict_proba_in_batches(net: nn.Module, numeric: torch.Tensor, fiber: torch.Tensor) -> np.ndarray:
    """Class probabilities in batches, in float64."""
    net.eval()
    parts = [
        probabilities(net(numeric[i : i + PREDICT_BATCH], fiber[i : i + PREDICT_BATCH]))
        for i in range(0, len(numeric), PREDICT_BATCH)
    ]
    return torch.cat(parts).cpu().numpy()


class MlpFoldModel:
    """One fold's network; ``history`` keeps (epoch, train loss, held-out log loss) per epoch."""

    def __init__(self, cfg: MlpConfig, n_classes: int, fiber_column: int | None, seed: int, label: str):
        self.cfg, self.n_classes, self.seed, self.label = cfg, n_classes, seed, label
        self.inputs = MlpInputs(cfg, fiber_column)
        self.device = resolve_device(cfg.device)
        self.net: nn.Module | None = None
        self.history: list[tuple[int, float, float]] = []
        self.best_epoch = 0
        self.patience = cfg.patience
        self.fit_threads = 0
        self.seconds = 0.0

    def fit(
        self, x_fit: np.ndarray, y_fit: np.ndarray, x_stop: np.ndarray | None, y_stop: np.ndarray | None
    ) -> None:
        start = time.perf_counter()
        with torch_session(self.seed, self.threads, self.device):
            self.fit_threads = torch.get_num_threads()
            self._fit(x_fit, y_fit, x_stop, y_stop)
        self.seconds = time.perf_counter() - start

    @property
    def threads(self) -> int:
        """mlp.num_threads, else this task's share of the cores (0: all cores)."""
        return self.cfg.num_threads or worker_threads()

    def _fit(self, x_fit, y_fit, x_stop, y_stop) -> None:
        cfg, device = self.cfg, self.device
        rows = oversample_rows(y_fit, cfg.oversample_min_count, np.random.default_rng(self.seed))
        self.inputs.fit(x_fit)
        numeric, fiber = self.inputs.tensors(x_fit, device)
        bins = (
            quantile_bins(numeric.cpu().numpy(), cfg.piecewise_bins)
            if cfg.numeric_embedding == "piecewise"
            else None
        )
        if len(rows) > len(y_fit):  # duplicated rare-class rows (without: no copy of the inputs)
            index = torch.from_numpy(rows).to(device)
            numeric, fiber = numeric[index], fiber[index]
        labels = torch.from_numpy(np.asarray(y_fit[rows], dtype=np.int64)).to(device)
        held_out = (
            (self.inputs.tensors(x_stop, device), y_stop) if x_stop is not None and len(x_stop) else None
        )
        self.net = make_net(numeric.shape[1], self.n_classes, cfg, bins).to(device)
        self._train(numeric, fiber, labels, self._loss(y_fit), held_out)

    def _loss(self, y_fit: np.ndarray) -> nn.Module:
        weights = class_weights(y_fit, self.n_classes, self.cfg.class_weight)
        if weights is not None:
            weights = torch.tensor(weights, dtype=torch.float32, device=self.device)
        return nn.CrossEntropyLoss(weight=weights, label_smoothing=self.cfg.label_smoothing)

    def _train(self, numeric, fiber, labels, loss_fn, held_out) -> None:
        """Epochs until the held-out log loss stops improving; the best epoch's weights are kept."""
        cfg = self.cfg
        optimiser = torch.optim.AdamW(
            self.net.parameters(), lr=cfg.learning_rate, weight_decay=cfg.weight_decay
        )
        steps = cfg.max_epochs * max(1, -(-len(labels) // cfg.batch_size))
        schedule, per_batch = make_schedule(cfg.schedule, optimiser, steps)
        generator = torch.Generator().manual_seed(self.seed)
        self.patience = patience_for(cfg, len(labels))
        best_loss, best_state, waited = np.inf, None, 0
        bar = progress(range(1, cfg.max_epochs + 1), desc=self.label, unit="epoch")
        for epoch in bar:
            batch_schedule = schedule if per_batch else None
            train_loss = train_one_epoch(
                self.net,
                numeric,
                fiber,
                labels,
                loss_fn,
                optimiser,
                cfg.batch_size,
                generator,
                batch_schedule,
            )
            stop_loss = self._held_out_loss(held_out) if held_out is not None else train_loss
            self.history.append((epoch, train_loss, stop_loss))
            bar.set_postfix(train=f"{train_loss:.4f}", held_out=f"{stop_loss:.4f}")
            if schedule is not None and not per_batch:
                schedule.step(stop_loss)
            if stop_loss < best_loss - MIN_IMPROVEMENT:
                best_loss, waited, self.best_epoch = stop_loss, 0, epoch
                best_state = copy.deepcopy(self.net.state_dict())
            elif held_out is not None:
                waited += 1
                if waited >= self.patience:
                    break
        if best_state is not None:
            self.net.load_state_dict(best_state)

    def _held_out_loss(self, held_out) -> float:
        (numeric, fiber), labels = held_out
        return multiclass_log_loss(labels, predict_proba_in_batches(self.net, numeric, fiber))

    def __getstate__(self) -> dict:
        """Pickled (cached) with the network on the CPU, so a cache written on a GPU loads anywhere."""
        state = dict(self.__dict__)
        if self.net is not None and self.device.type != "cpu":
            state["net"], state["device"] = copy.deepcopy(self.net).cpu(), torch.device("cpu")
        return state

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        with torch_session(self.seed, self.threads, self.device):
            return predict_proba_in_batches(self.net, *self.inputs.tensors(x, self.device))


def patience_for(cfg: MlpConfig, training_rows: int) -> int:
    """Epochs without improvement before stopping: ``patience``, lowered to ``large_patience`` from
    ``large_rows`` training rows on (many steps per epoch, a large held-out set: less noise to wait out)."""
    return min(cfg.patience, cfg.large_patience) if 0 < cfg.large_rows <= training_rows else cfg.patience


def with_fiber_column(data: Dataset, features: FeatureTable, embedding_dim: int) -> FeatureTable:
    """The feature table, with the raw fiberID column added when the embedding needs it."""
    if embedding_dim == 0 or FIBER_COLUMN in features.train.columns:
        return features
    return dataclasses.replace(
        features,
        train=features.train.assign(**{FIBER_COLUMN: data.train[FIBER_COLUMN].astype(np.float32)}),
        test=features.test.assign(**{FIBER_COLUMN: data.test[FIBER_COLUMN].astype(np.float32)}),
        holdout=None
        if features.holdout is None
        else features.holdout.assign(**{FIBER_COLUMN: data.holdout[FIBER_COLUMN].astype(np.float32)}),
    )


def training_summary(models: list[MlpFoldModel]) -> dict:
    """Device, CPU threads, epochs run, best epochs, patience and seconds per epoch of the fold networks."""
    epochs = [len(m.history) for m in models]
    return {
        "device": str(models[0].device) if models else "cpu",
        "threads": [m.fit_threads for m in models],
        "epochs": epochs,
        "best_epochs": [m.best_epoch for m in models],
        "patience": [m.patience for m in models],
        "seconds_per_epoch": float(sum(m.seconds for m in models) / max(sum(epochs), 1)),
        "history": [m.history for m in models],
    }


class MlpTrainer(FamilyTrainer):
    """The MLP for the shared training: the raw fiberID column joins the inputs when it is embedded;
    fold k, seed j trains with seed ``seed + k + j * SEED_STEP``."""

    def prepare(self, data: Dataset, features: FeatureTable, cfg: MlpConfig, kept):
        features = with_fiber_column(data, features, cfg.embedding_dim)
        if kept is not None and cfg.embedding_dim > 0:
            kept = tuple(names if FIBER_COLUMN in names else (*names, FIBER_COLUMN) for names in kept)
        return features, kept

    def fold_model(self, cfg: MlpConfig, n_classes, names, fold, seed_index, label) -> MlpFoldModel:
        fiber_column = names.index(FIBER_COLUMN) if FIBER_COLUMN in names else None
        return MlpFoldModel(cfg, n_classes, fiber_column, cfg.seed + fold + seed_index * SEED_STEP, label)

    def summary(self, result: ModelResult, cfg: MlpConfig) -> dict:
        return training_summary(list(result.fold_models))


TRAINER = MlpTrainer()
