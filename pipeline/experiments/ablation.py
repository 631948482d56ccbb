"""``--stage ablate``: one table of which options help, each variant a list of config overrides.

Every variant is an ordinary run of the ``blend`` target with its overrides on top of the command's
config, through one shared cache: a variant recomputes only the stages its overrides reach.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from models import registry
from pipeline.engine.errors import ConfigError
from pipeline.reporting.files import FLOAT_FORMAT
from pipeline.validation.metrics import per_fold_log_loss, row_log_loss
from pipeline.validation.paired import PairedRows, paired_difference

DEFAULT_VARIANTS = Path(__file__).with_name("ablation.toml")
BASELINE = "baseline"


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: tuple[str, ...]


def load_variants(path: Path = DEFAULT_VARIANTS) -> list[Variant]:
    """The ``[[variant]]`` list of a TOML file (name, set); the first must be the baseline."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: variants file not found") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    variants = []
    for number, item in enumerate(raw.get("variant", []), start=1):
        if not isinstance(item, dict) or "name" not in item or not isinstance(item.get("set", []), list):
            raise ConfigError(
                f'{path}: variant {number} needs name = "..." and set = ["SECTION.KEY=VALUE", ...]'
            )
        variants.append(Variant(str(item["name"]), tuple(item.get("set", []))))
    if not variants or variants[0].overrides:
        raise ConfigError(f"{path}: the first variant must be the baseline, with set = []")
    return variants


ABLATION_DRAWS = 400  # bootstrap draws per comparison: enough for a 95 % interval's ends


def model_row(
    variant: str, model: str, scores: tuple[float, ...], seconds: float, cached: bool, honesty: str
) -> dict:
    return {
        "variant": variant,
        "model": model,
        "oof_mean": float(np.mean(scores)),
        "oof_std": float(np.std(scores)),
        "honesty": honesty,
        "seconds": round(seconds, 1),
        "from_cache": "yes" if cached else "no",
    }


@dataclass(frozen=True)
class Scored:
    """One model of one variant: its table row, its per-row OOF losses and the folds they came from."""

    row: dict
    losses: pd.Series
    folds_signature: str


def variant_scores(variant: Variant, runner) -> list[Scored]:
    """Each blended model of a variant and (when it blends two or more) the blend."""
    runner.run("blend")
    data = runner.artifact("data")
    models = runner.config.blend.models
    scored = []
    for name in (*models, "blend") if len(models) > 1 else models:
        record, result = runner.records[name], runner.artifact(name)
        seconds = record.meta.get("seconds", record.seconds)
        scores = blend_fold_scores(result, runner) if name == "blend" else result.fold_scores
        cached = record.status != "computed"
        row = model_row(variant.name, name, scores, seconds, cached, result.honesty)
        labels = data.labels.loc[result.oof_proba.index].to_numpy()
        losses = pd.Series(row_log_loss(labels, result.oof_proba.to_numpy()), index=result.oof_proba.index)
        scored.append(Scored(row, losses, result.folds_signature))
    return scored


def blend_fold_scores(blend, runner) -> tuple[float, ...]:
    """The blend's honest OOF log loss on each fold."""
    data, folds = runner.artifact("data"), runner.artifact("folds")
    labels = data.labels.loc[blend.oof_proba.index].to_numpy()
    fold_of_row = folds.fold_of_row.loc[blend.oof_proba.index].to_numpy()
    return tuple(per_fold_log_loss(labels, blend.oof_proba.to_numpy(), fold_of_row))


def baseline_name(model: str) -> str:
    """The baseline model a variant's model is compared with (a pruned model with its unpruned one)."""
    return model.replace("_pruned", "")


@dataclass(frozen=True)
class Baseline:
    """The baseline's models and the rows' labels, folds and duplicate groups, for paired differences."""

    models: dict[str, Scored]
    labels: pd.Series
    folds: object
    seed_spread: dict[str, float]

    def compare(self, scored: Scored) -> dict:
        """Paired difference of a variant's model with the same model in the baseline."""
        base = self.models.get(baseline_name(scored.row["model"]))
        empty = {"vs_baseline": np.nan, "standard_error": np.nan, "low_95": np.nan, "high_95": np.nan}
        if base is None:
            return {**empty, "verdict": "—"}
        if base.folds_signature != scored.folds_signature:
            return {**empty, "verdict": "other folds: not paired"}
        index = base.losses.index
        rows = PairedRows(
            base.losses.to_numpy(),
            scored.losses.loc[index].to_numpy(),
            self.labels.loc[index].to_numpy(),
            self.folds.fold_of_row.loc[index].to_numpy(),
            self.folds.groups(index),
        )
        difference = paired_difference(rows, draws=ABLATION_DRAWS)
        spread = self.seed_spread.get(scored.row["model"], 0.0)
        return {
            "vs_baseline": difference.mean,
            "standard_error": difference.standard_error,
            "low_95": difference.low,
            "high_95": difference.high,
            "verdict": "—" if scored is base else difference.verdict(spread),
        }


