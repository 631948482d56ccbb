"""Fold and seed tasks on local processes and on Dask give exactly the sequential results."""

import pandas as pd
import pytest
from testkit import TINY, train_lgbm, train_mlp

from features.config import FeaturesConfig
from features.table import build_features
from pipeline.config import load_config
from pipeline.engine import parallel
from pipeline.engine.config import ParallelConfig
from pipeline.engine.errors import ConfigError
from pipeline.validation.config import FoldsConfig
from pipeline.validation.folds import make_folds

SEQUENTIAL = ParallelConfig(backend="sequential", threads_per_worker=1)


@pytest.fixture(scope="module")
def inputs():
    config = load_config(overrides=[*TINY, "lgbm.n_seeds=2", "mlp.max_epochs=3"])
    from pipeline.data.sources import SampleSource

    data = SampleSource(config.sample).load()
    features = build_features(data, FeaturesConfig(svd_components=2, fiber_stats=True))
    folds = make_folds(data, FoldsConfig(n_splits=3, seed=0))
    return config, data, features, folds


def run_both(inputs, backend: ParallelConfig):
    config, data, features, folds = inputs
    with parallel.parallel_session(backend):
        return (
            train_lgbm(data, features, folds, cfg=config.lgbm),
            train_mlp(data, features, folds, cfg=config.mlp),
        )


def assert_same(left, right):
    for a, b in zip(left, right):
        pd.testing.assert_frame_equal(a.oof_proba, b.oof_proba, check_exact=True)
        pd.testing.assert_frame_equal(a.test_proba, b.test_proba, check_exact=True)
        assert a.fold_scores == b.fold_scores


@pytest.fixture(scope="module")
def sequential(inputs):
    return run_both(inputs, SEQUENTIAL)


def test_local_processes_match_the_sequential_run(inputs, sequential):
    processes = run_both(inputs, ParallelConfig(backend="processes", n_jobs=2, threads_per_worker=1))
    assert_same(sequential, processes)


def test_dask_local_cluster_on_loopback_matches_the_sequential_run(inputs, sequential):
    pytest.importorskip("distributed")
    on_dask = run_both(inputs, ParallelConfig(backend="dask", n_jobs=2, threads_per_worker=1))
    assert_same(sequential, on_dask)


def test_a_running_scheduler_is_used_by_address(inputs, sequential):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, silence_logs=40
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        remote = run_both(
            inputs, ParallelConfig(backend="dask", scheduler=cluster.scheduler_address, threads_per_worker=1)
        )
    assert_same(sequential, remote)


def test_threads_per_worker_share_the_cores(monkeypatch):
    monkeypatch.setattr(parallel, "available_cores", lambda: 8)
    assert parallel.layout(ParallelConfig(backend="processes"), n_tasks=5) == parallel.Layout(5, 1)
    assert parallel.layout(ParallelConfig(backend="processes", n_jobs=2), n_tasks=5) == parallel.Layout(2, 4)
    assert parallel.layout(ParallelConfig(backend="processes"), n_tasks=2) == parallel.Layout(2, 1)
    # the same threads per task in every backend, so thread-sensitive results do not change
    assert parallel.layout(ParallelConfig(backend="sequential"), n_tasks=5) == parallel.Layout(1, 1)
    assert parallel.layout(ParallelConfig(backend="sequential", n_jobs=2), n_tasks=5) == parallel.Layout(1, 4)


def test_the_last_partial_wave_lends_idle_cores_to_thread_independent_tasks():
    plan = parallel.Layout(2, 1)
    assert [parallel.free_threads(i, 5, plan) for i in range(5)] == [1, 1, 1, 1, 2]
    assert [parallel.free_threads(i, 4, plan) for i in range(4)] == [1, 1, 1, 1]
    assert parallel.free_threads(6, 7, parallel.Layout(3, 2)) == 6


def test_thread_sensitive_tasks_take_the_idle_cores_of_the_last_wave_on_every_backend(monkeypatch):
    monkeypatch.setattr(parallel, "available_cores", lambda: 2)
    for backend in ("processes", "sequential", "dask"):
        cfg = ParallelConfig(backend=backend)
        assert [parallel.pinned_threads(i, 5, cfg) for i in range(5)] == [1, 1, 1, 1, 2]
        assert [parallel.pinned_threads(i, 4, cfg) for i in range(4)] == [1, 1, 1, 1]
    assert [parallel.pinned_threads(i, 5, ParallelConfig(n_jobs=3)) for i in range(5)] == [1, 1, 1, 1, 1]
    # threads_per_worker pins every task's count, on any machine
    pinned = ParallelConfig(backend="processes", threads_per_worker=1)
    assert [parallel.pinned_threads(i, 5, pinned) for i in range(5)] == [1] * 5


def test_the_mlps_last_wave_fold_trains_on_the_idle_core_with_the_same_numbers_on_every_backend(
    inputs, monkeypatch
):
    config, data, features, folds = inputs  # 3 folds on 2 workers: the third fold has both cores
    monkeypatch.setattr(parallel, "available_cores", lambda: 2)  # the split of a 2-core machine, on any
    results = []
    for backend in ("sequential", "processes"):
        with parallel.parallel_session(ParallelConfig(backend=backend, n_jobs=2)):
            results.append(train_mlp(data, features, folds, cfg=config.mlp))
    assert [r.info["threads"] for r in results] == [[1, 1, 2], [1, 1, 2]]
    assert_same(results[:1], results[1:])


def test_tasks_come_back_in_task_order():
    with parallel.parallel_session(ParallelConfig(backend="processes", n_jobs=2)):
        assert parallel.run_tasks(pow, [(2, k) for k in range(6)]) == [2**k for k in range(6)]


def test_a_bad_scheduler_address_is_a_config_error():
    with pytest.raises(ConfigError, match="tcp://"):
        load_config(overrides=['parallel.scheduler="localhost:8786"'])


def test_an_unreachable_scheduler_is_a_one_line_error():
    pytest.importorskip("distributed")
    cfg = ParallelConfig(backend="dask", scheduler="tcp://127.0.0.1:9")
    with pytest.raises(ConfigError, match="cannot connect"):
        with parallel.parallel_session(cfg):
            pass


def test_a_finished_task_gives_its_freed_heap_back(monkeypatch):
    """Workers live from stage to stage; memory a task freed must not stay counted against them."""
    import numpy as np
    import psutil

    if parallel._malloc_trim() is None:
        pytest.skip("no glibc malloc_trim here")
    me = psutil.Process()

    blocks = [np.ones(100_000 // 8) for _ in range(2000)]  # 200 MB of heap (below mmap's size)
    top = np.ones(100_000 // 8)  # the heap's top stays in use: free() alone cannot give memory back
    del blocks
    rss_after_free = me.memory_info().rss
    parallel.release_free_memory()
    assert rss_after_free - me.memory_info().rss > 100 * 2**20
    del top
    calls = []
    monkeypatch.setattr(parallel, "release_free_memory", lambda: calls.append(1))
    parallel.run_tasks(lambda x: x, [(1,), (2,)])
    assert len(calls) == 2  # after every task
