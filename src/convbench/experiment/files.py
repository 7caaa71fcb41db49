"""Finding, reading and validating experiment files, with command-line overrides applied first.

``load_experiment("default")`` reads a shipped experiment (``src/convbench/experiments/*.toml``);
any other argument is a path to a TOML file. Overrides (``--data main=PATH``, ``--set train.epochs=1``)
are applied to the parsed TOML before validation, so their errors name the same key paths.
"""

from __future__ import annotations

import importlib.resources
import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Any

import pydantic
from pydantic import BaseModel

from convbench.data import DataSpec, check_spec, list_datasets
from convbench.errors import ConfigError, DataError
from convbench.experiment.schema import Experiment, format_location
from convbench.vocabulary import DEFAULT_EXPERIMENT

_INDEX = re.compile(r"\[(\d+)\]")


def shipped_dir() -> Path:
    """The folder of the experiments shipped with convbench."""
    return Path(str(importlib.resources.files("convbench") / "experiments"))


def shipped_experiments() -> list[str]:
    """Names of the shipped experiments (``default``, ``fruits360-architectures`` …)."""
    return sorted(p.stem for p in shipped_dir().glob("*.toml"))


def find_experiment(ref: str | os.PathLike[str] | None = None) -> Path:
    """An experiment file: an existing path, else a shipped experiment's name (``None`` → ``default``)."""
    ref = DEFAULT_EXPERIMENT if ref is None else ref
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    shipped = shipped_dir() / f"{path.stem if path.suffix == '.toml' else path.name}.toml"
    if path.parent == Path(".") and shipped.is_file():
        return shipped
    raise ConfigError(f"experiment file not found: {ref} (shipped experiments: {', '.join(shipped_experiments())})")


def load_experiment(ref: str | os.PathLike[str] | None = None, *, data: dict[str, str] | None = None,
                    settings: dict[str, Any] | None = None) -> Experiment:
    """Read, override and validate an experiment; data paths come back absolute.

    Args:
        ref: a TOML path or a shipped experiment's name (``None`` → ``default``).
        data: ``{"main": PATH or SPEC, "redundant": …}``: replaces the path (or, given ``NAME:PATH``, the whole
            spec) of that data entry.
        settings: ``{"train.epochs": 1, "models[0].width": 0.5, …}``: values set before validation.

    Raises:
        ConfigError: ``experiment FILE: KEY.PATH: what is wrong`` for every invalid key, value, name or path.
    """
    path = find_experiment(ref)
    where = f"experiment {path.name if path.parent == shipped_dir() else path}"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: not valid TOML: {e}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{where}: cannot read it: {e}") from None
    for key, value in (settings or {}).items():
        _set_key(raw, key, value, where)
    for key, value in (data or {}).items():
        _override_data(raw, key, value, where)
    return validate_experiment(raw, where)


def validate_experiment(raw: dict[str, Any], where: str = "experiment") -> Experiment:
    """Validate a parsed experiment (names and paths included); data paths come back absolute.

    Raises:
        ConfigError: ``{where}: KEY.PATH: what is wrong``.
    """
    try:
        experiment = Experiment.model_validate(raw)
    except pydantic.ValidationError as e:
        raise ConfigError(f"{where}: {_describe(e)}") from None
    _check_names_and_paths(experiment, where)
    return _with_absolute_paths(experiment)


