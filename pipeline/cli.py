"""Argument parsing and the top of a run: config, data source, runner, outputs, summary."""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.ablation import DEFAULT_VARIANTS, format_ablation, load_variants, run_ablation
from pipeline.api import open_runner
from pipeline.compare import (
    compare_runs,
    compare_writers,
    find_run,
    format_comparison,
    load_run,
    row_losses_frame,
)
from pipeline.config import PRESETS, load_config
from pipeline.cv import honesty_label
from pipeline.errors import UserError
from pipeline.graph import TARGETS, stage_graph, targets_of
from pipeline.ledger import LEDGER_NAME, append_to_ledger, ledger_row
from pipeline.outputs import (
    ablation_writers,
    importance_writers,
    report_writers,
    tune_writers,
    write_file,
    write_folder,
    write_run_folder,
)
from pipeline.parallel import parallel_session
from pipeline.progress import set_quiet
from pipeline.report import summary_table
from pipeline.runner import Runner, library_versions, silent, stderr_log
from pipeline.site import ModelLine, index_page, index_rows, run_page
from pipeline.sources import FileSource, SampleSource
from pipeline.studies import default_storage_url, study_storage
from pipeline.submission import holdout_score


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python pipeline/run.py",
        description="Dacon celestial-type classification: features, folds, models, blend, submission.",
    )
    parser.add_argument(
        "--stage",
        choices=[*TARGETS, "tune", "ablate", "compare"],
        default="all",
        help="what to run (with what it needs); default: all. tune: the Optuna studies of [tune] models; "
        "ablate: the variants table; compare: two finished runs (--runs A B)",
    )
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="fast (minutes), full (the best we know), winner (the winners' published LightGBM dart "
        "settings), tuned (full, trained on settings tuned with Optuna)",
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
        help="TOML list of variants for --stage ablate (default: pipeline/ablation.toml)",
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
    return f"warning: {message}\n"


@dataclass(frozen=True)
class StageOutputs:
    """What a command left: its folder, extra summary rows, lines to print, the simulated holdout."""

    folder: Path | None = None
    summary_rows: tuple[tuple[str, ...], ...] = ()
    lines: tuple[str, ...] = ()
    holdout: dict | None = None


def run_info(runner: Runner, stage: str, results: list, holdout: dict | None) -> dict:
    """What produced a run folder: source, keys, scores and their honesty, duplicates, weights, the
    simulated holdout, config and library versions."""
    closure = {name for target in targets_of(stage, runner.config) for name in runner.closure(target)}
    blend = results[-1]
    return {
        "stage": stage,
        "source": runner.source.banner(),
        "data_fingerprint": runner.key("data"),
        "keys": {name: runner.key(name) for name in sorted(closure)},
        "oof_log_loss": {r.name: r.oof_score for r in results},
        "honesty": {r.name: r.honesty for r in results},
        "optimistic_scores": {
            f"{blend.name} (all-OOF weights)": {
                "log_loss": blend.info.get("optimistic_score"),
                "why": blend.info.get("optimistic_because"),
            }
        },
        "duplicates": dataclasses.asdict(runner.artifact("folds").duplicates),
        "blend_weights": blend.info.get("weights"),
        "simulated_holdout": holdout,
        "config": dataclasses.asdict(runner.config),
        "versions": library_versions(),
    }


def holdout_row(holdout: dict | None) -> tuple[tuple[str, ...], ...]:
    """The summary row of the submission's score on the simulated test labels, if there are any."""
    if holdout is None:
        return ()
    score = f"{holdout['log_loss']:.4f} ± {holdout['standard_error']:.4f} (s.e.)"
    return (("submission vs simulated holdout labels", score, "-", "drawn like train", "-", "-"),)


def write_outputs(runner: Runner, out_dir: Path) -> StageOutputs:
    """Write the run folder of a full run; the simulated holdout score when the data has test labels."""
    submission = runner.artifact("submission")
    blend = runner.artifact("blend")
    results = [runner.artifact(name) for name in runner.config.blend.models] + [blend]
    folder = out_dir / f"{runner.source.kind}-{runner.key('submission')[:12]}"
    pruning = importance_and_selection(runner, "submission")
    report = runner.artifact("report")
    holdout = holdout_score(submission, runner.artifact("data"))
    info = run_info(runner, "all", results, holdout)
    info["tuned_settings"] = {t.model: t.params for t in tuned_settings(runner)}
    data = runner.artifact("data")
    rows = row_losses_frame(data.labels, data.classes, runner.artifact("folds"), results)
    page = run_page_html(runner, report, results, holdout)
    write_run_folder(folder, submission, results, info, pruning, report, tuned_settings(runner), rows, page)
    lines = (
        f"submission: {folder / 'submission.csv'}  (OOF and test predictions beside it)",
        f"report: {folder / 'report' / 'index.html'}",
    )
    return StageOutputs(folder, holdout_row(holdout), lines, holdout)


