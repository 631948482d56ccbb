"""The MLP stage on the CPU and on CUDA, on the same built-in sample, folds and settings: seconds per
epoch on each device, and how closely their predictions agree.

    python tools/mlp_device_check.py --rows 50000 --cuda-rows 199991 --threads 16 --out check.json

Each device trains every fold (the default [mlp] section, ``mlp.device`` set to it); the CPU uses
``--threads`` threads. Float sums run in another order on a GPU, so the two trainings drift apart
epoch by epoch: agreement is measured on the OOF predictions (largest and mean absolute difference
of probabilities, share of rows with the same top class, each device's OOF log loss). The sample,
features and folds are built by the stage functions themselves (no cache: LightGBM need not be
installed). ``--cuda-rows``: one more CUDA run at that size (Dacon's scale), timed only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.table import build_features  # noqa: E402
from models.training import train_model  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.data.sources import SampleSource  # noqa: E402
from pipeline.engine.progress import set_quiet  # noqa: E402
from pipeline.validation.folds import make_folds  # noqa: E402


def inputs(rows: int):
    """The built-in sample of ``rows`` train rows, its default features and folds."""
    config = load_config(None, [f"sample.n_train={rows}", f"sample.n_test={max(100, rows // 20)}"])
    data = SampleSource(config.sample).load()
    return config, data, build_features(data, config.features), make_folds(data, config.folds)


def train_on(device: str, threads: int, rows: int, prepared=None) -> dict:
    """Every fold's MLP on ``device``: wall time, epochs, seconds per epoch, OOF score and predictions."""
    config, data, features, folds = prepared or inputs(rows)
    cfg = dataclasses.replace(config.mlp, device=device, num_threads=threads if device == "cpu" else 0)
    start = time.perf_counter()
    result = train_model(data, features, folds, cfg=cfg, family="mlp")
    seconds = time.perf_counter() - start
    epochs = int(sum(result.info["epochs"]))
    return {
        "device": result.info["device"],
        "rows": rows,
        "threads": cfg.num_threads,
        "seconds": seconds,
        "epochs": epochs,
        "seconds_per_epoch": result.info["seconds_per_epoch"],
        "best_epochs": result.info["best_epochs"],
        "oof_log_loss": result.oof_score,
        "oof": result.oof_proba.to_numpy(),
    }


def agreement(a: np.ndarray, b: np.ndarray) -> dict:
    difference = np.abs(a - b)
    return {
        "max_abs_difference": float(difference.max()),
        "mean_abs_difference": float(difference.mean()),
        "same_top_class": float((a.argmax(axis=1) == b.argmax(axis=1)).mean()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--cuda-rows", type=int, default=0, help="one more CUDA run at this size (0: none)")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    set_quiet(True)
    import torch

    if not torch.cuda.is_available():
        print("torch sees no CUDA device: nothing to compare", file=sys.stderr)
        return 2
    prepared = inputs(args.rows)
    runs = [train_on("cuda", 0, args.rows, prepared), train_on("cpu", args.threads, args.rows, prepared)]
    report = {
        "gpu": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "runs": [{k: v for k, v in run.items() if k != "oof"} for run in runs],
        "agreement": agreement(runs[0]["oof"], runs[1]["oof"]),
    }
    if args.cuda_rows:
        large = train_on("cuda", 0, args.cuda_rows)
        report["runs"].append({k: v for k, v in large.items() if k != "oof"})
    cuda, cpu = report["runs"][:2]
    report["cpu_seconds_per_cuda_second"] = cpu["seconds_per_epoch"] / cuda["seconds_per_epoch"]
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
