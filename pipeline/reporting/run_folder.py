"""What a command leaves: the run folder (submission, OOF files, report page, run.json), the
importance and tuning folders, the runs index, the ledger row and the summary's extra rows."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pipeline.engine.files import write_file, write_folder
from pipeline.engine.runner import Runner, library_versions
from pipeline.reporting.compare import row_losses_frame
from pipeline.reporting.files import importance_writers, report_writers, tune_writers, write_run_folder
from pipeline.reporting.ledger import LEDGER_NAME, ledger_row
from pipeline.reporting.pages import ModelLine, index_page, index_rows, run_page
from pipeline.stages.submission import holdout_score
from pipeline.validation.cv import honesty_label


@dataclass(frozen=True)
class StageOutputs:
    """What a command left: its folder, extra summary rows, lines to print, the simulated holdout."""

    folder: Path | None = None
    summary_rows: tuple[tuple[str, ...], ...] = ()
    lines: tuple[str, ...] = ()
    holdout: dict | None = None


def run_info(runner: Runner, targets: tuple[str, ...], results: list, holdout: dict | None) -> dict:
    """What produced a run folder: source, keys, scores and their honesty, duplicates, weights, the
    simulated holdout, config and library versions."""
    closure = {name for target in targets for name in runner.closure(target)}
    blend = results[-1]
    return {
        "stage": "all",
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
        "config": runner.config.as_dict(),
        "versions": library_versions(),
        "code_hashes": {name: runner.code_hash(name) for name in sorted(closure)},
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
    report, data, tuned = runner.artifact("report"), runner.artifact("data"), tuned_settings(runner)
    holdout = holdout_score(submission, data)
    info = run_info(runner, ("submission", "report"), results, holdout)
    info["tuned_settings"] = {t.model: t.params for t in tuned}
    rows = row_losses_frame(data.labels, data.classes, runner.artifact("folds"), results)
    page = run_page_html(runner, report, results, holdout)
    write_run_folder(folder, submission, results, info, pruning, report, tuned, rows, page)
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
    facts = [runner.source.headline(), duplicates]
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
    from pipeline.stages.importance import importance_text  # eli5 is imported only when it is needed

    runner.run("selection")
    importance, selection = runner.artifact("importance"), runner.artifact("selection")
    print(importance_text(importance))
    print(selection.describe())
    folder = out_dir / f"{runner.source.kind}-importance-{runner.key('selection')[:12]}"
    return write_folder(folder, importance_writers(importance, selection))


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


def write_stage_outputs(runner: Runner, stage: str, targets: tuple[str, ...], out_dir: Path) -> StageOutputs:
    """Files a command leaves (run folder, importance files, report)."""
    if stage == "all":
        return write_outputs(runner, out_dir)
    if stage == "tune":
        return write_tune_outputs(runner, out_dir, targets)
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


def run_ledger_row(
    runner: Runner,
    stage: str,
    targets: tuple[str, ...],
    records: list,
    outputs: StageOutputs,
    seconds: float,
    options: str = "",
) -> dict:
    """One ledger row: ids, hashes, every model's OOF log loss and honesty, the blend, duplicates, the
    simulated holdout, the submission, the time."""
    metas = {record.name: record.meta for record in records}
    scored = {name: meta for name, meta in metas.items() if "oof_score" in meta}
    blend = metas.get("blend", {}).get("info", {})
    config_json = json.dumps(runner.config.as_dict(), sort_keys=True, default=list)
    holdout = outputs.holdout or {}
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