def run_page_html(runner: Runner, report, results: list, holdout: dict | None) -> str:
    """The run's page: each model's score, honesty, time and cache state on top, then the report."""
    lines = []
    for result in results:
        record = runner.records.get(result.name)
        seconds = (record.meta.get("seconds", record.seconds) if record else math.nan) or math.nan
        cached = "yes" if record is not None and record.status != "computed" else "no"
        lines.append(ModelLine(result.name, result.oof_score, result.honesty, float(seconds), cached))
    blend = results[-1]
    if "optimistic_score" in blend.info:
        reasons = (*blend.optimism, blend.info["optimistic_because"])
        optimistic = blend.info["optimistic_score"]
        lines.append(ModelLine("blend (all-OOF weights)", optimistic, honesty_label(reasons), math.nan, "—"))
    duplicates = runner.artifact("folds").duplicates.describe()
    facts = [runner.source.banner().split(" (")[0].split(",")[0], duplicates]
    if holdout is not None:
        facts.append(f"simulated holdout {holdout['log_loss']:.4f} ± {holdout['standard_error']:.4f} (s.e.)")
    title = f"Run {runner.key('submission')[:12]}"
    return run_page(report.body, title, facts, lines, blend.info.get("weights") or {})


def write_runs_index(out_dir: Path) -> Path:
    """submissions/index.html: every run of the ledger, with a link to its page when it has one."""
    ledger = pd.read_csv(out_dir / LEDGER_NAME, dtype=str).fillna("")

    def page_of(run) -> str:
        if not run.submission:
            return ""
        page = Path(run.submission).parent / "report" / "index.html"
        return os.path.relpath(page, out_dir) if page.exists() else ""

    return write_file(out_dir / "index.html", index_page(index_rows(ledger, page_of)))


def tuned_settings(runner: Runner) -> list:
    """The studies whose best settings the run's models trained on."""
    return [runner.artifact(f"tune_{model}") for model in runner.config.tuned_models()]


def write_tune_outputs(runner: Runner, out_dir: Path, targets: tuple[str, ...]) -> StageOutputs:
    """``--stage tune``: each study's trials table, plots and best settings (best_params.toml)."""
    studies = [runner.artifact(name) for name in targets]
    for tuned in studies:
        print(
            f"{tuned.model}: best trial {tuned.best_trial} of {tuned.finished} finished, CV log loss "
            f"{tuned.best_score:.5f} (optimistic: chosen on these folds); {tuned.params}"
        )
    run_id = hashlib.sha256("".join(runner.key(name) for name in targets).encode()).hexdigest()[:12]
    folder = write_folder(out_dir / f"{runner.source.kind}-tune-{run_id}", tune_writers(studies))
    return StageOutputs(
        folder, lines=(f"tuning: {folder / 'best_params.toml'} (use with --config), trials_*.csv",)
    )


def importance_and_selection(runner: Runner, target: str):
    """(importance, selection) when the target needed them, else None."""
    if "selection" not in runner.closure(target):
        return None
    return runner.artifact("importance"), runner.artifact("selection")


def write_importance_outputs(runner: Runner, out_dir: Path) -> Path:
    """``--stage importance|selection``: print eli5's table, write the ranked CSV and the kept list."""
    from pipeline.importance import importance_text  # eli5 is imported only when it is needed

    runner.run("selection")
    importance, selection = runner.artifact("importance"), runner.artifact("selection")
    print(importance_text(importance))
    print(selection.describe())
    folder = out_dir / f"{runner.source.kind}-importance-{runner.key('selection')[:12]}"
    return write_folder(folder, importance_writers(importance, selection))


def parallel_overrides(args: argparse.Namespace) -> list[str]:
    """--backend, --jobs and --scheduler as [parallel] overrides."""
    items = []
    if args.scheduler:
        items += ['parallel.backend="dask"', f"parallel.scheduler={json.dumps(args.scheduler)}"]
    elif args.backend:
        items.append(f'parallel.backend="{args.backend}"')
    if args.jobs is not None:
        items.append(f"parallel.n_jobs={args.jobs}")
    return items


