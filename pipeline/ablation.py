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

from pipeline.errors import ConfigError
from pipeline.metrics import per_fold_log_loss

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


def variant_rows(variant: Variant, runner) -> list[dict]:
    """Rows of one variant: each blended model and (when it blends two or more) the blend, with
    fold scores and time."""
    runner.run("blend")
    models = runner.config.blend.models
    rows = []
    for name in (*models, "blend") if len(models) > 1 else models:
        record, result = runner.records[name], runner.artifact(name)
        seconds = record.meta.get("seconds", record.seconds)
        scores = blend_fold_scores(result, runner) if name == "blend" else result.fold_scores
        cached = record.status != "computed"
        rows.append(model_row(variant.name, name, scores, seconds, cached, result.honesty))
    return rows


def blend_fold_scores(blend, runner) -> tuple[float, ...]:
    """The blend's honest OOF log loss on each fold."""
    data, folds = runner.artifact("data"), runner.artifact("folds")
    labels = data.labels.loc[blend.oof_proba.index].to_numpy()
    fold_of_row = folds.fold_of_row.loc[blend.oof_proba.index].to_numpy()
    return tuple(per_fold_log_loss(labels, blend.oof_proba.to_numpy(), fold_of_row))


def baseline_name(model: str) -> str:
    """The baseline model a variant's model is compared with (a pruned model with its unpruned one)."""
    return model.replace("_pruned", "")


def with_differences(rows: list[dict]) -> pd.DataFrame:
    """The rows with each model's difference to the same model in the baseline (negative: better)."""
    table = pd.DataFrame(rows)
    base = table[table["variant"] == BASELINE].set_index("model")["oof_mean"]
    reference = table["model"].map(baseline_name).map(base)
    table.insert(4, "vs_baseline", table["oof_mean"] - reference)
    return table


def run_ablation(
    variants: list[Variant], open_variant: Callable[[tuple[str, ...]], object], log
) -> pd.DataFrame:
    """Run each variant (``open_variant(overrides)`` gives its runner) and tabulate."""
    rows = []
    for number, variant in enumerate(variants, start=1):
        log(f"[ablate] {number}/{len(variants)}: {variant.name}")
        rows.extend(variant_rows(variant, open_variant(variant.overrides)))
    return with_differences(rows)


def format_ablation(table: pd.DataFrame) -> str:
    """A Markdown table: variant, model, OOF log loss mean ± std, difference to baseline, honesty,
    seconds."""
    lines = [
        "| variant | model | OOF log loss (fold mean ± std) | vs baseline | honesty | seconds | from cache |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        diff = "—" if row.variant == BASELINE or np.isnan(row.vs_baseline) else f"{row.vs_baseline:+.4f}"
        lines.append(
            f"| {row.variant} | {row.model} | {row.oof_mean:.4f} ± {row.oof_std:.4f} | {diff} "
            f"| {row.honesty} | {row.seconds:.1f} | {row.from_cache} |"
        )
    return "\n".join(lines)
