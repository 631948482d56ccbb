"""Benchmark: every stage of ``--stage all`` on built-in samples of several sizes, and a plain
``lgb.train`` loop on the same features and folds, in the same run.

    python -m benchmarks.bench                        # 50,000, 100,000, 200,000 rows + the extras
    python -m benchmarks.bench --rows 20000 40000 --skip full tune winner   # quicker

Prints one table (stage, rows, seconds, peak memory, from cache, growth exponent of time in rows),
then the goals, met or not, each a ratio measured in this run. Each size runs in a fresh cache (so
stages are computed), then the ``--stage blend`` and ``--stage report`` commands are rerun as a user
would, from that cache. Extras, each skippable: the full preset's ``--stage all`` at the largest
size, a few tuning trials there, and LightGBM + importance with the winners' settings (gbdt) at the
smallest size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import psutil

from pipeline.api import open_runner
from pipeline.config import load_config
from pipeline.engine.parallel import parallel_session
from pipeline.engine.progress import set_quiet
from pipeline.engine.runner import silent
from pipeline.validation.cv import StoppingPlan, fold_rows

TEST_SHARE = 10_009 / 199_991  # Dacon's test rows per train row
GOALS = {  # the speed issue's goals, each a ratio measured in one run
    "all_ratio": 1.8,  # default --stage all / plain lgb.train loop, largest size
    "blend_exponent": 1.05,  # growth of the blend's time in rows
    "importance_ratio": 0.25,  # importance stage / the LightGBM stage it explains (default; winners')
    "full_ratio": 3.0,  # full preset --stage all / plain loop
    "rerun_seconds": 1.5,  # cached --stage blend / --stage report commands, imports included
    "trial_ratio": 0.6,  # mean tuning trial (5 folds, median pruner) / the LightGBM stage
    "peak_gib": 3.0,  # peak memory of the default --stage all, largest size
}
EXTRAS = ("full", "tune", "winner")
PEAK_FIELDS = ("peak_pss_mib", "peak_mib")
TUNING_TRIALS = 4
ROOT = Path(__file__).resolve().parents[1]


class PeakMemory:
    """Peak memory of this process and all its children (workers): ``peak`` adds up their resident
    sets (RSS: pages two processes share count twice), sampled every 50 ms; ``peak_pss`` their
    proportional sets (PSS: a shared page counts once, split between its processes), the physical
    memory the run takes; nan where the system does not report PSS. Reading PSS makes the kernel walk
    every page of every process (about 15 ms for a run's processes at Dacon's scale: at 20 per second
    it took a third of a core from the run it measured), so PSS is read only when the RSS sum is
    within ``near`` of its peak, and at most once per ``pss_interval`` seconds."""

    def __init__(self, interval: float = 0.05, pss_interval: float = 1.0, near: float = 0.97):
        self.interval, self.pss_interval, self.near = interval, pss_interval, near
        self._stop = threading.Event()
        self.peak, self.peak_pss, self._pss_read_at = 0, 0.0, -np.inf

    @staticmethod
    def _processes() -> list[psutil.Process]:
        me = psutil.Process()
        return [me, *me.children(recursive=True)]

    @staticmethod
    def _total(processes: list[psutil.Process], read) -> float:
        total = 0.0
        for process in processes:
            try:
                total += read(process)
            except psutil.Error:
                pass
        return total

    def _update(self, force_pss: bool = False) -> None:
        processes = self._processes()
        rss = int(self._total(processes, lambda p: p.memory_info().rss))
        self.peak = max(self.peak, rss)
        now = time.perf_counter()
        due = now - self._pss_read_at >= self.pss_interval and rss >= self.near * self.peak
        if force_pss or due:
            pss = self._total(processes, lambda p: getattr(p.memory_full_info(), "pss", float("nan")))
            self.peak_pss = pss if np.isnan(pss) else max(self.peak_pss, pss)
            self._pss_read_at = now

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._update()
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._update(force_pss=True)
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self._update(force_pss=True)

    def mib(self) -> dict[str, float]:
        """The peaks in MiB, as the ``Row`` fields."""
        return {"peak_mib": self.peak / 2**20, "peak_pss_mib": self.peak_pss / 2**20}


@dataclass
class Row:
    stage: str
    rows: int
    seconds: float
    peak_mib: float
    from_cache: str
    exponent: float = float("nan")
    run: str = "default"
    peak_pss_mib: float = float("nan")
    """Physical memory (PSS, shared pages counted once); ``peak_mib`` adds up the processes' RSS."""
    """Which run of the benchmark measured it: "default" (``--stage all`` as configured, the plain
    loop and the cached commands), "tuning", "full preset" or "winner settings, gbdt"."""


