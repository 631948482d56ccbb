"""The parallel section: where tasks run. Not part of any cache key."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.engine.errors import ConfigError
from pipeline.engine.settings import setting


@dataclass(frozen=True)
class ParallelConfig:
    """How the (fold, seed) tasks of a model run. Not part of any cache key: the backend never changes
    results; an MLP task's thread count can (threads_per_worker), like a seed, not its honesty."""

    backend: str = setting(
        "processes",
        "sequential | processes (local, joblib/loky) | dask (LocalCluster or --scheduler)",
        choices=("sequential", "processes", "dask"),
    )
    n_jobs: int = setting(0, "workers at once; 0: one per core")
    scheduler: str = setting(
        "", 'tcp://HOST:PORT of a running Dask scheduler (backend dask); "": a LocalCluster'
    )
    threads_per_worker: int = setting(
        0,
        "threads of each task; 0: cores / workers, and a last, partly empty wave of tasks takes the idle "
        "cores (the same counts on every backend for the MLP, whose numbers depend on them; all cores for "
        "LightGBM when sequential); > 0: every MLP task exactly this many (the same bits on any machine)",
    )

    RANGES = {"n_jobs": "[0, 1024]", "threads_per_worker": "[0, 1024]"}

    def __post_init__(self) -> None:
        if self.scheduler and not self.scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
            raise ConfigError(
                f"config: parallel.scheduler must be an address like tcp://HOST:PORT, not {self.scheduler!r}"
            )
