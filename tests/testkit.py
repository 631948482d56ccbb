"""Helpers shared by the tests (importable because pytest puts tests/ on the path)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd

from models.training import train_model, train_pruned_model
from pipeline.data.sources import SampleSource
from pipeline.engine.cache import Cache
from pipeline.engine.runner import Runner, silent
from pipeline.graph import stage_graph
from pipeline.validation.cv import ModelResult
from pipeline.validation.metrics import multiclass_log_loss

SHARED_DACON = Path(__file__).resolve().parents[2] / "shared" / "data" / "dacon"

TINY = [
    "sample.n_train=1500",
    "sample.n_test=150",
    "folds.n_splits=3",
    "lgbm.learning_rate=0.3",
    "lgbm.num_boost_round=40",
    "lgbm.early_stopping_rounds=5",
    "lgbm.num_leaves=7",
    "lgbm.max_bin=31",
    "mlp.hidden=32",
    "mlp.depth=2",
    "mlp.max_epochs=8",
    "mlp.patience=3",
    "mlp.batch_size=256",
    "mlp.learning_rate=0.01",
    "mlp.device='cpu'",
    'blend.models=["lgbm", "mlp"]',  # the default adds lgbm_pruned; tests that need it say so
]


def make_runner(config, cache_dir: Path, **kwargs) -> Runner:
    """A quiet runner on the built-in sample."""
    return Runner(
        config, stage_graph(config), SampleSource(config.sample), Cache(cache_dir), log=silent, **kwargs
    )


def train_lgbm(data, features, folds, tuned=None, *, cfg, **options) -> ModelResult:
    """The lgbm stage's training, called directly."""
    return train_model(data, features, folds, tuned, cfg=cfg, family="lgbm", **options)


def train_lgbm_pruned(data, features, folds, selection, tuned=None, *, cfg) -> ModelResult:
    return train_pruned_model(data, features, folds, selection, tuned, cfg=cfg, family="lgbm")


def train_mlp(data, features, folds, tuned=None, *, cfg, **options) -> ModelResult:
    """The mlp stage's training, called directly."""
    return train_model(data, features, folds, tuned, cfg=cfg, family="mlp", **options)


def fake_model(name, data, folds, quality, seed):
    """A model whose probabilities put ``quality`` extra mass on the true class, plus noise."""
    rng = np.random.default_rng(seed)
    n, k = len(data.labels), data.n_classes
    proba = rng.dirichlet(np.ones(k), size=n)
    proba[np.arange(n), data.labels.to_numpy()] += quality
    proba /= proba.sum(axis=1, keepdims=True)
    oof = pd.DataFrame(proba, index=data.labels.index, columns=list(data.classes))
    test = pd.DataFrame(
        np.full((len(data.test), k), 1.0 / k), index=data.test.index, columns=list(data.classes)
    )
    score = multiclass_log_loss(data.labels.to_numpy(), proba)
    return ModelResult(name, oof, test, (score,), (0.0,), score, folds.signature)


def run_cli(tmp_path: Path, *args: str) -> int:
    """The command line, quiet, on the tiny config, with cache and outputs under ``tmp_path``."""
    from pipeline.cli import main

    sets = [item for override in TINY for item in ("--set", override)]
    try:
        return main(
            [
                "--quiet",
                "--cache-dir",
                str(tmp_path / "cache"),
                "--out-dir",
                str(tmp_path / "out"),
                *sets,
                *args,
            ]
        )
    except SystemExit as stop:  # an argument error, as the shell would see it
        return stop.code


def with_copies(data, share: float, seed: int, conflicting: int = 0, other_fiber: bool = True):
    """``data`` plus copies of a share of its train rows: the same 20 magnitudes and label under new
    ids (fiberID changed when ``other_fiber``: the same object on another fibre); the first
    ``conflicting`` copies get another label."""
    from pipeline.data.loading import Dataset

    rng = np.random.default_rng(seed)
    picked = rng.choice(len(data.train), int(round(share * len(data.train))), replace=False)
    new_ids = pd.Index(np.arange(len(picked)) + int(data.train.index.max()) + 1, name=data.train.index.name)
    copies = data.train.iloc[picked].set_axis(new_ids)
    if other_fiber:
        copies["fiberID"] = (copies["fiberID"] % 1000) + 1
    labels = data.labels.iloc[picked].set_axis(new_ids).copy()
    labels.iloc[:conflicting] = (labels.iloc[:conflicting] + 1) % data.n_classes
    return Dataset(pd.concat([data.train, copies]), pd.concat([data.labels, labels]), data.test, data.classes)


def with_labels(data, labels: np.ndarray):
    """``data`` with other train labels (same rows)."""
    from pipeline.data.loading import Dataset

    return Dataset(
        data.train, pd.Series(labels, index=data.labels.index, name=data.labels.name), data.test, data.classes
    )


def prior_log_loss(labels: np.ndarray, n_classes: int) -> float:
    """Log loss of predicting every row's class by the classes' shares: what pure noise allows."""
    prior = np.bincount(labels, minlength=n_classes) / len(labels)
    return multiclass_log_loss(labels, np.tile(prior, (len(labels), 1)))


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` (children, their children, ...), read from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def processes_with_marker(marker: str) -> list[int]:
    """Live processes whose environment holds ``marker`` (what a command and its workers inherit)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return [pid for pid in found if pid != os.getpid()]


def parent_of(pid: int) -> int:
    """The parent process id (0 when the process is gone)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def is_resource_tracker(pid: int) -> bool:
    """loky's resource tracker: it stops by itself when its parent exits, after cleaning up."""
    try:
        return b"resource_tracker" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def stop_processes(pids: list[int], grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL what is still there after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.time() + grace
        while time.time() < deadline and any(Path(f"/proc/{pid}").exists() for pid in pids):
            time.sleep(0.1)
