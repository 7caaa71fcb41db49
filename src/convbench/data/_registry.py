"""The dataset registry: loader functions keyed by name, and the ``NAME:PATH[?key=value&…]`` spec."""

from __future__ import annotations

import inspect
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from convbench.data.dataset import Dataset
from convbench.errors import DataError

Loader = Callable[..., Dataset]  # (path: Path | None, **options) -> Dataset


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    loader: Loader
    layout: str  # the on-disk form it reads, for `convbench datasets`
    needs_path: bool = True  # False: it takes no path (built in, or made of other specs); one given is an error
    spec_options: tuple[str, ...] = ()  # options whose values are data specs themselves (a mix's main, redundant)


_LOADERS: dict[str, DatasetInfo] = {}  # name -> loader and its description

DEFAULT_DATASET = "digits"


def register_dataset(name: str, layout: str, needs_path: bool = True,
                     spec_options: tuple[str, ...] = ()) -> Callable[[Loader], Loader]:
    """Register a loader ``fn(path, **options) -> Dataset`` under ``name`` (``spec_options``: options that hold
    data specs, made absolute with the spec's own path by :meth:`DataSpec.absolute`)."""

    def decorator(fn: Loader) -> Loader:
        assert name not in _LOADERS, f"dataset {name!r} registered twice"
        _LOADERS[name] = DatasetInfo(name, fn, layout, needs_path, spec_options)
        return fn

    return decorator


def list_datasets() -> list[DatasetInfo]:
    return [_LOADERS[k] for k in sorted(_LOADERS)]


_SPEC = re.compile(r"(?P<name>[^:?]*)(?::(?P<path>[^?]*))?(?:\?(?P<query>.*))?", re.DOTALL)


@dataclass(frozen=True)
class DataSpec:
    """A parsed data spec: ``NAME``, ``NAME:PATH``, ``NAME:PATH?key=value&key=value`` or ``NAME?key=value``.

    ``str(spec)`` parses back to an equal spec (option values are URL-encoded, so a value may be a data
    spec itself, as a mix's ``main`` and ``redundant`` are).

    ``None`` (no spec given) is the embedded default; an empty or blank spec (``--data ""``, an unset ``$DATA``) and
    an empty path (``mnist:``) are errors, never the default: a value given must say what to load.
    """

    name: str
    path: Path | None
    options: dict[str, str]

    @classmethod
    def parse(cls, spec: str | None) -> DataSpec:
        if spec is None:
            return cls(DEFAULT_DATASET, None, {})
        if not spec.strip():
            raise DataError(f"data spec {spec!r} is empty; expected NAME, NAME:PATH or NAME:PATH?key=value "
                            f"(give no spec at all for the embedded {DEFAULT_DATASET})")
        parts = _SPEC.fullmatch(spec)
        name, path_part, query = parts["name"], parts["path"], parts["query"]  # type: ignore[index]
        if not name:
            raise DataError(f"data spec {spec!r} has no dataset name; expected NAME:PATH")
        if path_part is not None and not path_part.strip():
            raise DataError(f"data spec {spec!r} has an empty path after ':'; expected {name}:PATH (or {name} "
                            f"alone, for a dataset that takes no path)")
        options = dict(urllib.parse.parse_qsl(query, keep_blank_values=True)) if query else {}
        return cls(name, _expand_home(Path(path_part)) if path_part else None, options)

    def absolute(self) -> DataSpec:
        """This spec with an existing relative path made absolute and resolved (also inside spec options).

        What a model card records: a card read from another folder must still find its data. A path that
        does not exist here, or a dataset name not registered, is left as it is (it could only be guessed).
        """
        info = _LOADERS.get(self.name)
        if info is None:
            return self
        path = self.path
        if path is not None and not path.is_absolute() and path.exists():
            path = path.resolve()
        options = {key: absolute_spec(value) if key in info.spec_options else value
                   for key, value in self.options.items()}
        return DataSpec(self.name, path, options)

    def __str__(self) -> str:
        text = self.name + (f":{self.path}" if self.path else "")
        return text + ("?" + urllib.parse.urlencode(self.options) if self.options else "")


