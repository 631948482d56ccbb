"""Runs a stage and what it needs, each from the cache when its key is unchanged.

A stage's key hashes its name, its config section, its inputs' keys, the data fingerprint, the
source it runs and the versions of the libraries that shape its output. Keys are known before
anything runs, so a cached stage is loaded without loading (or computing) what it was made from.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from importlib import metadata
from typing import Any, Callable

from pipeline.cache import Cache
from pipeline.codehash import code_hash
from pipeline.config import Config, section_fingerprint
from pipeline.cv import ModelResult
from pipeline.graph import stage_graph
from pipeline.sources import FileSource, SampleSource

LIBRARIES = ("numpy", "pandas", "scikit-learn", "scipy", "lightgbm", "torch", "joblib")


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour shapes the artifacts."""
    return {name: metadata.version(name) for name in LIBRARIES}


def stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def silent(message: str) -> None:
    """A log that says nothing (--quiet)."""


@dataclass
class StageRecord:
    """What happened to one stage in this run, for the summary table."""

    name: str
    key: str
    status: str  # "computed", "cached" or "cached, not loaded"
    seconds: float
    meta: dict = field(default_factory=dict)


def score_fields(artifact: Any) -> dict:
    """The scores a model-like artifact carries, for the cache metadata (a study: its best)."""
    if hasattr(artifact, "score_meta"):
        return artifact.score_meta()
    if not isinstance(artifact, ModelResult):
        return {}
    return {
        "oof_score": artifact.oof_score,
        "fold_scores": list(artifact.fold_scores),
        "optimism": list(artifact.optimism),
        "info": json.loads(json.dumps(artifact.info, default=str)),
    }


class Runner:
    """Resolves the stage graph against one config, one data source and one cache."""

    def __init__(
        self,
        config: Config,
        source: SampleSource | FileSource,
        cache: Cache,
        force: frozenset[str] = frozenset(),
        log: Callable[[str], None] = stderr_log,
    ):
        self.config, self.source, self.cache, self.force, self.log = config, source, cache, force, log
        self.graph = stage_graph(config)
        self._keys: dict[str, str] = {}
        self._artifacts: dict[str, Any] = {}
        self.records: dict[str, StageRecord] = {}
        self.calls: dict[str, int] = {}

    def key(self, name: str) -> str:
        """The cache key of a stage (or the data fingerprint for ``data``)."""
        if name not in self._keys:
            self._keys[name] = self.source.fingerprint() if name == "data" else self._stage_key(name)
        return self._keys[name]

    def _stage_key(self, name: str) -> str:
        stage = self.graph[name]
        payload = {
            "stage": name,
            "config": section_fingerprint(self.config.section(stage.section)),
            "inputs": [self.key(i) for i in stage.inputs],
            "data": self.key("data"),
            "code": code_hash(stage.module),
            "versions": library_versions(),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]

    def closure(self, name: str) -> list[str]:
        """A stage and everything it depends on, inputs first (without ``data``)."""
        order: list[str] = []

        def visit(node: str) -> None:
            if node == "data" or node in order:
                return
            for parent in self.graph[node].inputs:
                visit(parent)
            order.append(node)

        visit(name)
        return order

    def artifact(self, name: str) -> Any:
        """The artifact of a stage: from memory, from the cache, or computed (inputs first)."""
        if name not in self._artifacts:
            self._artifacts[name] = self._load_data() if name == "data" else self._resolve(name)
        return self._artifacts[name]

    def _load_data(self) -> Any:
        start = time.perf_counter()
        dataset = self.source.load()
        seconds = time.perf_counter() - start
        rows = f"{len(dataset.train):,} train / {len(dataset.test):,} test rows"
        self.log(f"[data] loaded {rows} in {seconds:.1f}s")
        return dataset

    def _resolve(self, name: str) -> Any:
        key = self.key(name)
        start = time.perf_counter()
        if name not in self.force:
            hit = self.cache.load(name, key)
            if hit is not None:
                self.records[name] = StageRecord(name, key, "cached", time.perf_counter() - start, hit[1])
                self.log(f"[{name}] from cache ({key[:10]})")
                return hit[0]
        return self._compute(name, key)

    def _compute(self, name: str, key: str) -> Any:
        stage = self.graph[name]
        inputs = [self.artifact(i) for i in stage.inputs]
        self.log(f"[{name}] computing ({key[:10]})")
        start = time.perf_counter()
        artifact = stage.function(*inputs, cfg=self.config.section(stage.section))
        seconds = time.perf_counter() - start
        self.calls[name] = self.calls.get(name, 0) + 1
        meta = self.cache.save(name, key, artifact, self._meta(name, key, seconds, artifact))
        self.records[name] = StageRecord(name, key, "computed", seconds, meta)
        return artifact

    def _meta(self, name: str, key: str, seconds: float, artifact: Any) -> dict:
        stage = self.graph[name]
        return {
            "stage": name,
            "key": key,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "seconds": round(seconds, 3),
            "config": json.loads(section_fingerprint(self.config.section(stage.section))),
            "inputs": {i: self.key(i) for i in stage.inputs},
            "data": self.key("data"),
            "versions": library_versions(),
            **score_fields(artifact),
        }

    def run(self, target: str) -> Any:
        """The target's artifact; the records then cover its whole closure."""
        artifact = self.artifact(target)
        for name in self.closure(target):
            if name not in self.records:
                meta = self.cache.read_meta(name, self.key(name)) or {}
                self.records[name] = StageRecord(name, self.key(name), "cached, not loaded", 0.0, meta)
        return artifact

    def ordered_records(self, target: str) -> list[StageRecord]:
        return [self.records[name] for name in self.closure(target) if name in self.records]
