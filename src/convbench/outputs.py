"""What convbench may replace or remove in an output folder: only what it wrote itself.

One rule for every command that writes into an output folder (``train``, ``export``, ``early-exit train``,
``search``, and ``run``'s steps, which train and export): convbench never replaces or removes a file it did not
write, and outputs that belong to a model are replaced or removed together with it. :func:`check_replaceable` is
the rule; each writer calls it with the paths it is about to write, before any work, so a refusal costs nothing
and changes nothing. What convbench wrote is what its own records say:

- a model file (``model.keras``, ``model.int8.tflite`` …) is convbench's when its model card (``X.json``) lies
  beside it, and a card when it is one (a JSON object with a card's fields);
- a file that belongs to a model (its training report ``training.json``) is convbench's when that model is;
- anything else (a checkpoint folder, a search record) when the writer recognises it as its own (``own``);
- a symbolic link never is (convbench writes none), nor is anything its records do not account for.

A refused path gets one :class:`~convbench.errors.ConfigError` line naming it and why it is not convbench's; the
user moves it away or chooses another output folder. ``convbench run`` applies the same rule to a whole folder: it
writes only into a folder that is new, empty, or holds its own study (:mod:`convbench.experiment.cache`).

Together: retraining a model (``OUT/model.keras``) removes the files exported from the previous one beside it
(:func:`remove_exports_of`: exported files whose card names that model as their source), so no stale export is
left to be timed as if it were the new model's.

Light to import (the standard library and :mod:`convbench.io`): the CLI may call it before Keras is imported.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from convbench.errors import ConfigError
from convbench.io import read_json

_CARD_FIELDS = ("arch", "input_shape", "class_names", "preprocessing")  # what every model card holds


class RemovedExports(UserWarning):
    """A model was replaced, and the files exported from the previous one were removed with it (named)."""


def check_replaceable(paths: Iterable[str | os.PathLike[str]], *, belongs_to: str | os.PathLike[str] | None = None,
                      own: Callable[[Path], bool] | None = None, kind: str = "what convbench writes there") -> None:
    """Refuse to replace (or remove) any of ``paths`` that exists and that convbench did not write.

    Args:
        paths: the files and folders the caller is about to write or remove.
        belongs_to: the model file the others belong to (a training folder's ``model.keras``): a path that is not
            a model or a card is convbench's when that model is.
        own: recognises the caller's other outputs by their content (a checkpoint folder holding only checkpoints);
            where given, it decides for every path that is no model or card.
        kind: what ``own`` recognises, for the message (``"a checkpoint folder"``).

    Raises:
        ConfigError: naming the first such path and why it is not convbench's.
    """
    for path in map(Path, paths):
        if not (path.exists() or path.is_symlink()):
            continue
        reason = _not_written_by_convbench(path, belongs_to, own, kind)
        if reason is not None:
            raise ConfigError(f"{path}: not written by convbench ({reason}); convbench never replaces what it did "
                              f"not write: move it away, or choose another output folder")


def written_by_convbench(path: str | os.PathLike[str], *, belongs_to: str | os.PathLike[str] | None = None,
                         own: Callable[[Path], bool] | None = None) -> bool:
    """Whether ``path`` (which exists) is convbench's, as its records say (see the module docstring)."""
    return _not_written_by_convbench(Path(path), belongs_to, own, "") is None


def _not_written_by_convbench(path: Path, belongs_to: str | os.PathLike[str] | None,
                              own: Callable[[Path], bool] | None, kind: str) -> str | None:
    """``None`` when convbench wrote ``path``, else why not (for the error message)."""
    if path.is_symlink():
        return "a symbolic link"
    if is_model_card(path) or is_model_card(card_of(path)):
        return None
    if own is not None:
        return None if own(path) else f"not {kind}"
    if belongs_to is not None and Path(belongs_to) != path:
        model = Path(belongs_to)
        if model.is_file() and not model.is_symlink() and is_model_card(card_of(model)):
            return None
        return f"it belongs to no convbench model: no {model.name} with its card {card_of(model).name} beside it"
    if path.name.endswith(".json") and path.is_file():
        return "not a model card"
    return f"no model card {card_of(path).name} beside it"


def card_of(path: str | os.PathLike[str]) -> Path:
    """The model card of a model file: ``X`` → ``X.json`` (as :func:`convbench.artifacts.card_path`)."""
    p = Path(path)
    return p.with_name(p.name + ".json")


def is_model_card(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a model card convbench wrote: a JSON object with every card's fields."""
    card = _read_object(Path(path))
    return card is not None and all(key in card for key in _CARD_FIELDS)


def exports_of(model: str | os.PathLike[str]) -> list[Path]:
    """The exported files beside ``model`` that were made from it: their cards name it as their ``source`` (by path,
    or by the SHA-256 its own card records, so a folder moved since still counts). Sorted; cards not included."""
    model = Path(model)
    if not model.parent.is_dir():
        return []
    model_sha = (_read_object(card_of(model)) or {}).get("sha256")
    real = os.path.realpath(model)
    found = []
    for card in sorted(model.parent.glob("*.json")):
        exported = card.with_name(card.name[:-len(".json")])
        if exported == model or card.is_symlink():
            continue
        source = ((_read_object(card) or {}).get("extra") or {}).get("source")
        if not isinstance(source, dict) or not is_model_card(card):
            continue
        same_path = isinstance(source.get("path"), str) and os.path.realpath(source["path"]) == real
        same_file = model_sha is not None and source.get("sha256") == model_sha
        if same_path or same_file:
            found.append(exported)
    return found


def remove_exports_of(model: str | os.PathLike[str]) -> list[Path]:
    """Remove the files exported from ``model`` (:func:`exports_of`) and their cards: they belong to the model being
    replaced. Says so in one :class:`RemovedExports` warning naming them; returns the files removed."""
    removed = []
    for exported in exports_of(model):
        for path in (exported, card_of(exported)):  # the file first: a card alone is harmless, a file alone not
            if path.is_file() and not path.is_symlink():
                path.unlink()
        removed.append(exported)
    if removed:
        warnings.warn(f"removed {', '.join(map(str, removed))} with their cards: exported from the model {model} "
                      f"that this run replaces (export the new one again)", RemovedExports, stacklevel=2)
    return removed


def _read_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; ``None`` when it is absent, unreadable, not JSON or not an object."""
    if not path.is_file():
        return None
    try:
        value = read_json(path)
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
