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

import numpy as np
import pandas as pd

from pipeline.engine.files import write_file, write_folder
from pipeline.engine.runner import Runner, library_versions
from pipeline.reporting.compare import row_losses_frame
from pipeline.reporting.files import importance_writers, report_writers, tune_writers, write_run_folder
from pipeline.reporting.ledger import LEDGER_NAME, ledger_row, read_ledger
from pipeline.reporting.pages import ModelLine, html_table, index_page, index_rows, run_page
from pipeline.stages.submission import clip_and_normalise, holdout_score
from pipeline.validation.cv import honesty_label
from pipeline.validation.holdout import holdout_groups, holdout_verdicts
from pipeline.validation.metrics import row_log_loss

STACKER_KEYS = ("form", "penalty", "penalty_per_fold", "penalty_cv_losses", "start_weights", "class_weights")


@dataclass(frozen=True)
class StageOutputs:
    """What a command left: its folder, extra summary rows, lines to print, the simulated holdout."""

    folder: Path | None = None
    summary_rows: tuple[tuple[str, ...], ...] = ()
    lines: tuple[str, ...] = ()
    holdout: dict | None = None
    reserved: dict | None = None
    """The reserved holdout's scores and verdicts (``[holdout] share``), when rows were reserved."""


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
        "stacker": {key: blend.info[key] for key in STACKER_KEYS if key in blend.info} or None,
        "simulated_holdout": holdout,
        "config": runner.config.as_dict(),
        "versions": library_versions(),
        "code_hashes": {name: runner.code_hash(name) for name in sorted(closure)},
    }


def reserved_holdout(runner: Runner, names: list[str], clip: float | None = None) -> dict | None:
    """Scores on the reserved holdout rows of the models ``names`` (their results carry holdout
    predictions), each against the best by OOF with a paired verdict; with ``clip``, the submission
    pipeline's (the blend clipped and renormalised as the submission is). None without a holdout."""
    data = runner.artifact("data")
    if data.holdout_labels is None:
        return None
    results = [
        result for result in (runner.artifact(name) for name in names) if result.holdout_proba is not None
    ]
    verdicts = holdout_verdicts(results, data.holdout_labels, holdout_groups(data))
    out = {
        "rows": int(len(data.holdout_labels)),
        "share": runner.config.holdout.share,
        "seed": runner.config.holdout.seed,
        "log_loss": {r.name: r.holdout_score for r in results},
        "oof_log_loss": {r.name: r.oof_score for r in results},
        "verdicts": [v.as_dict() for v in verdicts],
    }
    blend = next((r for r in results if r.name == "blend"), None)
    if clip is not None and blend is not None:
        proba = clip_and_normalise(blend.holdout_proba.loc[data.holdout_labels.index].to_numpy(), clip)
        losses = row_log_loss(data.holdout_labels.to_numpy(), proba)
        out["submission_pipeline"] = {
            "log_loss": float(losses.mean()),
            "standard_error": float(losses.std(ddof=1) / np.sqrt(len(losses))),
        }
    return out


def reserved_lines(reserved: dict | None) -> tuple[str, ...]:
    """What a run prints about its reserved holdout, after the summary table."""
    if reserved is None:
        return ()
    lines = [
        f"holdout: {reserved['rows']:,} train rows ({reserved['share']:.0%}, seed {reserved['seed']}) "
        "reserved before the folds; nothing was fitted on them"
    ]
    pipeline = reserved.get("submission_pipeline")
    if pipeline:
        lines.append(
            f"  submission pipeline (the blend, clipped as submitted): {pipeline['log_loss']:.4f} ± "
            f"{pipeline['standard_error']:.4f} (s.e.)"
        )
    for v in reserved["verdicts"]:
        lines.append(
            f"  {v['model']} against {v['reference']} (best by OOF): OOF {v['oof_difference']}, holdout "
            f"{v['holdout_difference']}: {v['verdict']}"
        )
    return tuple(lines)


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
    names = [*runner.config.blend.models, "blend"]
    reserved = reserved_holdout(runner, names, runner.config.submission.clip)
    info = run_info(runner, ("submission", "report"), results, holdout)
    info["holdout"] = reserved
    info["tuned_settings"] = {t.model: t.params for t in tuned}
    reserved_rows = None if data.holdout_labels is None else (data.holdout_labels, holdout_groups(data))
    rows = row_losses_frame(data.labels, data.classes, runner.artifact("folds"), results, reserved_rows)
    page = run_page_html(runner, report, results, holdout, reserved)
    write_run_folder(folder, submission, results, info, pruning, report, tuned, rows, page)
    lines = (
        *reserved_lines(reserved),
        f"submission: {folder / 'submission.csv'}  (OOF and test predictions beside it)",
        f"report: {folder / 'report' / 'index.html'}",
    )
    return StageOutputs(folder, holdout_row(holdout), lines, holdout, reserved)