def _expand_home(path: Path) -> Path:
    """``~`` and ``~user`` expanded as a shell does: a user that does not exist (``~0``) leaves the path as typed,
    a folder name that merely starts with a tilde, instead of an error raised from deep inside pathlib."""
    try:
        return path.expanduser()
    except RuntimeError:
        return path


def absolute_spec(spec: str) -> str:
    """``spec`` as text with its paths made absolute (see :meth:`DataSpec.absolute`); unparseable text unchanged."""
    try:
        return str(DataSpec.parse(spec).absolute())
    except DataError:
        return spec


def check_spec(spec: str | DataSpec | None) -> DataSpec:
    """Parse ``spec`` and check it names a known dataset and, where one is needed, a path that exists.

    Raises:
        DataError: an empty spec, an unknown dataset, a missing path, a path given to a dataset that takes none,
            or a path that does not exist.
    """
    parsed = spec if isinstance(spec, DataSpec) else DataSpec.parse(spec)
    info = _LOADERS.get(parsed.name)
    if info is None:
        raise DataError(f"unknown dataset {parsed.name!r}; known: {', '.join(sorted(_LOADERS))}")
    if info.needs_path and parsed.path is None:
        raise DataError(f"dataset {parsed.name!r} needs a path: {parsed.name}:PATH ({info.layout})")
    if not info.needs_path and parsed.path is not None:
        raise DataError(f"dataset {parsed.name!r} takes no path, got the path {parsed.path}; give {parsed.name} "
                        f"alone")
    if parsed.path is not None and not parsed.path.exists():
        hint = "" if parsed.path.is_absolute() else \
            f" (relative paths resolve against the current directory, {Path.cwd()})"
        raise DataError(f"data path not found: {parsed.path}{hint}")
    return parsed


def load(spec: str | DataSpec | None = None, **options: Any) -> Dataset:
    """Load a dataset from a data spec (``None`` → the embedded default).

    Options given here override options in the spec's query string; every loader accepts
    ``skip_bad_images`` and rejects options it does not know (one-line :class:`DataError`).

    Example:
        >>> ds = load("mnist:../shared/data/mnist")
        >>> ds.train.images.shape
        (60000, 28, 28, 1)
    """
    parsed = check_spec(spec)
    info = _LOADERS[parsed.name]
    merged = {**parsed.options, **options}
    try:
        dataset = info.loader(parsed.path, **merged)
    except TypeError as e:
        if "unexpected keyword argument" in str(e):
            # repr() of the argument's name: a fuzzed key may hold a newline, and the error stays one line
            unknown = [key for key in merged if key not in inspect.signature(info.loader).parameters]
            raise DataError(f"dataset {parsed.name!r}: an unexpected keyword argument "
                            f"{', '.join(map(repr, unknown)) or repr(str(e))}") from None
        raise
    if dataset.num_classes == 0 or len(dataset.train) == 0:
        raise DataError(f"dataset {parsed} holds no images")
    return _with_options(dataset, parsed.name, merged)


def _with_options(dataset: Dataset, name: str, options: dict[str, Any]) -> Dataset:
    """``dataset`` with the options it was loaded with in its ``source`` spec, where the loader wrote its plain
    ``NAME:PATH``: a model card records that spec as its data, and reloading it must give the same data and
    the same groups (a Fruits-360 validation on runs of 8 frames, not the default 32)."""
    if not options or "?" in dataset.source:
        return dataset
    try:
        source = DataSpec.parse(dataset.source)
    except DataError:
        return dataset
    if source.name != name:  # a source that is not this loader's spec (a mix names its parts)
        return dataset
    return replace(dataset, source=str(DataSpec(name, source.path, {k: str(v) for k, v in options.items()})))
