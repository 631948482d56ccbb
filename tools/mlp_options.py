"""Each MLP option of the ablation, blended with LightGBM predictions computed elsewhere.

A dozen MLP runs at Dacon's scale take two hours on a 2-core machine, about ten minutes on a GPU, and
a GPU machine may lack LightGBM. So the work is split in two:

    # where the pipeline ran (its cache holds lgbm and lgbm_pruned on the built-in sample):
    python tools/mlp_options.py export --cache-dir CACHE --out lgbm_oof.npz
    # on the machine that trains the MLPs (torch, pandas, scikit-learn, scipy; no LightGBM needed):
    python tools/mlp_options.py train --oof lgbm_oof.npz --rows 200000 --out options.json

``train`` rebuilds the same built-in sample, features and folds (it refuses to go on if the rows or
folds differ from the exported ones), trains each option's MLP as the mlp stage does (the configured
``[parallel]`` backend: local processes by default; CUDA when torch sees it), blends it with the
exported lgbm and lgbm_pruned OOF predictions (the default blend), and writes one JSON row per option
as it finishes: the MLP's OOF log loss (fold mean, std), seconds, epochs, the blend's honest score and
the paired blend difference against the first option (the default, always run first).
``--option TEXT`` (repeatable) runs only the options whose name contains TEXT, after the default.
"""

from __future__ import annotations

import argparse
import glob
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.table import build_features  # noqa: E402
from models.training import train_model  # noqa: E402
from pipeline.config import Config, load_config  # noqa: E402
from pipeline.data.sources import SampleSource  # noqa: E402
from pipeline.engine.cache import Cache  # noqa: E402
from pipeline.engine.parallel import parallel_session  # noqa: E402
from pipeline.engine.progress import set_quiet  # noqa: E402
from pipeline.stages.blend import blend_models  # noqa: E402
from pipeline.validation.cv import ModelResult  # noqa: E402
from pipeline.validation.folds import make_folds  # noqa: E402
from pipeline.validation.metrics import row_log_loss  # noqa: E402
from pipeline.validation.paired import PairedRows, paired_difference  # noqa: E402

OPTIONS = [  # most telling first: a run cut short still answers the main questions
    ("periodic embeddings (the default)", []),
    ("piecewise-linear embeddings", ['mlp.numeric_embedding="piecewise"']),
    (
        "previous default (no embedding, robust scaling, 3 layers, batch 512)",
        ['mlp.numeric_embedding="none"', 'mlp.scaling="robust"', "mlp.depth=3", "mlp.batch_size=512"],
    ),
    ("TabM, 4 heads", ['mlp.architecture="tabm"', "mlp.ensemble_size=4"]),
    ("no numeric embedding", ['mlp.numeric_embedding="none"']),
    ("attention block", ['mlp.architecture="attention"']),
    ("fiberID embedding 8", ["mlp.embedding_dim=8"]),
    ("oversampling to 200 rows", ["mlp.oversample_min_count=200"]),
    ("coslog4 schedule (RealMLP)", ['mlp.schedule="coslog4"']),
    ("robust scaling without the smooth clip", ['mlp.scaling="robust"']),
    ("scaling standard", ['mlp.scaling="standard"']),
    ("scaling quantile", ['mlp.scaling="quantile"']),
]
LIGHTGBM = ("lgbm", "lgbm_pruned")


def sample_rows(rows: int) -> list[str]:
    """The benchmark's sizes: Dacon's test rows per train row."""
    return [f"sample.n_train={rows}", f"sample.n_test={max(100, round(rows * 10_009 / 199_991))}"]


def export(cache_dir: Path, out: Path) -> None:
    """The cached lgbm and lgbm_pruned OOF predictions (float32), their ids and folds, to one file."""
    cache = Cache(cache_dir)

    def artifact(stage: str):
        found = sorted(glob.glob(str(cache_dir / stage / "*" / "artifact.joblib")))
        if len(found) != 1:
            raise SystemExit(f"{cache_dir}/{stage}: expected one cached artifact, found {len(found)}")
        hit = cache.load(stage, Path(found[0]).parent.name)  # signed entries only
        if hit is None:
            raise SystemExit(f"{found[0]}: not an entry this installation signed")
        return hit[0]

    models, folds = [artifact(name) for name in LIGHTGBM], artifact("folds")
    index = models[0].oof_proba.index
    arrays = {name: m.oof_proba.loc[index].to_numpy(np.float32) for name, m in zip(LIGHTGBM, models)}
    fold_of_row = folds.fold_of_row.loc[index].to_numpy(np.int8)
    np.savez_compressed(out, index=index.to_numpy(), fold_of_row=fold_of_row, **arrays)
    print(f"wrote {out}: {len(index):,} rows, folds {folds.signature}")


