"""TOML → nested dataclasses, strictly: an unknown key, a value of the wrong type or out of its range is an error
naming the key.

Each section's dataclass lives next to the code that consumes it; this module only knows how to load them. A numeric
field declares its range in its annotation (`threshold: Fraction = 0.8`, `num_perm: Annotated[int, Range(16, 4096)]`):
TOML accepts nan, inf and any 64-bit integer, and each of those passed `sluice config --check` and then silently
switched a rule off, or crashed every task. Floats must always be finite.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A user's configuration is wrong; the message names the key (dotted path) and the file."""


@dataclasses.dataclass(frozen=True)
class Range:
    """The values a numeric config key accepts: lo <= value <= hi (`open_lo`, `open_hi`: strictly); None: no bound."""

    lo: float | None = None
    hi: float | None = None
    open_lo: bool = False
    open_hi: bool = False

    def __contains__(self, value: float) -> bool:
        if self.lo is not None and (value <= self.lo if self.open_lo else value < self.lo):
            return False
        return self.hi is None or (value < self.hi if self.open_hi else value <= self.hi)

    def __str__(self) -> str:
        lo, hi = _number(self.lo), _number(self.hi)
        if self.hi is None:
            return f"{'>' if self.open_lo else '>='} {lo}"
        if self.lo is None:
            return f"{'<' if self.open_hi else '<='} {hi}"
        return f"{'(' if self.open_lo else '['}{lo}, {hi}{')' if self.open_hi else ']'}"


def _number(x: float | None) -> str:
    return str(int(x)) if x is not None and float(x).is_integer() else f"{x:g}" if x is not None else ""


# The common ranges, by what a key means.
Fraction = Annotated[float, Range(0.0, 1.0)]  # a probability, share or ratio
Count = Annotated[int, Range(1, 2**31 - 1)]  # how many of something: at least one
AutoCount = Annotated[int, Range(0, 2**31 - 1)]  # a count where 0 means "choose for me" or "none"
Seed = Annotated[int, Range(0, 2**32 - 1)]  # what numpy and xxhash take
Positive = Annotated[float, Range(0.0, None, open_lo=True)]
NonNegative = Annotated[float, Range(0.0)]


def range_of(tp: Any) -> Range | None:
    """The Range an annotation declares, if any."""
    if typing.get_origin(tp) is Annotated:
        return next((m for m in tp.__metadata__ if isinstance(m, Range)), None)
    return None


def _check_value(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is Annotated:
        value = _check_value(value, typing.get_args(tp)[0], key)
        bounds = range_of(tp)
        if bounds is not None and value not in bounds:
            raise ConfigError(f"{key}: must be in {bounds}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {type(value).__name__}")
        return from_dict(tp, value, prefix=key)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _check_value(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{key}: {value!r} is not one of {', '.join(map(repr, allowed))}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__}")
        (item_tp, *_) = typing.get_args(tp) or (Any,)
        items = [_check_value(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a table, got {type(value).__name__}")
        _, val_tp = typing.get_args(tp) or (str, Any)
        return {str(k): _check_value(v, val_tp, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: must be a finite number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict, prefix: str = "") -> T:
    """Build dataclass `cls` from `data`; missing keys take defaults, unknown keys are errors."""
    hints = typing.get_type_hints(cls, include_extras=True)
    known = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(known))
    if unknown:
        where = f"{prefix}." if prefix else ""
        raise ConfigError(
            f"unknown key '{where}{unknown[0]}' (known keys{' in [' + prefix + ']' if prefix else ''}: "
            f"{', '.join(sorted(known))})"
        )
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _check_value(value, hints[name], key)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"[{prefix or 'top level'}]: {e}") from e


def load_toml(cls: type[T], path: str | Path | None, section: str | None = None) -> T:
    """Load `cls` from a TOML file (or its `[section]` table); no file means all defaults."""
    if path is None:
        return cls()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    if section is not None:
        data = data.get(section, {})
    try:
        return from_dict(cls, data, prefix=section or "")
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def to_dict(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def config_hash(obj: Any) -> str:
    """Hash of a config's content: a stage whose config hash is unchanged need not run again."""
    blob = json.dumps(to_dict(obj), sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _field_comments(cls: type) -> dict[str, str]:
    """The trailing `# comment` of each field in the class body: the documentation `defaults_toml` prints."""
    import inspect
    import re

    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    pending: list[str] = []  # comment lines directly above a field document it too
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("# ").strip())
            continue
        m = re.match(r"\s+(\w+)\s*:[^#=]+(?:=[^#]*)?(?:#\s*(.+))?$", line)
        if m and (m.group(2) or pending):
            comments[m.group(1)] = m.group(2).strip() if m.group(2) else " ".join(pending)
        pending = []
    return comments


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if dataclasses.is_dataclass(value):  # an item of a list of tables, e.g. decontaminate.eval_sets: inline table
        items = ((f.name, getattr(value, f.name)) for f in dataclasses.fields(value))
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in items if v is not None) + "}"
    raise TypeError(f"no TOML form for {value!r}")


def defaults_toml(obj: Any, table: str = "") -> str:
    """A commented TOML file with every key of `obj` (a config dataclass instance) at its current value."""
    comments = _field_comments(type(obj))
    hints = typing.get_type_hints(type(obj), include_extras=True)
    scalars: list[str] = []
    tables: list[str] = []
    doc = (type(obj).__doc__ or "").strip().splitlines()
    if doc and doc[0].startswith(type(obj).__name__ + "("):  # dataclass's generated docstring: no prose
        doc = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        name = f"{table}.{f.name}" if table else f.name
        bounds = range_of(hints[f.name]) or range_of((typing.get_args(hints[f.name]) or (None, None))[-1])
        text = " ".join(filter(None, (comments.get(f.name), f"(range {bounds})" if bounds else None)))
        note = f"  # {text}" if text else ""
        if dataclasses.is_dataclass(value):
            tables.append(defaults_toml(value, name))
        elif isinstance(value, dict):
            body = "\n".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
            tables.append(f"[{name}]{note}\n{body}\n" if body else f"[{name}]{note}\n")
        elif value is None:
            scalars.append(f"# {f.name} = (unset){note}")
        else:
            scalars.append(f"{f.name} = {_toml_value(value)}{note}")
    head = []
    if table and (scalars or not tables):
        head = ([f"# {doc[0]}"] if doc else []) + [f"[{table}]"]
    parts = ["\n".join(head + scalars)] if head or scalars else []
    return "\n\n".join(p.strip() for p in parts + tables if p.strip()) + "\n"