def execute(args: argparse.Namespace) -> int:
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
    print(runner.source.banner(), flush=True)
    if isinstance(runner.source, FileSource):
        runner.artifact("data")  # validate the files before any stage runs
    start = time.perf_counter()
    for name in targets:
        runner.run(name)
    outputs = write_stage_outputs(runner, args.stage, args.out_dir)
    records = list({r.name: r for name in targets for r in runner.ordered_records(name)}.values())
    seconds = time.perf_counter() - start
    print()
    print(summary_table(records, list(outputs.summary_rows)))
    duplicates = duplicates_line(runner, targets)
    if duplicates:
        print(duplicates)
    print(f"\n{args.stage} finished in {seconds:.1f}s; cache: {args.cache_dir}/")
    row = run_ledger_row(runner, args.stage, records, outputs, seconds, command_options(args))
    append_to_ledger(args.out_dir / LEDGER_NAME, row)
    print(f"runs: {write_runs_index(args.out_dir)}")
    for line in outputs.lines:
        print(line)
    return 0


def uses_folds(runner: Runner, targets: tuple[str, ...]) -> bool:
    return any("folds" in runner.closure(target) for target in targets)


def duplicates_line(runner: Runner, targets: tuple[str, ...]) -> str:
    """How much duplicated photometry the train set holds, when the targets used the folds."""
    if not uses_folds(runner, targets):
        return ""
    return "duplicates: " + runner.artifact("folds").duplicates.describe()


def cache_status(statuses: set[str]) -> str:
    """yes: every stage came from the cache; no: every stage was computed; partly: some of each."""
    if "computed" not in statuses:
        return "yes"
    return "no" if statuses == {"computed"} else "partly"


def write_stage_outputs(runner: Runner, stage: str, out_dir: Path) -> StageOutputs:
    """Files a command leaves (run folder, importance files, report)."""
    if stage == "all":
        return write_outputs(runner, out_dir)
    if stage == "tune":
        return write_tune_outputs(runner, out_dir, targets_of(stage, runner.config))
    if stage in ("importance", "selection"):
        folder = write_importance_outputs(runner, out_dir)
        return StageOutputs(
            folder, lines=(f"importance (ranked, kept per fold): {folder / 'importance.csv'}",)
        )
    if stage == "report":
        folder = out_dir / f"{runner.source.kind}-report-{runner.key('report')[:12]}"
        write_folder(folder, report_writers(runner.artifact("report"), prefix=""))
        return StageOutputs(folder, lines=(f"report: {folder / 'index.html'}",))
    return StageOutputs()


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


def run_ledger_row(
    runner: Runner, stage: str, records: list, outputs: StageOutputs, seconds: float, options: str = ""
) -> dict:
    """One ledger row: ids, hashes, every model's OOF log loss and honesty, the blend, duplicates, the
    simulated holdout, the submission, the time."""
    metas = {record.name: record.meta for record in records}
    scored = {name: meta for name, meta in metas.items() if "oof_score" in meta}
    blend = metas.get("blend", {}).get("info", {})
    config_json = json.dumps(dataclasses.asdict(runner.config), sort_keys=True, default=list)
    holdout = outputs.holdout or {}
    targets = targets_of(stage, runner.config)
    return ledger_row(
        run_id=runner.key(targets[0])[:12],
        stage=stage,
        options=options,
        data=runner.source.kind,
        data_fingerprint=runner.key("data")[:12],
        config_hash=hashlib.sha256(config_json.encode()).hexdigest()[:12],
        models={name: round(meta["oof_score"], 6) for name, meta in scored.items() if name != "blend"},
        honesty={name: honesty_label(tuple(meta.get("optimism", ()))) for name, meta in scored.items()},
        blend_method=blend.get("method", ""),
        blend_weights={name: round(w, 4) for name, w in blend.get("weights", {}).items()},
        blend_nested=blend.get("nested_score", ""),
        blend_optimistic=blend.get("optimistic_score", ""),
        duplicates=dataclasses.asdict(runner.artifact("folds").duplicates)
        if uses_folds(runner, targets)
        else "",
        simulated_holdout=holdout.get("log_loss", ""),
        simulated_holdout_se=holdout.get("standard_error", ""),
        submission=str(outputs.folder / "submission.csv") if stage == "all" and outputs.folder else "",
        seconds=f"{seconds:.1f}",
        from_cache=cache_status({record.status for record in records}),
    )


def _forced(args: argparse.Namespace, targets: tuple[str, ...], config) -> frozenset[str]:
    if not args.force:
        return frozenset()
    if args.stage == "all":
        return frozenset(stage_graph(config))
    return frozenset(targets)


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
