"""Argument parsing and the top of a run: config, data source, runner, outputs, summary."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings
from pathlib import Path

from pipeline.api import open_runner
from pipeline.config import load_config
from pipeline.errors import UserError
from pipeline.graph import TARGETS, stage_graph
from pipeline.importance import importance_text
from pipeline.metrics import multiclass_log_loss
from pipeline.outputs import importance_writers, write_folder, write_run_folder
from pipeline.progress import set_quiet
from pipeline.report import summary_table
from pipeline.runner import Runner, library_versions, silent, stderr_log
from pipeline.sources import FileSource, SampleSource


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python pipeline/run.py",
        description="Dacon celestial-type classification: features, folds, models, blend, submission.",
    )
    parser.add_argument(
        "--stage", choices=list(TARGETS), default="all", help="what to run (with what it needs); default: all"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="folder with Dacon's train.csv, test.csv, sample_submission.csv "
        "(default: ./data/ if present, else the built-in sample)",
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
        "--write-sample",
        type=Path,
        metavar="DIR",
        help="write the built-in sample as Dacon's three CSV files to DIR and exit",
    )
    return parser.parse_args(argv)


def one_line_warnings(message, category, filename, lineno, file=None, line=None) -> str:
    return f"warning: {message}\n"


def run_info(runner: Runner, stage: str, results: list) -> dict:
    """What produced a run folder: source, keys, scores, weights, config and library versions."""
    target = TARGETS[stage]
    return {
        "stage": stage,
        "source": runner.source.banner(),
        "data_fingerprint": runner.key("data"),
        "keys": {name: runner.key(name) for name in runner.closure(target)},
        "oof_log_loss": {r.name: r.oof_score for r in results},
        "blend_weights": results[-1].info.get("weights"),
        "config": dataclasses.asdict(runner.config),
        "versions": library_versions(),
    }


def write_outputs(runner: Runner, out_dir: Path) -> tuple[Path, list[tuple[str, ...]]]:
    """Write the run folder of a full run; rows for the summary (the simulated holdout score)."""
    submission = runner.artifact("submission")
    blend = runner.artifact("blend")
    results = [runner.artifact(name) for name in runner.config.blend.models] + [blend]
    folder = out_dir / f"{runner.source.kind}-{runner.key('submission')[:12]}"
    pruning = importance_and_selection(runner, "submission")
    write_run_folder(folder, submission, results, run_info(runner, "all", results), pruning)
    extra = []
    data = runner.artifact("data")
    if data.test_labels is not None:
        proba = submission[list(data.classes)].to_numpy()
        score = multiclass_log_loss(data.test_labels.loc[submission["id"]].to_numpy(), proba)
        extra.append(("submission vs simulated test labels", f"{score:.4f}", "-", "-", "-"))
    return folder, extra


def importance_and_selection(runner: Runner, target: str):
    """(importance, selection) when the target needed them, else None."""
    if "selection" not in runner.closure(target):
        return None
    return runner.artifact("importance"), runner.artifact("selection")


def write_importance_outputs(runner: Runner, out_dir: Path) -> Path:
    """``--stage importance|selection``: print eli5's table, write the ranked CSV and the kept list."""
    runner.run("selection")
    importance, selection = runner.artifact("importance"), runner.artifact("selection")
    print(importance_text(importance))
    print(f"kept {len(selection.kept)} of {len(importance.table)} features ({selection.rule})")
    folder = out_dir / f"{runner.source.kind}-importance-{runner.key('selection')[:12]}"
    return write_folder(folder, importance_writers(importance, selection))


def execute(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.set)
    set_quiet(args.quiet)
    if args.write_sample is not None:
        paths = SampleSource(config.sample).write(args.write_sample)
        print("wrote " + ", ".join(str(p) for p in paths))
        return 0
    target = TARGETS[args.stage]
    log = silent if args.quiet else stderr_log
    runner = open_runner(config, args.data_dir, args.cache_dir, force=_forced(args, target, config), log=log)
    print(runner.source.banner(), flush=True)
    if isinstance(runner.source, FileSource):
        runner.artifact("data")  # validate the files before any stage runs
    start = time.perf_counter()
    runner.run(target)
    folder, extra = write_outputs(runner, args.out_dir) if args.stage == "all" else (None, [])
    if args.stage in ("importance", "selection"):
        folder = write_importance_outputs(runner, args.out_dir)
    print()
    print(summary_table(runner.ordered_records(target), extra))
    print(f"\n{args.stage} finished in {time.perf_counter() - start:.1f}s; cache: {args.cache_dir}/")
    if folder is not None and args.stage == "all":
        print(f"submission: {folder / 'submission.csv'}  (OOF and test predictions beside it)")
    elif folder is not None:
        print(f"importance: {folder / 'importance.csv'}, kept features: {folder / 'kept_features.txt'}")
    return 0


def _forced(args: argparse.Namespace, target: str, config) -> frozenset[str]:
    if not args.force:
        return frozenset()
    if args.stage == "all":
        return frozenset(stage_graph(config))
    return frozenset({target})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.formatwarning = one_line_warnings
    try:
        return execute(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished stages stay cached; rerun to continue", file=sys.stderr)
        return 130