def model_seed(section) -> int:
    """A family section's seed: its own ``seed`` key, or its library's (``params``, as LightGBM's)."""
    if hasattr(section, "seed"):
        return int(section.seed)
    return int(getattr(section, "params", {}).get("seed", 0))


def seed_variants(config, k: int) -> list[Variant]:
    """The baseline again with ``k`` other seeds of every model family (same folds): seed-to-seed noise."""
    seeds = {name: model_seed(config.section(name)) for name in registry.family_names()}
    return [
        Variant(f"{BASELINE}, seeds +{i}", tuple(f"{name}.seed={seed + i}" for name, seed in seeds.items()))
        for i in range(1, k + 1)
    ]


def spread_of(scored_runs: list[list[Scored]]) -> dict[str, float]:
    """Per model, the standard deviation of its OOF log loss over the baseline and its seed reruns."""
    scores: dict[str, list[float]] = {}
    for run in scored_runs:
        for scored in run:
            scores.setdefault(scored.row["model"], []).append(scored.losses.mean())
    return {model: float(np.std(values, ddof=1)) for model, values in scores.items() if len(values) > 1}


def run_ablation(
    variants: list[Variant], open_variant: Callable[[tuple[str, ...]], object], log, seed_runs: int = 0
) -> pd.DataFrame:
    """Run each variant (``open_variant(overrides)`` gives its runner) and tabulate, each model with
    its paired difference to the baseline; ``seed_runs`` reruns of the baseline give the seed noise."""
    first = open_variant(variants[0].overrides)
    extra = seed_variants(first.config, seed_runs)
    everything = [variants[0], *extra, *variants[1:]]
    runs = []
    for number, variant in enumerate(everything, start=1):
        log(f"[ablate] {number}/{len(everything)}: {variant.name}")
        runs.append(variant_scores(variant, first if number == 1 else open_variant(variant.overrides)))
    baseline = Baseline(
        models={scored.row["model"]: scored for scored in runs[0]},
        labels=first.artifact("data").labels,
        folds=first.artifact("folds"),
        seed_spread=spread_of(runs[: 1 + len(extra)]),
    )
    rows = [{**s.row, **baseline.compare(s), "seed_spread": baseline.seed_spread.get(s.row["model"], np.nan)}
            for run in runs for s in run]  # fmt: skip
    return pd.DataFrame(rows)


def format_ablation(table: pd.DataFrame) -> str:
    """A Markdown table: variant, model, OOF log loss, paired difference to the baseline with its
    standard error, 95 % interval and verdict, honesty, seconds."""
    lines = [
        "| variant | model | OOF log loss (fold mean ± std) | vs baseline ± s.e. | 95 % interval | verdict "
        "| honesty | seconds | from cache |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        paired = not np.isnan(row.vs_baseline) and row.verdict != "—"
        diff = f"{row.vs_baseline:+.4f} ± {row.standard_error:.4f}" if paired else "—"
        interval = f"{row.low_95:+.4f} .. {row.high_95:+.4f}" if paired else "—"
        lines.append(
            f"| {row.variant} | {row.model} | {row.oof_mean:.4f} ± {row.oof_std:.4f} | {diff} | {interval} "
            f"| {row.verdict} | {row.honesty} | {row.seconds:.1f} | {row.from_cache} |"
        )
    return "\n".join(lines)


def ablation_writers(table: pd.DataFrame) -> dict[str, Callable[[Path], None]]:
    """ablation.csv and ablation.md (the Markdown table the command prints)."""
    return {
        "ablation.csv": lambda path: table.to_csv(path, index=False, float_format=FLOAT_FORMAT),
        "ablation.md": lambda path: path.write_text(format_ablation(table) + "\n", "utf-8"),
    }
