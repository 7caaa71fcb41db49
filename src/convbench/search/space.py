"""The search space: which architectures, widths, input sizes, options, export modes and thread counts a search tries.

The default space comes from the model registry, not from a list written here: every registered architecture
with the width range and the options its builder states (:attr:`convbench.models.ModelDefaults.width_range`,
``search_options``), so an architecture registered later is searched without touching this file. A TOML file
narrows or widens it::

    input_sizes = [32, 48, 64]
    quantize = ["none", "float16"]

    [architectures.mobilenet_v2]
    width = [0.1, 0.5]
    options = { pooling = ["avg"], last_channels = [0, 64] }

    [architectures.alexnet_separable]   # listed architectures replace the default set

An unknown architecture, option or key, and a value no trial could use (an α outside (0, 4] as ``--width``
refuses it, an option value its builder refuses) are each a one-line :class:`~convbench.errors.ConfigError` naming
the file, the key and the value, before any trial runs.
"""

from __future__ import annotations

import itertools
import json
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from convbench.checks import MAX_INPUT_SIZE, check_threads, check_width, integer_in
from convbench.errors import ConfigError, ConvbenchError, ModelError
from convbench.models import accepted_options, build, defaults, list_models
from convbench.vocabulary import QUANTIZE_MODES

DEFAULT_INPUT_SIZES = (24, 32, 48, 64, 96, 128)  # square input sides (px) the default space tries
MAX_COMBINATIONS = 1024  # most combinations of the other options tried to build an option's value with


class ArchitectureSpace(BaseModel):
    """What a search varies for one architecture: α within ``width`` (log-uniform) and each option's values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    width: tuple[float, float]
    options: dict[str, tuple[Any, ...]] = Field(default_factory=dict)

    @field_validator("width")
    @classmethod
    def _positive_range(cls, width: tuple[float, float]) -> tuple[float, float]:
        low, high = width
        if not 0 < low <= high:
            raise ValueError(f"width must be [low, high] with 0 < low <= high, got {list(width)}")
        return width


class SearchSpace(BaseModel):
    """The whole space; :func:`default_space` fills it from the registry, :func:`load_space` from a TOML file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    architectures: dict[str, ArchitectureSpace]
    input_sizes: tuple[int, ...] = DEFAULT_INPUT_SIZES
    quantize: tuple[str, ...] = QUANTIZE_MODES
    threads: tuple[int, ...] | None = None  # None: the target's thread count only

    def check(self) -> SearchSpace:
        """Raise :class:`ConfigError` naming the first unknown architecture or option, an empty dimension, or a
        value a trial could not use (its key and the value): every value of the space is checked here, before
        any trial runs, with the checks the command line's options go through (``--width``, ``--input-size``,
        ``--threads``) and, for an architecture's options, with its builder's own checks.
        """
        if not self.architectures:
            raise ConfigError("empty search space: no architecture to search")
        known = list_models()
        for arch, space in self.architectures.items():
            if arch not in known:
                raise ConfigError(f"unknown architecture {arch!r} in the search space; known: {', '.join(known)}")
            for end in space.width:
                _keyed(f"architectures.{arch}.width", check_width, end)
            unknown = sorted(set(space.options) - set(accepted_options(arch)))
            if unknown:
                raise ConfigError(f"{arch}: unknown option {unknown[0]!r} in the search space; accepted: "
                                  f"{', '.join(accepted_options(arch))}")
            for option, values in space.options.items():
                if not values:
                    raise ConfigError(f"empty search space: {arch}.{option} has no value to try")
        for name, values in (("input_sizes", self.input_sizes), ("quantize", self.quantize),
                             ("threads", self.threads or (1,))):
            if not values:
                raise ConfigError(f"empty search space: {name} has no value to try")
        bad = [q for q in self.quantize if q not in QUANTIZE_MODES]
        if bad:
            raise ConfigError(f"unknown quantize mode {bad[0]!r} in the search space; expected one of "
                              f"{', '.join(QUANTIZE_MODES)}")
        for size in self.input_sizes:
            integer_in("input_sizes", size, 1, MAX_INPUT_SIZE)
        for threads in self.threads or ():
            check_threads(threads)
        if not any(size >= defaults(arch).min_input_size for arch in self.architectures for size in self.input_sizes):
            raise ConfigError(f"empty search space: no input size in {list(self.input_sizes)} is large enough "
                              f"for any of {', '.join(self.architectures)}")
        for arch in self.architectures:
            self._check_option_values(arch)
        return self

    def _check_option_values(self, arch: str) -> None:
        """Each value of ``arch``'s options must build with some choice of its other options' values in the space:
        else every trial drawing it would end "infeasible". :class:`ConfigError` naming the key and the first value
        that cannot, with the builder's reason.

        Built at the space's largest input size and α at its low end, trying the combinations of the other options'
        values in order (``depths`` per stage fit the ``stage_channels`` of as many stages) until one builds, at most
        :data:`MAX_COMBINATIONS` of them. A refused combination costs next to nothing (the builders check their
        options before building a layer), a built one ends the search. The registered space is not checked again:
        its builder states that each of its combinations builds.
        """
        space = self.architectures[arch]
        registered = {option: [_text(v) for v in values] for option, values in defaults(arch).search_options}
        size, width = max(self.input_sizes), space.width[0]
        if {option: [_text(v) for v in values] for option, values in space.options.items()} == registered:
            return
        if size < defaults(arch).min_input_size:
            return  # too small an input fails whatever the options: those trials are the input size's doing
        for option, values in space.options.items():
            others = [[(other, v) for v in choices] for other, choices in space.options.items() if other != option]
            for value in values:
                first = None
                for rest in itertools.islice(itertools.product(*others), MAX_COMBINATIONS):
                    why = _build_error(arch, size, width, {option: value, **dict(rest)})
                    if why is None:
                        break
                    first = first or why
                else:
                    raise ConfigError(f"architectures.{arch}.options.{option}: the value {_text(value)} cannot be "
                                      f"built ({first})")

    def input_sizes_for(self, arch: str) -> tuple[int, ...]:
        """The input sizes ``arch``'s downsampling allows (the others would be infeasible trials)."""
        return tuple(s for s in self.input_sizes if s >= defaults(arch).min_input_size)


