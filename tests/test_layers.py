"""The folders show the roles, and imports flow one way: engine <- data <- validation <- features <-
models <- stages <- reporting <- experiments <- the command line (pipeline/cli.py, api.py, graph.py,
config.py, run.py). A module may import its own layer and those before it, never one after it."""

from pathlib import Path

import pytest

from pipeline.engine.codehash import imported_modules

ROOT = Path(__file__).resolve().parents[1]
LAYERS = (
    "pipeline.engine",
    "pipeline.data",
    "pipeline.validation",
    "features",
    "models",
    "pipeline.stages",
    "pipeline.reporting",
    "pipeline.experiments",
    "pipeline",  # the command line and the stage graph: everything may be used there
)


def layer_of(module: str) -> int:
    """The index of the most specific layer a module belongs to."""
    for index, prefix in enumerate(LAYERS):
        if module == prefix or module.startswith(prefix + "."):
            return index
    raise ValueError(module)


def project_modules() -> dict[str, Path]:
    files = [
        path for package in ("pipeline", "features", "models") for path in (ROOT / package).rglob("*.py")
    ]
    names = {}
    for path in files:
        parts = path.relative_to(ROOT).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imports_of(path: Path, module: str) -> set[str]:
    """Every project module a file imports, at run time or for annotations, at any depth (a name
    imported from a module counts as that module)."""
    names = imported_modules(path, module, annotations=True)
    return {name for name in names if name.rpartition(".")[0] not in names}


def against_direction(modules: dict[str, Path]) -> list[str]:
    wrong = []
    for module, path in sorted(modules.items()):
        for imported in sorted(imports_of(path, module)):
            if layer_of(imported) > layer_of(module):
                above, own = LAYERS[layer_of(imported)], LAYERS[layer_of(module)]
                wrong.append(f"{module} imports {imported} ({above} is above {own})")
    return wrong


def test_no_module_imports_a_layer_above_its_own():
    assert against_direction(project_modules()) == []


def test_an_import_against_the_direction_is_caught(tmp_path):
    """The check itself: a model module that imports the reporting layer is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from pipeline.reporting.summary import summary_table\n")
    assert against_direction({"models.bad": bad}) == [
        "models.bad imports pipeline.reporting.summary (pipeline.reporting is above models)"
    ]


@pytest.mark.parametrize("folder", ["engine", "data", "validation", "stages", "reporting", "experiments"])
def test_each_role_is_a_package(folder):
    assert (ROOT / "pipeline" / folder / "__init__.py").is_file()


def test_pipeline_top_level_holds_only_the_command_line_and_the_graph():
    top = sorted(path.name for path in (ROOT / "pipeline").glob("*.py"))
    assert top == ["__init__.py", "api.py", "cli.py", "config.py", "graph.py", "run.py"]