def bench_config(rows: int, preset: str | None, overrides: list[str]):
    sets = [f"sample.n_train={rows}", f"sample.n_test={max(100, round(rows * TEST_SHARE))}", *overrides]
    return load_config(None, sets, preset), sets


def time_stages(config, cache_dir: Path) -> tuple[list[Row], object]:
    """Each stage of ``all`` (and the report) computed in order, timed, with its peak memory."""
    runner = open_runner(config, None, cache_dir, log=silent)
    rows_n = config.sample.n_train
    with PeakMemory() as memory:
        start = time.perf_counter()
        runner.artifact("data")
        out = [
            Row(
                "data (simulate the sample)",
                rows_n,
                time.perf_counter() - start,
                from_cache="no",
                **memory.mib(),
            )
        ]
    order = list(dict.fromkeys([*runner.closure("submission"), *runner.closure("report")]))
    out += [time_stage(runner, name) for name in order]
    return out, runner


def time_stage(runner, name: str) -> Row:
    """One stage run (computed unless cached), timed, with its peak memory."""
    with PeakMemory() as memory:
        start = time.perf_counter()
        runner.run(name)
        seconds = time.perf_counter() - start
    status = "yes" if runner.records[name].status != "computed" else "no"
    return Row(name, runner.config.sample.n_train, seconds, from_cache=status, **memory.mib())


def sum_of_stages(stage_rows: list[Row]) -> Row:
    """The ``all (sum of stages)`` row: their seconds added, their largest peaks."""
    return Row(
        "all (sum of stages)",
        stage_rows[-1].rows,
        sum(r.seconds for r in stage_rows),
        max(r.peak_mib for r in stage_rows),
        "no",
        peak_pss_mib=max(r.peak_pss_mib for r in stage_rows),
    )


def plain_lgbm_seconds(runner) -> float:
    """The same LightGBM work written by hand: per fold the same inner split, Datasets, params and
    early stopping, predicting the held-out fold and test; one process, LightGBM's own threads."""
    from models.lgbm.trainer import lgbm_params

    cfg, data = runner.config.lgbm, runner.artifact("data")
    features, folds = runner.artifact("features"), runner.artifact("folds")
    x, x_test = features.train.to_numpy(np.float32), features.test.to_numpy(np.float32)
    y = data.labels.loc[features.train.index].to_numpy()
    fold_of_row = folds.fold_of_row.loc[features.train.index].to_numpy()
    params = lgbm_params(cfg, data.n_classes)
    plan = StoppingPlan("inner", cfg.inner_share, int(cfg.params.get("seed", 0)))
    groups = folds.groups(features.train.index)
    start = time.perf_counter()
    for fold in range(folds.n_splits):
        rows = fold_rows(plan, y, fold_of_row, groups, fold)
        fit, stop, valid = rows.fit, rows.stop, rows.valid
        train_set = lgb.Dataset(x[fit], y[fit])
        stop_set = lgb.Dataset(x[stop], y[stop], reference=train_set)
        booster = lgb.train(
            params,
            train_set,
            cfg.num_boost_round,
            valid_sets=[stop_set],
            callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
        )
        booster.predict(x[valid], num_iteration=booster.best_iteration)
        booster.predict(x_test, num_iteration=booster.best_iteration)
    return time.perf_counter() - start


def plain_lgbm_in_fresh_process(sets: list[str], preset: str | None, cache_dir: Path) -> float:
    """``plain_lgbm_seconds`` in a new Python process (nothing else loaded, all cores), on the
    features and folds this run cached."""
    command = [sys.executable, "-m", "benchmarks.bench", "--plain-lgbm", str(cache_dir)]
    command += [item for s in sets for item in ("--set", s)] + (["--preset", preset] if preset else [])
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    return float(done.stdout.strip().splitlines()[-1])


def rerun_seconds(stage: str, sets: list[str], preset: str | None, cache_dir: Path, out_dir: Path) -> float:
    """Wall time of ``python pipeline/run.py --stage STAGE`` from a warm cache, as a user runs it."""
    command = [sys.executable, str(ROOT / "pipeline" / "run.py"), "--stage", stage, "--quiet"]
    command += ["--cache-dir", str(cache_dir), "--out-dir", str(out_dir)]
    command += [item for s in sets for item in ("--set", s)] + (["--preset", preset] if preset else [])
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def growth_exponents(rows: list[Row]) -> None:
    """Slope of log(seconds) on log(rows) per stage (1: linear), set on each stage's largest size."""
    for stage in dict.fromkeys(r.stage for r in rows):
        mine = [r for r in rows if r.stage == stage and r.seconds > 0.05]
        if len({r.rows for r in mine}) >= 2:
            slope = np.polyfit(np.log([r.rows for r in mine]), np.log([r.seconds for r in mine]), 1)[0]
            max(mine, key=lambda r: r.rows).exponent = float(slope)


