"""The mlp section and its search space."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.engine.settings import SEED_RANGE, setting

EARLY_STOPPING = ("inner", "valid_fold", "none")
SPACE = {
    "learning_rate": {"low": 0.0003, "high": 0.003, "log": True},
    "hidden": {"choices": [128, 256, 512]},
    "depth": {"low": 1, "high": 4, "int": True},
    "dropout": {"low": 0.0, "high": 0.4},
    "weight_decay": {"low": 0.000001, "high": 0.01, "log": True},
    "batch_size": {"choices": [256, 512, 1024]},
    "scaling": {"choices": ["robust_smooth", "robust", "standard", "quantile"]},
}
TUNABLE = {
    "scaling", "clip_quantile", "embedding_dim", "architecture", "hidden", "depth", "dropout", "norm",
    "activation", "attention_dim", "batch_size", "learning_rate", "weight_decay", "schedule",
    "numeric_embedding", "numeric_embedding_dim", "periodic_frequencies", "periodic_scale", "piecewise_bins",
    "ensemble_size", "label_smoothing", "class_weight", "oversample_min_count", "patience", "large_patience",
}  # fmt: skip


def space_key_ok(name: str) -> bool:
    return name in TUNABLE


@dataclass(frozen=True)
class MlpConfig:
    """PyTorch MLP on the same feature table and folds as LightGBM. Inputs: each column is clipped to
    the [clip_quantile, 1 - clip_quantile] quantiles of the fold's fit rows (so -5,310,802 magnitudes
    cannot dominate), then scaled by a scaler fitted on those rows."""

    scaling: str = setting(
        "robust_smooth",
        "none | standard | minmax | robust | robust_smooth (RealMLP's: robust, then x / sqrt(1 + (x/3)^2)) "
        "| quantile (Gaussian output)",
        choices=("none", "standard", "minmax", "robust", "robust_smooth", "quantile"),
    )
    clip_quantile: float = setting(0.001)
    embedding_dim: int = setting(
        0, "> 0: fiberID as a learned embedding of this size; 0: fiberID as a number"
    )
    architecture: str = setting(
        "plain",
        "plain | attention (a residual non-local block over the feature axis first) | tabm (TabM: "
        "ensemble_size MLPs sharing weights, BatchEnsemble adapters)",
        choices=("plain", "attention", "tabm"),
    )
    numeric_embedding: str = setting(
        "periodic",
        "none | periodic (PLR: sin/cos of learned frequencies, linear, ReLU) | piecewise (piecewise-linear, "
        "bins at quantiles of the fold's fit rows)",
        choices=("none", "periodic", "piecewise"),
    )
    numeric_embedding_dim: int = setting(16, "numbers per feature after the embedding")
    periodic_frequencies: int = setting(24)
    periodic_scale: float = setting(0.1, "initial frequencies ~ N(0, scale)")
    piecewise_bins: int = setting(32)
    ensemble_size: int = setting(8, "tabm: MLPs in the ensemble (k); cost grows about linearly with it")
    hidden: int = setting(256, "width of each hidden layer")
    depth: int = setting(2, "hidden layers")
    dropout: float = setting(0.1)
    norm: str = setting("layer", "layer | batch | none", choices=("layer", "batch", "none"))
    activation: str = setting(
        "silu", "relu | gelu | silu | leaky_relu", choices=("relu", "gelu", "silu", "leaky_relu")
    )
    attention_dim: int = setting(8, "token size per feature in the attention block")
    batch_size: int = setting(1024)
    max_epochs: int = setting(60)
    patience: int = setting(6, "epochs without a better held-out log loss before stopping")
    large_rows: int = setting(
        100_000, "from this many training rows per fold on (0: never), the patience is at most large_patience"
    )
    large_patience: int = setting(
        4,
        "an epoch is then 140+ steps and the held-out loss is measured on 16,000 rows, so fewer stale "
        "epochs are needed (at 200,000 rows: the same networks as patience 6 in 5/6 of the time)",
    )
    learning_rate: float = setting(1e-3, "AdamW")
    weight_decay: float = setting(1e-4)
    schedule: str = setting(
        "plateau",
        "plateau (halve on a stall) | cosine | onecycle | coslog4 (RealMLP's) | constant",
        choices=("plateau", "cosine", "onecycle", "coslog4", "constant"),
    )
    label_smoothing: float = setting(0.0, "> 0 trades calibration (the metric!) for regularisation")
    class_weight: str = setting(
        "none",
        "none | balanced | sqrt (inverse class frequency, or its square root)",
        choices=("none", "balanced", "sqrt"),
    )
    oversample_min_count: int = setting(
        0, "duplicate fit rows of rarer classes up to this many rows (0: off)"
    )
    early_stopping: str = setting(
        "inner",
        "inner: a stratified share of the fold's training rows; valid_fold: the scored fold (labelled "
        "optimistic); none: no early stopping",
        choices=EARLY_STOPPING,
    )
    inner_share: float = setting(0.1)
    settings: str = setting(
        "config",
        "config: the keys of this section | tuned: those, then the tune_mlp study's best",
        choices=("config", "tuned"),
    )
    seed: int = setting(42)
    n_seeds: int = setting(1, "networks per fold with different seeds; probabilities averaged")
    device: str = setting("auto", "auto (CUDA when present) | cpu | cuda", choices=("auto", "cpu", "cuda"))
    num_threads: int = setting(0, "0: all cores")

    RANGES = {
        "clip_quantile": "[0, 0.5)",
        "embedding_dim": "[0, 1024]",
        "numeric_embedding_dim": "[1, 1024]",
        "periodic_frequencies": "[1, 1024]",
        "periodic_scale": "(0, inf)",
        "piecewise_bins": "[2, 1024]",
        "ensemble_size": "[1, 64]",
        "hidden": "[1, 65536]",
        "depth": "[0, 64]",
        "dropout": "[0, 1)",
        "attention_dim": "[1, 1024]",
        "batch_size": "[1, inf)",
        "max_epochs": "[1, inf)",
        "patience": "[1, inf)",
        "large_rows": "[0, inf)",
        "large_patience": "[1, inf)",
        "learning_rate": "(0, 1]",
        "weight_decay": "[0, inf)",
        "label_smoothing": "[0, 1)",
        "oversample_min_count": "[0, inf)",
        "inner_share": "(0, 0.5]",
        "seed": SEED_RANGE,
        "n_seeds": "[1, 100]",
        "num_threads": "[0, 1024]",
    }