def lightgbm_results(stored, index: pd.Index, test_index: pd.Index, signature: str, classes: list) -> list:
    """The exported OOF predictions as results the blend takes (test predictions are not used)."""
    out = []
    for name in LIGHTGBM:
        oof = pd.DataFrame(stored[name].astype(np.float64), index=index, columns=classes)
        oof = oof.div(oof.sum(axis=1), axis=0)
        test = pd.DataFrame(1.0 / len(classes), index=test_index, columns=classes)
        out.append(ModelResult(name, oof, test, (), (), float("nan"), signature))
    return out


def chosen(options: list, wanted: list[str]) -> list:
    """The first option (the reference), then those whose name contains one of ``wanted`` (all if none)."""
    if not wanted:
        return options
    picked = [o for o in options[1:] if any(text in o[0] for text in wanted)]
    unknown = [text for text in wanted if not any(text in o[0] for o in options[1:])]
    if unknown:
        raise SystemExit(f"--option {unknown[0]!r}: no such option; options: {[o[0] for o in options]}")
    return [options[0], *picked]


def train(oof: Path, rows: int, out: Path, options: list = OPTIONS, extra: list[str] = ()) -> list[dict]:
    """Every option's MLP, its blend and the paired difference against the first option's blend."""
    base = load_config(None, [*sample_rows(rows), *extra])
    with parallel_session(base.parallel):
        return train_each(oof, rows, out, options, extra, base)


def train_each(oof: Path, rows: int, out: Path, options: list, extra: list[str], base: Config) -> list[dict]:
    """``train`` inside the parallel session: ``base`` is the sample's config without any option."""
    stored = np.load(oof)
    data = SampleSource(base.sample).load()
    features, folds = build_features(data, base.features), make_folds(data, base.folds)
    index = pd.Index(stored["index"])
    if not features.train.index.equals(index):
        raise SystemExit(f"{oof}: other rows than this sample's ({len(index):,} vs {len(features.train):,})")
    if not np.array_equal(folds.fold_of_row.loc[index].to_numpy(), stored["fold_of_row"]):
        raise SystemExit(f"{oof}: other folds than this sample's")
    lgbm, pruned = lightgbm_results(stored, index, features.test.index, folds.signature, list(data.classes))
    labels = data.labels.loc[index].to_numpy()
    fold_of_row, groups = folds.fold_of_row.loc[index].to_numpy(), folds.groups(index)
    report, first_blend = [], None
    for name, sets in options:
        config = load_config(None, [*sample_rows(rows), *extra, *sets])
        start = time.perf_counter()
        mlp = train_model(data, features, folds, cfg=config.mlp, family="mlp")
        seconds = time.perf_counter() - start
        blend = blend_models(data, folds, lgbm, mlp, pruned, cfg=config.blend)
        blend_loss = row_log_loss(labels, blend.oof_proba.loc[index].to_numpy())
        first_blend = blend_loss if first_blend is None else first_blend
        paired = paired_difference(PairedRows(first_blend, blend_loss, labels, fold_of_row, groups))
        report.append(
            {
                "option": name,
                "device": mlp.info["device"],
                "threads": mlp.info["threads"],
                "mlp_fold_mean": float(np.mean(mlp.fold_scores)),
                "mlp_fold_std": float(np.std(mlp.fold_scores)),
                "seconds": seconds,
                "epochs": int(sum(mlp.info["epochs"])),
                "blend": blend.oof_score,
                "blend_vs_first": paired.mean,
                "blend_vs_first_se": paired.standard_error,
                "verdict": paired.verdict() if report else "-",
            }
        )
        print(json.dumps(report[-1]), flush=True)
        out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    exporting = commands.add_parser("export", help="write the cached LightGBM OOF predictions to a file")
    exporting.add_argument("--cache-dir", type=Path, required=True)
    exporting.add_argument("--out", type=Path, required=True)
    training = commands.add_parser("train", help="train every MLP option and blend it")
    training.add_argument("--oof", type=Path, required=True)
    training.add_argument("--rows", type=int, default=200_000)
    training.add_argument("--out", type=Path, required=True)
    training.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    training.add_argument("--option", action="append", default=[], metavar="TEXT", help="only these options")
    args = parser.parse_args(argv)
    set_quiet(True)
    if args.command == "export":
        export(args.cache_dir, args.out)
    else:
        train(args.oof, args.rows, args.out, chosen(OPTIONS, args.option), extra=args.set)
    return 0


if __name__ == "__main__":
    sys.exit(main())