def _keyed(key: str, check: Callable[[Any], Any], value: Any) -> None:
    """``check(value)``; its error prefixed with the space's ``key`` (``architectures.vgg19.width: …``)."""
    try:
        check(value)
    except ConvbenchError as e:
        raise ConfigError(f"{key}: {e}") from None


def _text(value: Any) -> str:
    """A space value as its file writes it (JSON, which TOML's arrays and strings share): ``"dilated"``, ``[8, 16]``."""
    return json.dumps(value, default=str)  # a TOML date too


def _build_error(arch: str, size: int, width: float, options: dict[str, Any]) -> str | None:
    """Why ``arch`` cannot be built with ``options`` (None: it can), as its builder says; a value of the wrong type
    (a word where the builder compares numbers) is refused as well."""
    try:
        build(arch, (size, size, 1), 2, width, **options)
    except ModelError as e:
        return str(e)
    except (TypeError, ValueError) as e:  # e.g. dropout = ["high"]: the builder's own comparison fails
        return f"{type(e).__name__}: {e}"
    return None


def default_space() -> SearchSpace:
    """Every registered architecture with its builder's width range and searchable options."""
    return SearchSpace(architectures={arch: _registered(arch) for arch in list_models()})


def _registered(arch: str) -> ArchitectureSpace:
    found = defaults(arch)
    return ArchitectureSpace(width=found.width_range, options=dict(found.search_options))


def load_space(path: str | os.PathLike[str] | None) -> SearchSpace:
    """The default space, narrowed or widened by the TOML file at ``path`` (None: the default space).

    Top-level keys replace the default's (``input_sizes``, ``quantize``, ``threads``); ``[architectures.NAME]``
    tables replace the default set of architectures, each starting from its registered width range and options
    (a table's ``width`` and ``options`` override those).

    Raises:
        ConfigError: unreadable file, unknown key, architecture or option, or an empty space.
    """
    if path is None:
        return default_space().check()
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"search space file not found: {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: not a readable TOML file ({e})") from None
    unknown = sorted(set(raw) - set(SearchSpace.model_fields))
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; expected: {', '.join(SearchSpace.model_fields)}")
    known = list_models()
    architectures = raw.pop("architectures", None)
    merged: dict[str, Any] = {}
    if architectures is None:
        merged = {arch: _registered(arch).model_dump() for arch in known}
    else:
        if not isinstance(architectures, dict):
            raise ConfigError(f"{path}: architectures must be a table of [architectures.NAME] tables")
        for arch, table in architectures.items():
            if arch not in known:
                raise ConfigError(f"{path}: unknown architecture {arch!r}; known: {', '.join(known)}")
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: architectures.{arch} must be a table")
            extra = sorted(set(table) - set(ArchitectureSpace.model_fields))
            if extra:
                raise ConfigError(f"{path}: unknown key {extra[0]!r} in architectures.{arch}; expected: "
                                  f"{', '.join(ArchitectureSpace.model_fields)}")
            merged[arch] = {**_registered(arch).model_dump(), **table}
    try:
        space = SearchSpace(architectures=merged, **raw)
    except ValidationError as e:
        error = e.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ConfigError(f"{path}: {where}: {error['msg']}") from None
    try:
        return space.check()
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
