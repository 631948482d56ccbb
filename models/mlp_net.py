"""The MLP's network: an optional non-local block over the features, a fiberID embedding, an MLP head."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from models.mlp_inputs import FIBER_SLOTS

if TYPE_CHECKING:
    from pipeline.config import MlpConfig

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
    """Feature tokens, one non-local block, then the tokens flattened for the head."""

    def __init__(self, n_features: int, dim: int):
        super().__init__()
        self.tokens = FeatureTokens(n_features, dim)
        self.block = NonLocalBlock(dim)
        self.width = n_features * dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.tokens(x)).flatten(1)


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

    def __init__(self, n_numeric: int, n_classes: int, cfg: MlpConfig):
        super().__init__()
        self.body = AttentionBody(n_numeric, cfg.attention_dim) if cfg.architecture == "attention" else None
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
        return self.head(torch.cat(parts, dim=1))