def run_page_html(
    runner: Runner, report, results: list, holdout: dict | None, reserved: dict | None = None
) -> str:
    """The run's page: each model's score, honesty, time and cache state on top, then the report."""
    lines = []
    for result in results:
        record = runner.records.get(result.name)
        seconds = (record.meta.get("seconds", record.seconds) if record else math.nan) or math.nan
        cached = "yes" if record is not None and record.status != "computed" else "no"
        line = ModelLine(result.name, result.oof_score, result.honesty, float(seconds), cached)
        lines.append(dataclasses.replace(line, holdout=result.holdout_score))
    blend = results[-1]
    if "optimistic_score" in blend.info:
        reasons = (*blend.optimism, blend.info["optimistic_because"])
        optimistic = blend.info["optimistic_score"]
        lines.append(ModelLine("blend (all-OOF weights)", optimistic, honesty_label(reasons), math.nan, "—"))
    duplicates = runner.artifact("folds").duplicates.describe()
    facts = [runner.source.headline(), duplicates]
    if holdout is not None:
        facts.append(f"simulated holdout {holdout['log_loss']:.4f} ± {holdout['standard_error']:.4f} (s.e.)")
    facts.extend(line.strip() for line in reserved_lines(reserved))
    title = f"Run {runner.key('submission')[:12]}"
    body = stacker_table(blend.info) + report.body
    return run_page(
        body, title, facts, lines, blend.info.get("weights") or blend.info.get("start_weights") or {}
    )


def stacker_table(info: dict) -> str:
    """The stacker's weight of each model on its own log-probability of each class (its starting
    point, the geometric blend's weights, above it as bars), when the blend is a stacker."""
    if "class_weights" not in info:
        return ""
    frame = pd.DataFrame(info["class_weights"]).T.rename_axis("class")
    caption = (
        f"<h3>Stacker ({info['form']}, penalty {info['penalty']:g}): each model's weight on its own "
        "log-probability of each class</h3>"
    )
    return "<div class='card'>" + caption + html_table(frame, digits=3) + "</div>"


def write_runs_index(out_dir: Path) -> Path:
    """submissions/index.html: every run of the ledger, with a link to its page when it has one."""
    ledger = read_ledger(out_dir / LEDGER_NAME)

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
    outputs = stage_files(runner, stage, targets, out_dir)
    models = [n for n in dict.fromkeys(n for t in targets for n in runner.closure(t)) if is_model(runner, n)]
    reserved = reserved_holdout(runner, models) if models else None
    return dataclasses.replace(outputs, reserved=reserved, lines=(*reserved_lines(reserved), *outputs.lines))


def is_model(runner: Runner, name: str) -> bool:
    """A stage whose artifact carries OOF predictions (a model or the blend)."""
    return bool(runner.graph[name].family) or name == "blend"


def stage_files(runner: Runner, stage: str, targets: tuple[str, ...], out_dir: Path) -> StageOutputs:
    """The files of a command other than ``all``."""
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
    reserved = outputs.reserved
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
        holdout={name: round(score, 6) for name, score in reserved["log_loss"].items()} if reserved else "",
        holdout_verdicts={v["model"]: v["verdict"] for v in reserved["verdicts"]} if reserved else "",
        submission=str(outputs.folder / "submission.csv") if stage == "all" and outputs.folder else "",
        seconds=f"{seconds:.1f}",
        from_cache=cache_status({record.status for record in records}),
    )
