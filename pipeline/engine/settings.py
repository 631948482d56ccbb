"""The machinery of typed config sections: one declaration per setting (default, doc, allowed values),
checked building from TOML-like tables, layer merging, ``--set`` parsing and the TOML rendering that
writes the documented defaults file.

A section is a frozen dataclass whose fields are declared with ``setting``; its docstring and each
field's ``doc`` are what ``pipeline/default_config.toml`` shows. Where a section lives is its role's
folder (``features/config.py``, ``models/lgbm/config.py``, ...); ``pipeline/config.py`` composes them.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import re
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from pipeline.engine.errors import ConfigError

SPACE_KEYS = {"low", "high", "log", "int", "choices"}
TOML_WIDTH = 100


def setting(default: Any, doc: str = "", choices: tuple | None = None, **kwargs) -> Any:
    """A section field: its default, a one-line (or longer) doc and, optionally, the allowed values.
    Mutable defaults (dicts, lists) are copied for every instance."""
    metadata = {"doc": doc, "choices": choices}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: json.loads(json.dumps(default)), metadata=metadata, **kwargs)
    return field(default=default, metadata=metadata, **kwargs)


SEED_RANGE = "[0, 2147483647]"
"""Every seed's range: what numpy, LightGBM, XGBoost and CatBoost all take."""
BOUNDS = re.compile(r"^([\[(])\s*([^,\s]+)\s*,\s*([^,\s]+)\s*([\])])$")


@dataclass(frozen=True)
class Bounds:
    """An interval of allowed numbers, written as in maths: ``[0, 0.5)``, ``(0, inf)``."""

    low: float
    high: float
    low_closed: bool
    high_closed: bool

    def __contains__(self, value: float) -> bool:
        above = value >= self.low if self.low_closed else value > self.low
        below = value <= self.high if self.high_closed else value < self.high
        return above and below

    def describe(self, name: str) -> str:
        """``0 < name <= 0.5``, ``name >= 1``: the range as a user reads it."""
        low = "" if self.low == -math.inf else f"{number(self.low)} {'<=' if self.low_closed else '<'} "
        high = "" if self.high == math.inf else f" {'<=' if self.high_closed else '<'} {number(self.high)}"
        if not low and not high:
            return f"{name}: any finite number"
        if not low:
            return f"{name}{high}"
        if not high:
            return f"{name} {'>=' if self.low_closed else '>'} {number(self.low)}"
        return f"{low}{name}{high}"


def number(value: float) -> str:
    """A bound as written: whole numbers in full (2147483647), others short (0.001)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@functools.lru_cache(maxsize=None)
def parse_bounds(text: str) -> Bounds:
    match = BOUNDS.match(text.strip())
    if match is None:
        raise ValueError(f"bounds {text!r}: write them like [0, 1) or (0, inf)")
    low, high = float(match[2]), float(match[3])
    return Bounds(low, high, match[1] == "[", match[4] == "]")


def check_in_range(key: str, value: Any, bounds: str) -> None:
    """A config error naming ``key``, its value and the allowed range when a number (or any number of
    a list) is outside ``bounds`` or not finite."""
    allowed = parse_bounds(bounds)
    for item in value if isinstance(value, (list, tuple)) else (value,):
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            continue  # types are check_value's
        if not math.isfinite(item) or item not in allowed:
            name = key.rsplit(".", 1)[-1]
            shown = list(value) if isinstance(value, tuple) else value
            raise ConfigError(f"config: {key} = {shown!r} is out of range; allowed: {allowed.describe(name)}")


def check_section_ranges(name: str, section: Any) -> None:
    """Every field of a section with declared ``RANGES`` (``{field: "[low, high)"}``) inside them."""
    for key, bounds in getattr(type(section), "RANGES", {}).items():
        check_in_range(f"{name}.{key}", getattr(section, key), bounds)


def section_fingerprint(section: Any) -> str:
    """Canonical JSON of a config section (part of a cache key)."""
    return json.dumps(dataclasses.asdict(section), sort_keys=True, default=list)


def read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None


def parse_override(item: str) -> dict:
    """``lgbm.learning_rate=0.03`` -> ``{"lgbm": {"learning_rate": 0.03}}`` (values read as TOML);
    deeper keys nest: ``tune.space.lgbm.max_depth=false``."""
    key, sep, text = item.partition("=")
    parts = [part.strip() for part in key.split(".")]
    if not sep or len(parts) < 2 or not all(parts):
        raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE, e.g. lgbm.learning_rate=0.03")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    for part in reversed(parts):
        value = {part: value}
    return value


def merge(base: dict, update: dict) -> None:
    """Tables merge key by key; a search-space entry (low/high/choices) replaces the one before."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and not SPACE_KEYS & set(value):
            merge(base[key], value)
        else:
            base[key] = value


def section_table(section: Any) -> dict:
    """A section as the table a TOML layer gives (an open-keys field is spread into the table)."""
    table = dataclasses.asdict(section)
    open_key = getattr(type(section), "OPEN_KEYS", None)
    if open_key is not None:
        table.update(table.pop(open_key))
    return {key: list(value) if isinstance(value, tuple) else value for key, value in table.items()}


