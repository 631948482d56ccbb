"""Hash of the project source that shapes a stage's artifact: the modules the stage declares and every
project module they import, except the engine's bookkeeping (``NEVER_SHAPES``).

Reporting and the command line are never reached from a model or a study: the layers import one
way only (``tests/test_layers.py``), so their code is no part of those keys."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import sys
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

PROJECT_PACKAGES = ("pipeline", "features", "models")
NEVER_SHAPES = (
    "pipeline.engine.settings",
    "pipeline.engine.runner",
    "pipeline.engine.cache",
    "pipeline.engine.codehash",
    "pipeline.engine.files",
    "pipeline.engine.studies",
    "pipeline.engine.redact",
    "pipeline.engine.signing",
    "models.registry",
    "models.spec",
)
"""Modules no key follows: config machinery, cache bookkeeping, file writing, where studies are stored,
the list of families and the spec class, masking secrets and signing entries."""


def is_type_checking_block(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:``: imports there serve annotations only and never run."""
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        isinstance(test, ast.Name)
        and test.id == "TYPE_CHECKING"
        or isinstance(test, ast.Attribute)
        and test.attr == "TYPE_CHECKING"
    )


def runtime_nodes(tree: ast.AST):
    """Every node of a module except those inside ``if TYPE_CHECKING:`` blocks."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        pending.extend(child for child in ast.iter_child_nodes(node) if not is_type_checking_block(child))


def imported_modules(path: Path, module_name: str, annotations: bool = False) -> set[str]:
    """Project modules a source file imports at run time (absolute and relative imports); with
    ``annotations``, those of ``if TYPE_CHECKING:`` blocks too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name if path.name == "__init__.py" else module_name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree) if annotations else runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = (
                importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                if node.level
                else node.module
            )
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in PROJECT_PACKAGES}


PROJECT_ROOT = Path(__file__).resolve().parents[2]


def module_path(module_name: str, root: Path = PROJECT_ROOT) -> Path | None:
    """The source file of a project module, or None for a name that is not one (a class or function
    imported from a module). Found on disk, never imported: hashing must not load torch."""
    parts = module_name.split(".")
    if parts[0] not in PROJECT_PACKAGES:
        return None
    base = Path(root).joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def outside_path(module_name: str) -> Path | None:
    """The file of a loaded module outside the project (a family a plug-in or a test registers)."""
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    return Path(file) if file else None


@lru_cache(maxsize=None)
def source_closure(modules: tuple[str, ...], root: Path = PROJECT_ROOT) -> tuple[tuple[str, Path], ...]:
    """(name, file) of every source file that shapes ``modules``: each of them, and every project
    module reachable through their imports except ``NEVER_SHAPES``, sorted by name."""
    seen: dict[str, Path] = {}
    for start in modules:
        if module_path(start, root) is None and (outside := outside_path(start)) is not None:
            seen[start] = outside
    pending = [name for name in modules if name not in seen]
    while pending:
        name = pending.pop()
        path = module_path(name, root)
        if name in seen or path is None or (name in NEVER_SHAPES and name not in modules):
            continue
        seen[name] = path
        pending.extend(imported_modules(path, name))
        if "." in name:
            pending.append(name.rpartition(".")[0])
    return tuple(sorted((name, path) for name, path in seen.items()))


def as_modules(code: Callable | str | Iterable[str]) -> tuple[str, ...]:
    if callable(code):
        return (inspect.getmodule(code).__name__,)
    return (code,) if isinstance(code, str) else tuple(code)


def code_files(code: Callable | str | Iterable[str], root: Path = PROJECT_ROOT) -> dict[str, str]:
    """Each shaping source file (by module name) and the SHA-256 of its bytes: what a key's code part
    covers, kept in the cache metadata so a recompute can say which file changed."""
    return {
        name: hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        for name, path in source_closure(as_modules(code), Path(root))
    }


def code_hash(code: Callable | str | Iterable[str], root: Path = PROJECT_ROOT) -> str:
    """Hash of the source files behind a function, a module name or several (their import closure),
    read from disk without importing them."""
    digest = hashlib.sha256()
    for name, path in source_closure(as_modules(code), Path(root)):
        digest.update(name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
