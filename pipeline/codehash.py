"""Hash of the project source a stage runs: its module and every project module it imports."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
from functools import lru_cache
from pathlib import Path
from typing import Callable

PROJECT_PACKAGES = ("pipeline", "features", "models")


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


def imported_modules(path: Path, module_name: str) -> set[str]:
    """Project modules a source file imports at run time (absolute and relative imports)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name if path.name == "__init__.py" else module_name.rpartition(".")[0]
    found = set()
    for node in runtime_nodes(tree):
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


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def module_path(module_name: str) -> Path | None:
    """The source file of a project module, or None for a name that is not one (a class or function
    imported from a module). Found on disk, never imported: hashing must not load torch."""
    parts = module_name.split(".")
    if parts[0] not in PROJECT_PACKAGES:
        return None
    base = PROJECT_ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=None)
def source_closure(module_name: str) -> tuple[Path, ...]:
    """Every project source file reachable from a module through imports, sorted."""
    seen: dict[str, Path] = {}
    pending = [module_name]
    while pending:
        name = pending.pop()
        path = module_path(name)
        if name in seen or path is None:
            continue
        seen[name] = path
        pending.extend(imported_modules(path, name))
        if "." in name:
            pending.append(name.rpartition(".")[0])
    return tuple(sorted(set(seen.values())))


def code_hash(function: Callable | str) -> str:
    """Hash of the source files behind a function or a module name (the module's import closure),
    read from disk without importing the module."""
    module = function if isinstance(function, str) else inspect.getmodule(function).__name__
    digest = hashlib.sha256()
    for path in source_closure(module):
        digest.update(path.relative_to(path.parents[1]).as_posix().encode())  # e.g. "pipeline/cv.py"
        digest.update(path.read_bytes())
    return digest.hexdigest()
