"""Python access for notebooks: any stage's artifact for a config, from the cache.

from pipeline.api import load_predictions, load_result
oof = load_predictions("lgbm")            # DataFrame: index id, one column per class
test = load_predictions("blend", "test")
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pandas as pd

from pipeline.config import Config, load_config
from pipeline.data.sources import choose_source
from pipeline.engine.cache import Cache
from pipeline.engine.parallel import parallel_session
from pipeline.engine.progress import set_quiet
from pipeline.engine.runner import Runner, silent, stderr_log
from pipeline.engine.studies import default_storage_url, study_storage
from pipeline.graph import stage_graph
from pipeline.validation.holdout import with_holdout


def load_result(
    stage: str = "lgbm",
    *,
    cache_dir: str | Path = ".cache",
    config: str | Path | None = None,
    overrides: tuple[str, ...] = (),
    data_dir: str | Path | None = None,
    quiet: bool = True,
) -> Any:
    """The artifact of ``stage`` (``lgbm``, ``blend``, ``folds``, ...) for the same config and data a
    command line with these options would use; computed (and cached) if it is not cached yet.
    ``quiet`` hides the stage log and progress bars."""
    cfg = load_config(Path(config) if config else None, list(overrides))
    set_quiet(quiet)
    runner = open_runner(cfg, data_dir, cache_dir, log=silent if quiet else stderr_log)
    with parallel_session(cfg.parallel), study_storage(cfg.tune.storage or default_storage_url(cache_dir)):
        return runner.run(stage)


def load_predictions(model: str = "blend", kind: str = "oof", **options) -> pd.DataFrame:
    """A model's out-of-fold (``kind="oof"``), test (``"test"``) or reserved holdout (``"holdout"``,
    with ``overrides=("holdout.share=0.2",)``) probabilities: index ``id``, one column per class.
    ``model`` is any model stage or ``blend``; ``options`` are those of ``load_result``
    (``cache_dir``, ``config``, ``overrides``, ``data_dir``)."""
    if kind not in ("oof", "test", "holdout"):
        raise ValueError(f"kind must be 'oof', 'test' or 'holdout', not {kind!r}")
    result = load_result(model, **options)
    proba = {"oof": result.oof_proba, "test": result.test_proba, "holdout": result.holdout_proba}[kind]
    if proba is None:
        raise ValueError("no holdout in this config: reserve one with holdout.share (--holdout SHARE)")
    return proba.rename_axis("id")


def open_runner(
    config: Config,
    data_dir: str | Path | None,
    cache_dir: str | Path,
    force: frozenset[str] = frozenset(),
    log: Callable[[str], None] = stderr_log,
) -> Runner:
    """A runner on --data-dir, ./data/ or the built-in sample, as the command line chooses, with the
    ``[holdout]`` share of its train rows reserved."""
    source = with_holdout(choose_source(Path(data_dir) if data_dir else None, config.sample), config.holdout)
    return Runner(config, stage_graph(config), source, Cache(Path(cache_dir)), force=force, log=log)