def parse_assignments(items: list[str] | None, option: str) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` → ``{"a.b": 1, "c": "x"}``; values are read as TOML values, else as plain text."""
    parsed: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} {item!r}: expected KEY=VALUE")
        parsed[key.strip()] = _toml_value(value.strip())
    return parsed


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _set_key(raw: dict[str, Any], key: str, value: Any, where: str) -> None:
    parts: list[str | int] = []
    for name in key.split("."):
        base = _INDEX.split(name)
        parts.append(base[0])
        parts.extend(int(i) for i in base[1::2])
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        try:
            node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
        except (IndexError, AttributeError, TypeError):
            raise ConfigError(f"{where}: --set {key}: {format_location(tuple(parts[:i + 1]))} does not exist") from None
    try:
        node[parts[-1]] = value
    except (IndexError, TypeError):
        raise ConfigError(f"{where}: --set {key}: {format_location(tuple(parts))} does not exist") from None


def _override_data(raw: dict[str, Any], key: str, value: object, where: str) -> None:
    if key not in ("main", "redundant"):
        raise ConfigError(f"{where}: --data {key}=…: unknown data entry {key!r}; expected main or redundant")
    value = str(value)  # a value TOML read as a number (``main=2024``) is a path all the same
    if not value.strip():  # an unset variable (--data main=$DATA) is an error, never the file's own data
        raise ConfigError(f"{where}: --data {key}=: the value is empty; expected PATH or NAME:PATH")
    section = raw.setdefault("data", {})
    if not isinstance(section, dict):
        return  # validation reports the malformed [data] section
    known = {info.name for info in list_datasets()}
    given = DataSpec.parse(value)
    if given.name in known and given.path is not None:
        section[key] = value  # a whole spec: NAME:PATH
        return
    current = section.get(key) or ("digits" if key == "main" else None)
    if current is None:
        raise ConfigError(f"{where}: --data {key}={value}: data.{key} is not set in the file; give NAME:PATH")
    spec = DataSpec.parse(str(current))
    section[key] = str(DataSpec(spec.name, Path(value), spec.options))


# -- validation messages ----------------------------------------------------------------------------


def _describe(error: pydantic.ValidationError) -> str:
    """The first error of ``error`` as ``key.path: what is wrong`` (plus how many more there are)."""
    errors = error.errors()
    first = errors[0]
    loc = tuple(first["loc"])
    text = _message(first, loc)
    text = f"{format_location(loc)}: {text}" if loc else text
    return text + (f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else "")


def _message(error: dict[str, Any], loc: tuple[Any, ...]) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    bounds = {"greater_than_equal": ("≥", "ge"), "greater_than": (">", "gt"), "less_than_equal": ("≤", "le"),
              "less_than": ("<", "lt")}
    if kind in bounds:
        sign, name = bounds[kind]
        return f"must be {sign} {ctx[name]}, got {value!r}"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return "unknown key" + (f"; expected one of: {', '.join(allowed)}" if allowed else "")
    if kind == "missing":
        return "missing (required)"
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}, got {value!r}"
    if kind in ("too_short", "too_long"):
        return f"must have at least {ctx.get('min_length')} item(s)" if kind == "too_short" else error["msg"]
    if kind == "string_pattern_mismatch":
        return f"{value!r} may hold only letters, digits and _ . - characters"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", error["msg"]))
    return f"{error['msg'][0].lower()}{error['msg'][1:]}, got {value!r}"


def _allowed_keys(loc: tuple[Any, ...]) -> list[str]:
    """The keys the section at ``loc`` accepts (walks the schema's field types)."""
    model: Any = Experiment
    for part in loc:
        if isinstance(part, int):
            continue
        model = _section_type(model.model_fields[part].annotation) if _is_model(model) else None
        if model is None:
            return []
    return list(model.model_fields) if _is_model(model) else []


def _section_type(annotation: Any) -> Any:
    """The BaseModel inside ``X | None``, ``list[X]`` or ``Annotated[X, …]``, if any."""
    if _is_model(annotation):
        return annotation
    for arg in typing.get_args(annotation):
        found = _section_type(arg)
        if found is not None:
            return found
    return None


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)


# -- checks that need the registries and the file system ---------------------------------------------


def _check_names_and_paths(experiment: Experiment, where: str) -> None:
    for key in ("main", "redundant"):
        spec = getattr(experiment.data, key)
        if spec is not None:
            _check_data_spec(spec, f"{where}: data.{key}")
    from convbench import models  # imports keras: only once the file itself is valid

    known = models.list_models()
    labels: dict[str, int] = {}
    for i, m in enumerate(experiment.models):
        if m.arch not in known:
            raise ConfigError(f"{where}: models[{i}].arch: unknown architecture {m.arch!r}; known: {', '.join(known)}")
        minimum = models.defaults(m.arch).min_input_size
        if m.input_size is not None and m.input_size < minimum:
            raise ConfigError(f"{where}: models[{i}].input_size: {m.arch} needs ≥ {minimum} pixels, got {m.input_size}")
        accepted = models.accepted_options(m.arch)
        unknown = sorted(set(m.options) - set(accepted))
        if unknown:
            raise ConfigError(f"{where}: models[{i}].options.{unknown[0]}: not an option of {m.arch}; accepted: "
                              f"{', '.join(accepted) or 'none'}")
        label = m.label(models.defaults(m.arch).input_size)
        if label in labels:
            raise ConfigError(f"{where}: models[{i}]: same label {label!r} as models[{labels[label]}]; "
                              f"give one of them a different name, width or input_size")
        labels[label] = i
    ee = experiment.early_exit
    if ee is not None and ee.backbone not in known:
        raise ConfigError(f"{where}: early_exit.backbone: unknown architecture {ee.backbone!r}; known: "
                          f"{', '.join(known)}")
    runtime = experiment.report.runtime
    if runtime is not None and runtime not in experiment.bench.runtimes:
        raise ConfigError(f"{where}: report.runtime: {runtime!r} is not among bench.runtimes "
                          f"({', '.join(experiment.bench.runtimes)})")


def _check_data_spec(spec: str, where: str) -> None:
    try:
        check_spec(spec)
    except DataError as e:
        raise ConfigError(f"{where}: {e}; override with --data") from None


def _with_absolute_paths(experiment: Experiment) -> Experiment:
    update = {}
    for key in ("main", "redundant"):
        spec = getattr(experiment.data, key)
        if spec is not None and (parsed := DataSpec.parse(spec)).path is not None:
            update[key] = str(DataSpec(parsed.name, parsed.path.resolve(), parsed.options))
    return experiment.model_copy(update={"data": experiment.data.model_copy(update=update)}) if update else experiment
