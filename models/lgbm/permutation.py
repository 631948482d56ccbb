"""Fast predictions for permutation importance: a booster re-evaluates only the trees that split on
the columns a permutation changed, and adds their change to its raw scores on the reference rows.
Same probabilities as a full prediction (up to float rounding), at a fraction of the cost."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np

# A tree that always outputs 0, in LightGBM's model-string layout: it stands in for every tree that
# cannot see the changed columns.
ZERO_TREE = (
    "num_leaves=1\nnum_cat=0\nsplit_feature=\nsplit_gain=\nthreshold=\ndecision_type=\nleft_child=\n"
    "right_child=\nleaf_value=0\nleaf_weight=\nleaf_count=0\ninternal_value=\ninternal_weight=\n"
    "internal_count=\nis_linear=0\nshrinkage=1"
)
TREES_END = "end of trees"


class ChangedTreesPredictor:
    """A multiclass booster's raw scores on reference rows, and the trees each input column feeds."""

    max_share = 0.5  # above this share of trees to re-evaluate, a full prediction is cheaper

    def __init__(self, booster: lgb.Booster, num_iteration: int, reference: np.ndarray, head: str, rest: str):
        """``head`` and ``rest``: the booster's model string before and after its first ``Tree=``."""
        self.booster, self.num_iteration = booster, num_iteration
        self.reference = reference.copy()
        self.raw = booster.predict(reference, num_iteration=num_iteration, raw_score=True)
        body, _, tail = rest.partition(TREES_END)
        self.head = "\n".join(line for line in head.split("\n") if not line.startswith("tree_sizes="))
        self.tail = TREES_END + tail
        self.trees = ["Tree=" + tree for tree in body.rstrip("\n").split("\n\n\nTree=")]
        self.splits_on = [split_features(tree) for tree in self.trees]
        self._reference_raw: dict[frozenset, np.ndarray] = {}

    @classmethod
    def for_booster(cls, booster: lgb.Booster, num_iteration: int, reference: np.ndarray):
        """The predictor for ``booster``'s first ``num_iteration`` rounds, or None where raw scores
        do not add up tree by tree into softmax probabilities (another objective, linear trees)."""
        head, found, rest = booster.model_to_string(num_iteration=num_iteration).partition("\nTree=")
        if not found or "\nobjective=multiclass " not in head or "is_linear=1" in rest:
            return None
        return cls(booster, num_iteration, reference, head, rest)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if x.shape != self.reference.shape:
            return self.booster.predict(x, num_iteration=self.num_iteration)
        changed = frozenset(changed_columns(self.reference, x).tolist())
        if not changed:
            return softmax(self.raw)
        uses = [bool(features & changed) for features in self.splits_on]
        if sum(uses) > self.max_share * len(uses):
            return self.booster.predict(x, num_iteration=self.num_iteration)
        subset = self._booster(
            [tree if use else f"Tree={i}\n{ZERO_TREE}" for i, (tree, use) in enumerate(zip(self.trees, uses))]
        )
        if changed not in self._reference_raw:  # a few kB per column: kept for the next shuffle
            self._reference_raw[changed] = subset.predict(self.reference, raw_score=True)
        return softmax(self.raw + (subset.predict(x, raw_score=True) - self._reference_raw[changed]))

    def _booster(self, trees: list[str]) -> lgb.Booster:
        return lgb.Booster(model_str=f"{self.head}\n" + "\n\n\n".join(trees) + f"\n\n\n{self.tail}")


def split_features(tree: str) -> frozenset[int]:
    """The input columns a tree of a LightGBM model string splits on."""
    line = next(line for line in tree.split("\n") if line.startswith("split_feature="))
    return frozenset(int(value) for value in line.removeprefix("split_feature=").split())


def changed_columns(reference: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Columns where some row of ``x`` differs from ``reference`` (NaN equals NaN)."""
    same = reference == x
    if np.issubdtype(x.dtype, np.floating):
        same |= np.isnan(reference) & np.isnan(x)
    return np.flatnonzero(~same.all(axis=0))


def softmax(raw: np.ndarray) -> np.ndarray:
    """LightGBM's multiclass probabilities from raw scores."""
    shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class PermutationPredictor:
    """A fold model's predictions for permutation importance: its first rows are the reference;
    later rows that differ from them in a few columns are predicted by ``ChangedTreesPredictor``."""

    def __init__(self, booster: lgb.Booster, num_iteration: int):
        self.booster, self.num_iteration = booster, num_iteration
        self.predictor: ChangedTreesPredictor | None = None
        self.started = False

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        if not self.started:
            self.predictor = ChangedTreesPredictor.for_booster(self.booster, self.num_iteration, x)
            self.started = True
        if self.predictor is None:
            return self.booster.predict(x, num_iteration=self.num_iteration)
        return self.predictor.predict_proba(x)
