"""Runs independent tasks (one per fold and seed) in order, in local processes, or on a Dask cluster.

joblib does the work: its ``loky`` backend for local processes and its ``dask`` backend for a
Dask cluster (a ``LocalCluster`` on loopback, or a running scheduler at ``tcp://HOST:PORT``). Each
task gets a thread budget so workers times threads never exceeds the cores. Every task is a pure
function of its arguments, so the results do not depend on the backend or on the order tasks finish.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from joblib import Parallel, delayed, parallel_config

from pipeline.engine.errors import ConfigError
from pipeline.engine.progress import is_quiet, progress, set_quiet

if TYPE_CHECKING:  # not imported at run time: the config module is not part of the models' code hash
    from pipeline.engine.config import ParallelConfig


@dataclass(frozen=True)
class Sequential:
    """The settings outside any ``parallel_session``: tasks one after another, one thread per core."""

    backend: str = "sequential"
    n_jobs: int = 0
    scheduler: str = ""
    threads_per_worker: int = 0


_settings: ParallelConfig | Sequential = Sequential()

# loky replaces a worker whose memory grew by 300 MB (its leak guard) and warns when jobs were
# waiting; the task is simply run by the new worker, results are unaffected: not worth a warning.
warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given", category=UserWarning)
_client = None
_worker_threads = 0
_free_threads = 0
_inside_task = False


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_threads(results_depend_on_threads: bool = True) -> int:
    """Threads a model running in this task should use. For a model whose results depend on the
    count (the MLP's float sums) it depends only on the config, the local cores and the task's place
    in the list, never on the backend, so the sequential run, processes and Dask give the same
    numbers. A model whose results do not depend on it (LightGBM) may take every idle core."""
    return _worker_threads if results_depend_on_threads else max(_worker_threads, _free_threads)


@dataclass(frozen=True)
class Layout:
    """How many workers run at once and how many threads each task may use."""

    n_jobs: int
    threads: int


def task_threads(cfg: ParallelConfig) -> int:
    """Threads per task: ``threads_per_worker``, else the local cores shared by ``n_jobs`` workers
    (one per core by default). The same for every backend, sequential included."""
    cores = available_cores()
    return cfg.threads_per_worker or max(1, cores // (cfg.n_jobs or cores))


def layout(cfg: ParallelConfig, n_tasks: int) -> Layout:
    """Workers at once (``n_jobs`` or one per core, never more than tasks) and threads per task."""
    if cfg.backend == "sequential":
        return Layout(1, task_threads(cfg))
    cores = available_cores()
    if cfg.backend == "dask" and _client is not None:
        cores = max(1, sum(_client.nthreads().values()))
    return workers_layout(cfg, n_tasks, cores)


def workers_layout(cfg: ParallelConfig, n_tasks: int, cores: int) -> Layout:
    """``n_jobs`` workers (one per core by default, never more than tasks), ``task_threads`` each."""
    return Layout(max(1, min(cfg.n_jobs or cores, n_tasks)), task_threads(cfg))


def local_layout(cfg: ParallelConfig, n_tasks: int) -> Layout:
    """The local processes' layout, whatever the configured backend."""
    return workers_layout(cfg, n_tasks, available_cores())


def free_threads(index: int, n_tasks: int, plan: Layout) -> int:
    """Threads a thread-independent task may use: more in a last wave that leaves workers idle."""
    last_wave = n_tasks % plan.n_jobs
    if plan.n_jobs == 1 or last_wave == 0 or index < n_tasks - last_wave:
        return plan.threads
    return plan.threads * plan.n_jobs // last_wave


def pinned_threads(index: int, n_tasks: int, cfg: ParallelConfig) -> int:
    """Threads of a task whose results depend on the count: ``threads_per_worker`` when set (the same
    count for every task, on any machine), else as the local processes would give it, idle cores of
    a last, partly empty wave included (5 folds on 2 cores: 1, 1, 1, 1, 2), on every backend."""
    if cfg.threads_per_worker:
        return cfg.threads_per_worker
    return free_threads(index, n_tasks, local_layout(cfg, n_tasks))


def _run_in_worker(function: Callable, threads: tuple[int, int], quiet: bool, args: tuple) -> Any:
    global _worker_threads, _free_threads, _inside_task
    before = (_worker_threads, _free_threads, _inside_task)
    _worker_threads, _free_threads = threads
    _inside_task = True
    set_quiet(quiet)
    try:
        return function(*args)
    finally:
        _worker_threads, _free_threads, _inside_task = before
        release_free_memory()


def release_free_memory() -> None:
    """Give the memory freed by a finished task back to the system (glibc's malloc_trim). A worker
    lives on from stage to stage; without this it keeps the peak heap of every task it ran."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl, Windows)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def planned_workers(n_tasks: int) -> int:
    """How many of ``n_tasks`` tasks run at once on the configured backend."""
    return 1 if _inside_task else layout(_settings, n_tasks).n_jobs


def run_tasks(function: Callable, tasks: Sequence[tuple], desc: str = "tasks") -> list:
    """``[function(*task) for task in tasks]``, in task order, on the configured backend. Tasks a
    task starts (a tuning trial's folds) run one after another inside it, within its thread budget."""
    if _inside_task:
        return [function(*task) for task in tasks]
    plan, n_tasks = layout(_settings, len(tasks)), len(tasks)
    if plan.n_jobs == 1 and _settings.backend != "dask":
        bar, cores = progress(tasks, desc=desc, unit="task"), available_cores()
        return [
            _run_in_worker(function, (pinned_threads(i, n_tasks, _settings), cores), is_quiet(), task)
            for i, task in enumerate(bar)
        ]
    jobs = (
        delayed(_run_in_worker)(
            function, (pinned_threads(i, n_tasks, _settings), free_threads(i, n_tasks, plan)), True, task
        )
        for i, task in enumerate(tasks)
    )
    backend = "dask" if _settings.backend == "dask" else "loky"
    limits = {"inner_max_num_threads": plan.threads} if backend == "loky" else {}
    with parallel_config(backend=backend, n_jobs=plan.n_jobs, **limits):
        results = Parallel(return_as="generator")(jobs)
        bar = progress(results, total=len(tasks), desc=f"{desc} ({plan.n_jobs} workers)", unit="task")
        return list(bar)


@contextmanager
def parallel_session(cfg: ParallelConfig) -> Iterator[None]:
    """Use ``cfg`` for the tasks run inside; for Dask, connect to (or start) a cluster for the while."""
    global _settings, _client
    before = _settings
    _settings = cfg
    try:
        if cfg.backend != "dask":
            yield
            return
        with dask_client(cfg) as client:
            _client = client
            yield
    finally:
        _settings, _client = before, None


def shutdown_local_workers() -> None:
    """Stop loky's reusable worker processes now, rather than when their idle timeout ends (a test
    session's end). A command need not: its workers end when it does."""
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True)


@contextmanager
def dask_client(cfg: ParallelConfig):
    """A client of the scheduler at ``cfg.scheduler``, or of a LocalCluster on loopback."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError(
            "config: parallel.backend = 'dask' needs dask.distributed: pip install -e '.[dask]'"
        ) from None
    if cfg.scheduler:
        try:
            client = Client(cfg.scheduler, timeout=10)
        except OSError as error:
            raise ConfigError(f"--scheduler {cfg.scheduler}: cannot connect ({error})") from None
        with client:
            yield client
        return
    n_workers = cfg.n_jobs or available_cores()
    with (
        LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=40,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client