def build_section(name: str, cls: type, values: dict) -> Any:
    """Check every key and value of a section's table against its dataclass and build it."""
    if not isinstance(values, dict):
        raise ConfigError(f"config: [{name}] must be a table of keys, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = get_type_hints(cls)
    open_key = getattr(cls, "OPEN_KEYS", None)
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    ranges = getattr(cls, "RANGES", {})
    for key, value in values.items():
        if key in fields and key != open_key:
            kwargs[key] = check_value(f"{name}.{key}", value, hints[key], fields[key].metadata.get("choices"))
            if key in ranges:
                check_in_range(f"{name}.{key}", kwargs[key], ranges[key])
        elif open_key is not None:
            extra.update(value if key == open_key and isinstance(value, dict) else {key: value})
        else:
            raise ConfigError(unknown("key", f"{name}.{key}", [f"{name}.{k}" for k in fields]))
    if open_key is not None:
        kwargs[open_key] = cls.check_open_keys(name, extra)
    return cls(**kwargs)


def check_value(key: str, value: Any, hint: Any, choices: tuple | None) -> Any:
    expected = {int: (int,), float: (int, float), str: (str,), bool: (bool,)}.get(hint)
    if expected is not None:
        if isinstance(value, bool) and hint is not bool or not isinstance(value, expected):
            raise ConfigError(f"config: {key} must be {hint.__name__}, got {value!r}")
        value = float(value) if hint is float else value
    elif getattr(hint, "__origin__", None) is tuple:
        numbers = hint.__args__[0] is float
        item_ok = (
            (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
            if numbers
            else (lambda v: isinstance(v, str))
        )
        if not isinstance(value, (list, tuple)) or not all(item_ok(v) for v in value):
            raise ConfigError(
                f"config: {key} must be a list of {'numbers' if numbers else 'strings'}, got {value!r}"
            )
        value = tuple(float(v) for v in value) if numbers else tuple(value)
    for item in value if isinstance(value, tuple) else (value,):
        if choices is not None and item not in choices:
            raise ConfigError(f"config: {key}: {item!r} is not one of {', '.join(map(repr, choices))}")
    return value


def unknown(what: str, name: str, valid) -> str:
    valid = list(valid)
    close = difflib.get_close_matches(name, valid, n=3)
    hint = f"did you mean {', '.join(close)}?" if close else f"valid: {', '.join(valid[:40])}"
    return f"config: unknown {what} '{name}'; {hint}"


def toml_value(value: Any) -> str:
    """A value in TOML syntax (tables inline, as the search spaces are written)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def comment(text: str, indent: str = "") -> list[str]:
    """``text`` as TOML comment lines, wrapped; blank lines of the text are kept."""
    lines = []
    for paragraph in text.strip().split("\n\n"):
        joined = " ".join(line.strip() for line in paragraph.splitlines())
        lines += textwrap.wrap(joined, TOML_WIDTH - 2 - len(indent), initial_indent="", subsequent_indent="")
    return [f"{indent}# {line}".rstrip() for line in lines]


def field_lines(key: str, value: Any, doc: str) -> list[str]:
    """``key = value  # doc`` when it fits the line, else the doc above the key."""
    line = f"{key} = {toml_value(value)}"
    if not doc:
        return [line]
    inline = f"{line}  # {doc}"
    if "\n" not in doc.strip() and len(inline) <= TOML_WIDTH:
        return [inline]
    return [*comment(doc), line]


def section_toml(name: str, section: Any) -> str:
    """One section of the defaults file: its docstring as a comment, each setting with its doc, then
    nested tables (a field holding a table of tables, like the search spaces)."""
    cls = type(section)
    lines = [f"[{name}]", *comment(cls.__doc__ or "")]
    nested: list[str] = []
    open_key = getattr(cls, "OPEN_KEYS", None)
    for f in dataclasses.fields(cls):
        value = getattr(section, f.name)
        if f.name == open_key:
            docs = getattr(cls, "OPEN_KEY_DOCS", {})
            lines += comment(f.metadata.get("doc", ""))
            for key, item in value.items():
                lines += field_lines(key, item, docs.get(key, ""))
        elif isinstance(value, dict) and all(isinstance(item, dict) for item in value.values()) and value:
            nested += nested_tables(f"{name}.{f.name}", value, f.metadata.get("doc", ""))
        else:
            doc = f.metadata["doc"]
            if f.name in getattr(cls, "RANGES", {}):
                allowed = parse_bounds(cls.RANGES[f.name]).describe(f.name)
                doc = f"{doc} ({allowed})" if doc else allowed
            lines += field_lines(f.name, list(value) if isinstance(value, tuple) else value, doc)
    return "\n".join([*lines, *nested])


def nested_tables(prefix: str, tables: dict, doc: str) -> list[str]:
    """``[prefix.key]`` tables of inline entries (a search space per model)."""
    lines = ["", *comment(doc)] if doc else [""]
    for key, table in tables.items():
        lines.append(f"[{prefix}.{key}]")
        lines += [f"{name} = {toml_value(spec)}" for name, spec in table.items()]
    return lines
