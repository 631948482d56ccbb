"""Argument parsing and the top of a run: config, data source, runner, outputs, summary."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import traceback
import warnings
from pathlib import Path

from pipeline.api import open_runner
from pipeline.config import PRESETS, load_config
from pipeline.data.sources import SampleSource
from pipeline.engine.errors import UserError
from pipeline.engine.files import write_folder
from pipeline.engine.parallel import parallel_session
from pipeline.engine.progress import set_quiet
from pipeline.engine.redact import masked
from pipeline.engine.runner import Runner, silent, stderr_log
from pipeline.engine.studies import default_storage_url, study_storage
from pipeline.experiments.ablation import (
    DEFAULT_VARIANTS,
    ablation_writers,
    format_ablation,
    load_variants,
    run_ablation,
)
from pipeline.graph import check_installed, target_names, targets_of
from pipeline.reporting.compare import compare_runs, compare_writers, find_run, format_comparison, load_run
from pipeline.reporting.ledger import LEDGER_NAME, append_to_ledger
from pipeline.reporting.run_folder import (
    duplicates_line,
    run_ledger_row,
    write_runs_index,
    write_stage_outputs,
)
from pipeline.reporting.summary import summary_table


class OneLineParser(argparse.ArgumentParser):
    """Argument errors in one line, like every other error of the command line (exit code 2)."""

    def error(self, message: str):
        print(f"error: {message} (python pipeline/run.py --help lists the options)", file=sys.stderr)
        raise SystemExit(2)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(
        prog="python pipeline/run.py",
        description="Dacon celestial-type classification: features, folds, models, blend, submission.",
    )
    parser.add_argument(
        "--stage",
        choices=[*target_names(), "tune", "ablate", "compare"],
        default="all",
        help="what to run (with what it needs); default: all. tune: the Optuna studies of [tune] models; "
        "ablate: the variants table; compare: two finished runs (--runs A B)",
    )
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="fast (minutes), full (the best we know), winner (the winners' published LightGBM dart "
        "settings), tuned (full, trained on settings tuned with Optuna), zoo (LightGBM, XGBoost, CatBoost "
        "and TabM, blended; needs the zoo extra)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="folder with Dacon's train.csv, test.csv, sample_submission.csv "
        "(default: ./data/ if present, else the built-in sample)",
    )
    parser.add_argument(
        "--holdout",
        type=float,
        metavar="SHARE",
        help="reserve this share of the train rows (stratified, duplicates whole) before the folds: nothing "
        "is fitted on them, and every model, blend and the submission pipeline is scored on them "
        "(holdout.share)",
    )
    parser.add_argument(
        "--config", type=Path, help="TOML file overriding the defaults (pipeline/default_config.toml)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override one config value, e.g. lgbm.learning_rate=0.03 (repeatable)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(".cache"), help="artifact cache (default: .cache/)"
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path("submissions"),
        help="where run folders are written (default: submissions/)",
    )
    parser.add_argument(
        "--force", action="store_true", help="recompute the chosen stage (with all: every stage)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars or stage log")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="compute nothing: say for each stage the command needs whether it is cached, or what in its "
        "key changed since the newest cached entry of that stage",
    )
    parser.add_argument(
        "--backend",
        choices=["sequential", "processes", "dask"],
        help="where fold/seed tasks run (default: parallel.backend, local processes)",
    )
    parser.add_argument("--jobs", type=int, metavar="N", help="workers at once (default: one per core)")
    parser.add_argument(
        "--scheduler", metavar="tcp://HOST:PORT", help="a running Dask scheduler (implies --backend dask)"
    )
    parser.add_argument(
        "--variants",
        type=Path,
        help="TOML list of variants for --stage ablate (default: pipeline/experiments/ablation.toml)",
    )
    parser.add_argument(
        "--runs",
        nargs=2,
        metavar=("A", "B"),
        help="--stage compare: two run folders (submissions/<run>) or ledger run ids; B is compared with A",
    )
    parser.add_argument(
        "--seed-runs",
        type=int,
        default=0,
        metavar="K",
        help="--stage ablate: rerun the baseline with K other seeds to measure seed-to-seed noise",
    )
    parser.add_argument(
        "--write-sample",
        type=Path,
        metavar="DIR",
        help="write the built-in sample as Dacon's three CSV files to DIR and exit",
    )
    return parser.parse_args(argv)


def one_line_warnings(message, category, filename, lineno, file=None, line=None) -> str:
    return f"warning: {masked(str(message))}\n"


def parallel_overrides(args: argparse.Namespace) -> list[str]:
    """--backend, --jobs, --scheduler ([parallel]) and --holdout ([holdout]) as config overrides."""
    items = []
    if args.scheduler:
        items += ['parallel.backend="dask"', f"parallel.scheduler={json.dumps(args.scheduler)}"]
    elif args.backend:
        items.append(f'parallel.backend="{args.backend}"')
    if args.jobs is not None:
        items.append(f"parallel.n_jobs={args.jobs}")
    if args.holdout is not None:
        items.append(f"holdout.share={args.holdout!r}")
    return items


def check_paths(args: argparse.Namespace) -> None:
    """Files and folders named on the command line are what they must be, before anything is read or
    written: one line naming the option and the path otherwise."""
    for option, path in (("--config", args.config), ("--variants", args.variants)):
        if path is not None and not path.is_file():
            raise UserError(
                f"{option} {path}: {'is a folder, not a file' if path.is_dir() else 'no such file'}"
            )
    if args.data_dir is not None and not args.data_dir.is_dir():
        what = "is a file, not a folder" if args.data_dir.exists() else "no such folder"
        raise UserError(
            f"--data-dir {args.data_dir}: {what} (it should hold train.csv, test.csv, sample_submission.csv)"
        )
    folders = (
        ("--cache-dir", args.cache_dir),
        ("--out-dir", args.out_dir),
        ("--write-sample", args.write_sample),
    )
    for option, path in folders:
        if path is not None and path.exists() and not path.is_dir():
            raise UserError(f"{option} {path}: is a file, not a folder")
    if args.seed_runs < 0:
        raise UserError(f"--seed-runs {args.seed_runs}: out of range; allowed: --seed-runs >= 0")


def execute(args: argparse.Namespace) -> int:
    check_paths(args)
    args.set = [*args.set, *parallel_overrides(args)]
    config = load_config(args.config, args.set, args.preset)
    set_quiet(args.quiet)
    storage = config.tune.storage or default_storage_url(args.cache_dir)
    with parallel_session(config.parallel), study_storage(storage):
        return execute_with(args, config)


def execute_ablation(args: argparse.Namespace, config) -> int:
    """``--stage ablate``: every variant through one cache; the table printed and written."""
    variants = load_variants(args.variants or DEFAULT_VARIANTS)
    log = silent if args.quiet else stderr_log

    def open_variant(overrides: tuple[str, ...]) -> Runner:
        variant_config = load_config(args.config, [*args.set, *overrides], args.preset)
        return open_runner(variant_config, args.data_dir, args.cache_dir, log=log)

    first = open_variant(())
    print(first.source.banner(), flush=True)
    start = time.perf_counter()
    table = run_ablation(variants, open_variant, log, seed_runs=args.seed_runs)
    seconds = time.perf_counter() - start
    overrides = [v.overrides for v in variants]
    described = json.dumps([first.key("data"), args.preset, args.set, overrides, args.seed_runs])
    run_id = hashlib.sha256(described.encode()).hexdigest()[:12]
    folder = args.out_dir / f"{first.source.kind}-ablation-{run_id}"
    write_folder(folder, ablation_writers(table))
    print()
    print(format_ablation(table))
    print(f"\nablate finished in {seconds:.1f}s; table: {folder / 'ablation.csv'}")
    return 0


def execute_comparison(args: argparse.Namespace) -> int:
    """``--stage compare --runs A B``: paired differences of B against A, printed and written."""
    if not args.runs:
        raise UserError("--stage compare needs --runs A B (two run folders or ledger run ids)")
    a, b = (load_run(find_run(reference, args.out_dir)) for reference in args.runs)
    comparison = compare_runs(a, b)
    print(format_comparison(comparison))
    folder = write_folder(args.out_dir / f"compare-{a.name}-{b.name}", compare_writers(comparison, a, b))
    print(f"comparison: {folder / 'index.html'} (and CSV tables beside it)")
    return 0


def execute_with(args: argparse.Namespace, config) -> int:
    if args.stage == "ablate":
        return execute_ablation(args, config)
    if args.stage == "compare":
        return execute_comparison(args)
    if args.write_sample is not None:
        paths = SampleSource(config.sample).write(args.write_sample)
        print("wrote " + ", ".join(str(p) for p in paths))
        return 0
    targets = targets_of(args.stage, config)
    log = silent if args.quiet else stderr_log
    runner = open_runner(config, args.data_dir, args.cache_dir, force=_forced(args, targets, config), log=log)
    check_installed(runner.graph, dict.fromkeys(n for target in targets for n in runner.closure(target)))
    print(runner.source.banner(), flush=True)
    if args.explain:
        return explain(runner, targets)
    if runner.source.kind == "data":
        runner.artifact("data")  # validate the files before any stage runs
    start = time.perf_counter()
    for name in targets:
        runner.run(name)
    outputs = write_stage_outputs(runner, args.stage, targets, args.out_dir)
    records = list({r.name: r for name in targets for r in runner.ordered_records(name)}.values())
    seconds = time.perf_counter() - start
    print()
    print(summary_table(records, list(outputs.summary_rows)))
    duplicates = duplicates_line(runner, targets)
    if duplicates:
        print(duplicates)
    print(f"\n{args.stage} finished in {seconds:.1f}s; cache: {args.cache_dir}/")
    row = run_ledger_row(runner, args.stage, targets, records, outputs, seconds, command_options(args))
    append_to_ledger(args.out_dir / LEDGER_NAME, row)
    print(f"runs: {write_runs_index(args.out_dir)}")
    for line in outputs.lines:
        print(line)
    return 0


def command_options(args: argparse.Namespace) -> str:
    """The preset and overrides a command ran with (what the runs index shows)."""
    parts = [f"--preset {args.preset}"] if args.preset else []
    if args.config:
        parts.append(f"--config {args.config}")
    user_sets = [item for item in args.set if not item.startswith("parallel.")]
    parts += [f"--set {item}" for item in user_sets]
    if args.data_dir:
        parts.append(f"--data-dir {args.data_dir}")
    return " ".join(parts)


def explain(runner: Runner, targets: tuple[str, ...]) -> int:
    """``--explain``: each stage the targets need, with its key and whether it is cached or why not."""
    names = list(dict.fromkeys(name for target in targets for name in runner.closure(target)))
    width = max(len(name) for name in names)
    for name in names:
        print(f"{name.ljust(width)}  {runner.key(name)[:10]}  {runner.explain(name)}")
    return 0


def _forced(args: argparse.Namespace, targets: tuple[str, ...], config) -> frozenset[str]:
    if not args.force:
        return frozenset()
    if args.stage == "all":
        from pipeline.graph import stage_graph

        return frozenset(stage_graph(config))
    return frozenset(targets)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.formatwarning = one_line_warnings
    try:
        return execute(args)
    except UserError as error:
        print(f"error: {masked(str(error))}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished stages stay cached; rerun to continue", file=sys.stderr)
        return 130
    except Exception:  # a bug: its traceback, with any URL password masked
        print(masked(traceback.format_exc()), file=sys.stderr, end="")
        return 1
