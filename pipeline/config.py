"""The whole run's configuration: every role's section, one per registered model family, loaded in layers.

Defaults live once, in the typed sections (each setting declared with its default and doc where its
role lives); ``pipeline/default_config.toml`` is written from them (``python -m pipeline.config``)
and a test checks the shipped file is what they write. A run's config is the defaults, then a preset
(``pipeline/experiments/presets/NAME.toml``), then the user's TOML, then ``--set`` overrides.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from types import MappingProxyType
from typing import Any

from features.config import FeaturesConfig
from models import registry
from pipeline.data.config import SampleConfig
from pipeline.engine.config import ParallelConfig
from pipeline.engine.errors import ConfigError
from pipeline.engine.settings import (
    build_section,
    check_section_ranges,
    merge,
    parse_override,
    read_toml,
    section_fingerprint,
    section_table,
    section_toml,
    unknown,
)
from pipeline.reporting.config import ReportConfig
from pipeline.stages.config import (
    BlendConfig,
    ImportanceConfig,
    SelectionConfig,
    SubmissionConfig,
    TuneConfig,
    TuneTask,
    tune_task,
)
from pipeline.validation.config import FoldsConfig, HoldoutConfig

__all__ = ["Config", "load_config", "section_fingerprint", "PRESETS", "DEFAULT_CONFIG_PATH"]

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default_config.toml")
PRESET_DIR = Path(__file__).parent / "experiments" / "presets"
PRESETS = ("fast", "full", "winner", "tuned", "zoo")
BEFORE_MODELS = {
    "sample": SampleConfig,
    "holdout": HoldoutConfig,
    "features": FeaturesConfig,
    "folds": FoldsConfig,
}
AFTER_MODELS = {
    "importance": ImportanceConfig,
    "selection": SelectionConfig,
    "blend": BlendConfig,
    "tune": TuneConfig,
    "report": ReportConfig,
    "submission": SubmissionConfig,
    "parallel": ParallelConfig,
}
HEADER = """\
# Default configuration of the pipeline, written by `python -m pipeline.config` from the typed sections
# (each role's config.py; a model family's in models/<family>/config.py): edit those, not this file.
# Override it with --config FILE.toml (same layout, only the keys you change) or with
# --set SECTION.KEY=VALUE. Each stage sees only its own section, and a change to a section recomputes
# that stage and the stages after it, nothing else.
"""


def section_classes() -> dict[str, type]:
    """Every section's class, in file order: data and features, each model family, the stages."""
    families = {spec.name: spec.section for spec in registry.specs()}
    return {**BEFORE_MODELS, **families, **AFTER_MODELS}


class Config:
    """The whole run's configuration: a frozen section per name; each stage receives only its own."""

    def __init__(self, **sections: Any):
        classes = section_classes()
        for name in sections:
            if name not in classes:
                raise ConfigError(unknown("section", name, classes))
        built = {name: sections.get(name) or cls() for name, cls in classes.items()}
        for name, section in built.items():
            check_section_ranges(name, section)
        object.__setattr__(self, "_sections", MappingProxyType(built))

    def __getattr__(self, name: str) -> Any:
        sections = self.__dict__.get("_sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and dict(self._sections) == dict(other._sections)

    def __hash__(self) -> int:
        return hash(tuple(section_fingerprint(s) for s in self._sections.values()))

    def __repr__(self) -> str:
        return f"Config({', '.join(f'{k}={v!r}' for k, v in self._sections.items())})"

    def __getstate__(self) -> dict:
        return dict(self._sections)

    def __setstate__(self, state: dict) -> None:
        object.__setattr__(self, "_sections", MappingProxyType(state))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._sections)

    def replace(self, **sections: Any) -> Config:
        """A copy with some sections replaced."""
        return Config(**{**self._sections, **sections})

    def section(self, name: str) -> Any:
        """The config section of one stage (``tune_<model>``: that model's study, see ``TuneTask``)."""
        if name.startswith("tune_"):
            return self.tune_task(name.removeprefix("tune_"))
        return self._sections[name]

    def tune_task(self, model: str) -> TuneTask:
        return tune_task(self.tune, model, self._sections[model])

    def tuned_models(self) -> tuple[str, ...]:
        """The models configured to train on their tuned settings."""
        return tuple(name for name in registry.tunable_names() if self._sections[name].settings == "tuned")

    def as_dict(self) -> dict:
        """Every section as plain data (run.json, the ledger's config hash)."""
        return {name: dataclasses.asdict(section) for name, section in self._sections.items()}


def default_tables() -> dict:
    """The defaults as the tables a TOML layer gives."""
    return {name: section_table(section) for name, section in Config()._sections.items()}


def load_config(path: Path | None = None, overrides: list[str] = (), preset: str | None = None) -> Config:
    """Defaults, then a preset, then the user's TOML file, then ``section.key=value`` overrides."""
    raw = default_tables()
    if preset is not None:
        for layer in preset_layers(preset):
            merge_layer(raw, layer, f"--preset {preset}")
    if path is not None:
        merge_layer(raw, read_toml(Path(path)), str(path))
    for item in overrides:
        merge_layer(raw, parse_override(item), f"--set {item}")
    return build_config(raw)


def merge_layer(raw: dict, layer: dict, source: str) -> None:
    """Merge one layer (``source`` names it in errors); a section may merge its own way first (LightGBM
    parameters named by an alias replace the earlier value under another name)."""
    classes = section_classes()
    for name, table in layer.items():
        merge_own = getattr(classes.get(name), "merge_layer", None)
        if merge_own is not None and isinstance(table, dict):
            merge_own(raw.get(name, {}), table, source)
    merge(raw, layer)


def preset_layers(preset: str) -> list[dict]:
    """A preset's TOML, after the preset it ``extends`` (if any)."""
    if preset not in PRESETS:
        raise ConfigError(f"--preset {preset!r}: not one of {', '.join(PRESETS)}")
    layer = read_toml(PRESET_DIR / f"{preset}.toml")
    base = layer.pop("extends", None)
    return [*(preset_layers(base) if base else []), layer]


def build_config(raw: dict) -> Config:
    """Check every key and type against the sections and build the frozen config."""
    classes = section_classes()
    built = {}
    for name, values in raw.items():
        if name not in classes:
            raise ConfigError(unknown("section", name, classes))
        built[name] = build_section(name, classes[name], values)
    return Config(**built)


def default_config_toml() -> str:
    """The documented defaults file, written from the sections."""
    parts = [section_toml(name, section) for name, section in Config()._sections.items()]
    return HEADER + "\n" + "\n\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m pipeline.config [PATH]``: write the defaults file (default: the shipped one)."""
    argv = sys.argv[1:] if argv is None else argv
    path = Path(argv[0]) if argv else DEFAULT_CONFIG_PATH
    path.write_text(default_config_toml(), encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