def format_rows(rows: list[Row]) -> str:
    lines = [
        "| stage | rows | seconds | peak memory, PSS (MiB) | peak, RSS added up (MiB) | from cache "
        "| growth exponent |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        exponent = "" if np.isnan(r.exponent) else f"{r.exponent:.2f}"
        lines.append(
            f"| {r.stage} | {r.rows:,} | {r.seconds:.1f} | {mib(r.peak_pss_mib)} | {mib(r.peak_mib)} "
            f"| {r.from_cache} | {exponent} |"
        )
    return "\n".join(lines)


def mib(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:,.0f}"


def labelled(rows: list[Row], run: str) -> list[Row]:
    """The rows of an extra run, named after it ("full preset: lgbm") and marked as its own."""
    for row in rows:
        row.stage, row.run = f"{run}: {row.stage}", run
    return rows


def time_full_preset(n: int, overrides: list[str], work: Path) -> list[Row]:
    """``--stage all`` of the full preset, stage by stage, in its own cache."""
    config, _ = bench_config(n, "full", overrides)
    with parallel_session(config.parallel):
        stage_rows, _ = time_stages(config, work / f"cache-full-{n}")
    return labelled([*stage_rows, sum_of_stages(stage_rows)], "full preset")


def time_tuning_trials(n: int, overrides: list[str], cache: Path) -> list[Row]:
    """A few trials of the LightGBM study (median pruner judging from the second trial) on the
    default run's cached features and folds. What a trial costs is the search's wall time over its
    finished trials: trials run side by side (one per core), so a trial's own duration counts
    each core-second twice on 2 cores."""
    from pipeline.engine.studies import default_storage_url, study_storage

    sets = [*overrides, f"tune.n_trials={TUNING_TRIALS}", "tune.pruner_startup_trials=1", "tune.timeout=0"]
    config, _ = bench_config(n, None, sets)
    runner = open_runner(config, None, cache, log=silent)
    with parallel_session(config.parallel), study_storage(default_storage_url(cache)), PeakMemory() as memory:
        start = time.perf_counter()
        tuned = runner.run("tune_lgbm")
        wall = time.perf_counter() - start
    finished, pruned = tuned.finished, int((tuned.trials["state"] == "PRUNED").sum())
    label = f"tuning trial (search of {wall:.0f} s / {finished} trials, {pruned} pruned)"
    return [Row(label, n, wall / max(finished, 1), from_cache="no", run="tuning", **memory.mib())]


def time_winner_importance(n: int, overrides: list[str], work: Path) -> list[Row]:
    """LightGBM and its permutation importance with the winners' settings (gbdt: dart cannot stop early)."""
    config, _ = bench_config(n, "winner", [*overrides, 'lgbm.mode="gbdt"'])
    runner = open_runner(config, None, work / f"cache-winner-{n}", log=silent)
    with parallel_session(config.parallel):
        rows = [time_stage(runner, name) for name in runner.closure("importance")]
    return labelled([r for r in rows if r.stage in ("lgbm", "importance")], "winner settings, gbdt")


def announce(rows: list[Row]) -> list[Row]:
    """``rows``, each also printed to stderr as soon as it is measured (a long run shows progress)."""
    for r in rows:
        line = (
            f"[bench] {r.stage}, {r.rows:,} rows: {r.seconds:.1f} s, "
            f"peak {mib(r.peak_pss_mib)} MiB PSS ({mib(r.peak_mib)} MiB RSS added up)"
        )
        print(line, file=sys.stderr, flush=True)
    return rows


def bench(
    sizes: list[int], preset: str | None, overrides: list[str], work: Path, skip: tuple[str, ...] = ()
) -> list[Row]:
    """Every row of the table; the plain ``lgb.train`` loop and the extras run at the largest size
    (the winners' settings at the smallest)."""
    rows: list[Row] = []
    for n in sizes:
        config, sets = bench_config(n, preset, overrides)
        cache, out = work / f"cache-{n}", work / f"out-{n}"
        with parallel_session(config.parallel):
            stage_rows, runner = time_stages(config, cache)
            total = sum_of_stages(stage_rows)
            rows += announce([*stage_rows, total])
        if n == max(sizes):
            with PeakMemory() as memory:
                plain = plain_lgbm_in_fresh_process(sets, preset, cache)
            rows += announce([Row("plain lgb.train loop", n, plain, from_cache="no", **memory.mib())])
        for stage in ("blend", "report"):
            seconds = rerun_seconds(stage, sets, preset, cache, out)
            rows += announce([Row(f"rerun --stage {stage} (command)", n, seconds, float("nan"), "yes")])
    growth_exponents(rows)
    largest, smallest = max(sizes), min(sizes)
    try:
        if "tune" not in skip:
            rows += announce(time_tuning_trials(largest, overrides, work / f"cache-{largest}"))
        if "winner" not in skip:
            rows += announce(time_winner_importance(smallest, overrides, work))
        if "full" not in skip:  # the longest extra last
            rows += announce(time_full_preset(largest, overrides, work))
    except KeyboardInterrupt:  # Ctrl-C during an extra: the table of what was measured
        print("[bench] stopped: the extras not finished are not measured", file=sys.stderr, flush=True)
    return rows


def verdict(value: float | None, goal: float) -> str:
    if value is None or np.isnan(value):
        return "not measured"
    return "met" if value <= goal else "NOT met"


def goal_lines(rows: list[Row]) -> list[str]:
    """Each goal of the speed issue with the ratio measured in this run, met or not."""
    biggest = max(r.rows for r in rows if r.run == "default")
    at = {r.stage: r for r in rows if r.rows == biggest}
    smallest_winner = {r.stage: r for r in rows if r.run == "winner settings, gbdt"}

    def ratio(top: str, bottom: str, table: dict = at) -> float | None:
        return table[top].seconds / table[bottom].seconds if top in table and bottom in table else None

    def show(value: float | None) -> str:
        return "-" if value is None or np.isnan(value) else f"{value:.2f}"

    plain = "plain lgb.train loop"
    trial = next((r for r in rows if r.run == "tuning"), None)
    trial_ratio = trial.seconds / at["lgbm"].seconds if trial and "lgbm" in at else None
    winner = ratio("winner settings, gbdt: importance", "winner settings, gbdt: lgbm", smallest_winner)
    default_importance = ratio("importance", "lgbm")
    blend_exponent = at["blend"].exponent if "blend" in at else None
    reruns = [at.get(f"rerun --stage {s} (command)") for s in ("blend", "report")]
    rerun = max(r.seconds for r in reruns) if all(reruns) else None
    # the stages' peak ("all" row): not the plain loop's process, the benchmark's own baseline
    peak, peak_rss = (getattr(at.get("all (sum of stages)"), field, np.nan) / 1024 for field in PEAK_FIELDS)
    lines = [
        (
            f"default --stage all / plain lgb.train loop at {biggest:,} rows",
            ratio("all (sum of stages)", plain),
            "all_ratio",
        ),
        ("blend's growth exponent in rows", blend_exponent, "blend_exponent"),
        ("importance / lgbm stage, default settings", default_importance, "importance_ratio"),
        ("importance / lgbm stage, winners' settings (gbdt)", winner, "importance_ratio"),
        (
            f"full preset --stage all / plain loop at {biggest:,} rows",
            ratio("full preset: all (sum of stages)", plain),
            "full_ratio",
        ),
        ("one tuning trial (search wall time / trials) / lgbm stage", trial_ratio, "trial_ratio"),
    ]
    out = [
        f"{text}: {show(value)} (goal <= {GOALS[goal]}): {verdict(value, GOALS[goal])}"
        for text, value, goal in lines
    ]
    shown = " / ".join(f"{r.seconds:.1f} s" for r in reruns if r) or "-"
    out.append(
        f"cached --stage blend / --stage report commands: {shown} (goal <= 1.5 s): "
        + verdict(rerun, GOALS["rerun_seconds"])
    )
    out.append(
        f"peak memory, default --stage all: {show(peak)} GiB (PSS: physical memory; {show(peak_rss)} GiB "
        f"adding up each process's RSS) (goal <= 3): " + verdict(peak, GOALS["peak_gib"])
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[50_000, 100_000, 200_000])
    parser.add_argument("--preset", choices=["fast", "full", "winner"])
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    parser.add_argument("--work-dir", type=Path, help="where the caches go (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="also write the table and goals to this Markdown file")
    parser.add_argument("--skip", nargs="+", choices=EXTRAS, default=[], help="extras not to run")
    parser.add_argument("--plain-lgbm", type=Path, metavar="CACHE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    set_quiet(True)
    if args.plain_lgbm:  # the baseline's own process (see plain_lgbm_in_fresh_process)
        runner = open_runner(load_config(None, args.set, args.preset), None, args.plain_lgbm, log=silent)
        print(plain_lgbm_seconds(runner))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-") as temporary:
        rows = bench(
            sorted(args.rows), args.preset, args.set, args.work_dir or Path(temporary), tuple(args.skip)
        )
    text = format_rows(rows) + "\n\n" + "\n".join(f"- {line}" for line in goal_lines(rows))
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
