"""The MLP's networks.

``TabularNet``: optional numeric embeddings (periodic or piecewise-linear, from Gorishniy et al.'s
``rtdl_num_embeddings``; the periodic ones computed by ``models.mlp.periodic``), an optional non-local
block over the features, a fiberID embedding and an MLP head. ``TabMNet``: TabM (Gorishniy et al.,
ICLR 2025, the authors' ``tabm`` package), k MLPs sharing their weights through BatchEnsemble
adapters, trained together; it returns every head's logits and the prediction is the mean of the
heads' probabilities.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
import rtdl_num_embeddings
import torch
from torch import nn

from models.mlp.inputs import FIBER_SLOTS
from models.mlp.periodic import FusedPeriodicEmbeddings

if TYPE_CHECKING:
    from models.mlp.config import MlpConfig

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "leaky_relu": nn.LeakyReLU}


def norm_layer(kind: str, width: int) -> nn.Module:
    return {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}.get(kind, lambda _: nn.Identity())(width)


class FeatureTokens(nn.Module):
    """Each scalar feature j becomes a token x_j * w_j + b_j of ``dim`` numbers (a per-feature line)."""

    def __init__(self, n_features: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_features, dim) / math.sqrt(dim))
        self.bias = nn.Parameter(torch.zeros(n_features, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(-1) * self.weight + self.bias


class NonLocalBlock(nn.Module):
    """Residual non-local block (Wang et al., 2018) over the feature axis:
    z = x + W_z softmax(theta(x) phi(x)^T / sqrt(d)) g(x), on layer-normalised tokens.

    W_z starts at zero, so the block starts as the identity and learns how much to mix features.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.theta, self.phi, self.g = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        h = self.norm(tokens)
        scores = self.theta(h) @ self.phi(h).transpose(1, 2) / math.sqrt(h.shape[-1])
        return tokens + self.out(torch.softmax(scores, dim=-1) @ self.g(h))


class AttentionBody(nn.Module):
    """Feature tokens (numeric embeddings, or a line per feature), one non-local block, then the
    tokens flattened for the head."""

    def __init__(self, n_features: int, dim: int, tokens: nn.Module | None = None):
        super().__init__()
        self.tokens = tokens if tokens is not None else FeatureTokens(n_features, dim)
        self.block = NonLocalBlock(dim)
        self.width = n_features * dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.tokens(x)).flatten(1)


class EmbeddedFeatures(nn.Module):
    """Numeric embeddings, flattened for the head."""

    def __init__(self, embeddings: nn.Module, n_features: int, dim: int):
        super().__init__()
        self.embeddings = embeddings
        self.width = n_features * dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embeddings(x).flatten(1)


def numeric_embeddings(n_numeric: int, cfg: MlpConfig, bins: list[np.ndarray] | None) -> nn.Module | None:
    """Periodic (PLR: sin/cos of learned frequencies, a linear layer, ReLU) or piecewise-linear
    embeddings of each numeric feature (bins fitted on the fold's fit rows), or None."""
    if cfg.numeric_embedding == "periodic":
        return FusedPeriodicEmbeddings(
            n_numeric,
            cfg.numeric_embedding_dim,
            n_frequencies=cfg.periodic_frequencies,
            frequency_init_scale=cfg.periodic_scale,
        )
    if cfg.numeric_embedding == "piecewise":
        edges = [torch.as_tensor(b, dtype=torch.float32) for b in bins]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a feature with a single bin is fine (a min-max line)
            return rtdl_num_embeddings.PiecewiseLinearEmbeddings(
                edges, cfg.numeric_embedding_dim, activation=False, version="B"
            )
    return None


def mlp_head(width_in: int, n_classes: int, cfg: MlpConfig) -> nn.Sequential:
    """``depth`` times (Linear, norm, activation, dropout), then a Linear to the class logits."""
    layers: list[nn.Module] = []
    width = width_in
    for _ in range(cfg.depth):
        layers += [
            nn.Linear(width, cfg.hidden),
            norm_layer(cfg.norm, cfg.hidden),
            ACTIVATIONS[cfg.activation](),
            nn.Dropout(cfg.dropout),
        ]
        width = cfg.hidden
    layers.append(nn.Linear(width, n_classes))
    return nn.Sequential(*layers)


class TabularNet(nn.Module):
    """Logits for ``n_classes`` from scaled numeric features and (optionally) a fiberID embedding."""

    def __init__(self, n_numeric: int, n_classes: int, cfg: MlpConfig, bins: list[np.ndarray] | None = None):
        super().__init__()
        self.n_numeric = n_numeric
        embeddings = numeric_embeddings(n_numeric, cfg, bins)
        dim = cfg.numeric_embedding_dim if embeddings is not None else cfg.attention_dim
        if cfg.architecture == "attention":
            self.body = AttentionBody(n_numeric, dim, embeddings)
        else:
            self.body = None if embeddings is None else EmbeddedFeatures(embeddings, n_numeric, dim)
        width = self.body.width if self.body is not None else n_numeric
        self.embedding = None
        if cfg.embedding_dim > 0:
            self.embedding = nn.Embedding(FIBER_SLOTS, cfg.embedding_dim)
            nn.init.normal_(self.embedding.weight, std=0.1)
            width += cfg.embedding_dim
        self.head = mlp_head(width, n_classes, cfg)

    def forward(self, numeric: torch.Tensor, fiber: torch.Tensor) -> torch.Tensor:
        parts = [self.body(numeric) if self.body is not None else numeric]
        if self.embedding is not None:
            parts.append(self.embedding(fiber))
        return self.head(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])


TABM_ACTIVATIONS = {"relu": "ReLU", "gelu": "GELU", "silu": "SiLU", "leaky_relu": "LeakyReLU"}


class TabMNet(nn.Module):
    """TabM: ``ensemble_size`` MLPs (``depth`` blocks of ``hidden``) sharing weights, on the numeric
    embeddings (if any) and the fiberID one-hot (if ``embedding_dim`` > 0). Returns (rows, k, classes)."""

    def __init__(self, n_numeric: int, n_classes: int, cfg: MlpConfig, bins: list[np.ndarray] | None = None):
        super().__init__()
        import tabm

        self.n_numeric = n_numeric
        self.uses_fiber = cfg.embedding_dim > 0
        self.model = tabm.TabM.make(
            n_num_features=n_numeric,
            cat_cardinalities=[FIBER_SLOTS] if self.uses_fiber else None,
            d_out=n_classes,
            num_embeddings=numeric_embeddings(n_numeric, cfg, bins),
            k=cfg.ensemble_size,
            n_blocks=max(cfg.depth, 1),
            d_block=cfg.hidden,
            dropout=cfg.dropout,
            activation=TABM_ACTIVATIONS[cfg.activation],
        )

    def forward(self, numeric: torch.Tensor, fiber: torch.Tensor) -> torch.Tensor:
        return self.model(numeric, fiber.unsqueeze(1) if self.uses_fiber else None)


def make_net(n_numeric: int, n_classes: int, cfg: MlpConfig, bins: list[np.ndarray] | None) -> nn.Module:
    """The configured network."""
    network = TabMNet if cfg.architecture == "tabm" else TabularNet
    return network(n_numeric, n_classes, cfg, bins)
