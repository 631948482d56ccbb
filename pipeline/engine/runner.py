"""Runs a stage and what it needs, each from the cache when its key is unchanged.

A stage's key hashes its name, its config section, its inputs' keys, the data fingerprint, the
source that shapes it (the modules its graph entry declares, and their project imports) and the
versions of the libraries it declares. Keys are known before anything runs, so a cached stage is
loaded without loading (or computing) what it was made from. Each entry's metadata keeps the parts
of its key, so a recompute says what changed (``explain``).
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
from pathlib import Path
from typing import Any, Callable

from pipeline.engine.cache import Cache
from pipeline.engine.codehash import PROJECT_ROOT, code_files
from pipeline.engine.redact import masked
from pipeline.engine.settings import section_fingerprint

LIBRARIES = ("numpy", "pandas", "scikit-learn", "scipy", "joblib", "lightgbm", "torch")


@lru_cache(maxsize=None)
def library_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def library_versions(names: tuple[str, ...] = LIBRARIES) -> dict[str, str]:
    """Versions of libraries whose behaviour shapes artifacts (default: the core ones, for run.json)."""
    return {name: library_version(name) for name in names}


def stderr_log(message: str) -> None:
    print(masked(message), file=sys.stderr, flush=True)


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
    """The scores a model-like artifact carries (``score_meta()``), for the cache metadata."""
    return artifact.score_meta() if hasattr(artifact, "score_meta") else {}


class Runner:
    """Resolves the stage graph against one config, one data source and one cache."""

    def __init__(
        self,
        config: Any,
        graph: dict,
        source: Any,
        cache: Cache,
        force: frozenset[str] = frozenset(),
        log: Callable[[str], None] = stderr_log,
        code_root: Path = PROJECT_ROOT,
    ):
        """``config``: sections by stage (``config.section(name)``); ``graph``: the stages by name;
        ``source``: the data (``fingerprint()``, ``load()``); ``code_root``: where the code is read."""
        self.config, self.graph, self.source, self.cache = config, graph, source, cache
        self.force, self.log, self.code_root = force, log, Path(code_root)
        self._keys: dict[str, str] = {}
        self._parts: dict[str, dict] = {}
        self._artifacts: dict[str, Any] = {}
        self.records: dict[str, StageRecord] = {}
        self.calls: dict[str, int] = {}

    def key(self, name: str) -> str:
        """The cache key of a stage (or the data fingerprint for ``data``)."""
        if name not in self._keys:
            self._keys[name] = self.source.fingerprint() if name == "data" else self._stage_key(name)
        return self._keys[name]

    def key_parts(self, name: str) -> dict:
        """What a stage's key hashes: its name, config section, inputs' keys, the data fingerprint,
        the files of the code that shapes it and the versions of the libraries it declares."""
        if name not in self._parts:
            stage = self.graph[name]
            self._parts[name] = {
                "stage": name,
                "config": json.loads(section_fingerprint(self.config.section(stage.section))),
                "inputs": {i: self.key(i) for i in stage.inputs},
                "data": self.key("data"),
                "code": code_files(stage.code, self.code_root),
                "versions": library_versions(stage.libraries),
            }
        return self._parts[name]

    def code_hash(self, name: str) -> str:
        """A short hash of the source files that shape a stage (kept in meta.json and run.json)."""
        code = json.dumps(self.key_parts(name)["code"], sort_keys=True)
        return hashlib.sha256(code.encode()).hexdigest()[:16]

    def _stage_key(self, name: str) -> str:
        parts = self.key_parts(name)
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]

    def explain(self, name: str) -> str:
        """Why a stage is computed: new, or what changed since the newest cached entry of that stage."""
        if name in self.force:
            return "forced (--force)"
        meta, problem = self.cache.inspect(name, self.key(name))
        if meta is not None:
            return "cached"
        if problem is not None:
            return f"its cache entry is not loaded ({problem}): recomputed"
        previous = self.cache.newest_meta(name)
        if previous is None or "key_parts" not in previous:
            return "no earlier entry of this stage in the cache"
        return (
            "changed since the entry of "
            + f"{previous.get('created', '?')}: "
            + "; ".join(key_changes(previous["key_parts"], self.key_parts(name)))
        )

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
        if self.log is not silent:  # the reason reads the stage's cached metadata: only when shown
            self.log(f"[{name}] computing ({key[:10]}): {self.explain(name)}")
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
            "code_hash": self.code_hash(name),
            "versions": self.key_parts(name)["versions"],
            "key_parts": self.key_parts(name),
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


def key_changes(before: dict, after: dict) -> list[str]:
    """The parts of two stage keys that differ, named: config keys, inputs, data, code files, versions."""
    changes = [f"config {change}" for change in value_changes(before.get("config", {}), after["config"])]
    changed_inputs = [i for i, k in after["inputs"].items() if before.get("inputs", {}).get(i) != k]
    if changed_inputs:
        changes.append(f"inputs recomputed or changed: {', '.join(changed_inputs)}")
    if before.get("data") != after["data"]:
        changes.append("data changed")
    old_code, new_code = before.get("code", {}), after["code"]
    edited = sorted(m for m in set(old_code) | set(new_code) if old_code.get(m) != new_code.get(m))
    if edited:
        changes.append(f"code: {', '.join(edited)}")
    old_versions = before.get("versions", {})
    versions = [
        f"{lib} {old_versions.get(lib)} -> {v}"
        for lib, v in after["versions"].items()
        if old_versions.get(lib) != v
    ]
    if versions:
        changes.append(f"versions: {', '.join(versions)}")
    return changes or ["nothing in its key (the entry was removed or its key scheme changed)"]


def value_changes(before: dict, after: dict, prefix: str = "") -> list[str]:
    """``key: old -> new`` for each key whose value differs (nested tables key by key)."""
    changes = []
    for key in sorted(set(before) | set(after), key=str):
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            changes += value_changes(old, new, f"{prefix}{key}.")
        elif old != new:
            changes.append(f"{prefix}{key}: {old!r} -> {new!r}")
    return changes
