"""A study's output folder: which study owns it, and which steps are finished.

Layout::

    OUT/study.json                      the study that owns the folder (name, settings, command)
    OUT/steps/<kind>/<name>-<key>/      one folder per step: its outputs …
    OUT/steps/<kind>/<name>-<key>/done.json   … and, once finished, its done-marker
    OUT/.convbench.lock(.json)          held while a run writes the folder (convbench.locks)
    OUT/superseded-<other>-<time>/      another study's record and report, moved aside by ``run --force``

A step counts as finished only when its ``done.json`` exists and holds its key; the marker is written
atomically after every output, so an interruption (Ctrl-C, disk full) leaves the step unfinished
and every earlier step valid. Step folders are named by key, so a folder can keep results of
several settings side by side and switching back to earlier settings reuses them; a model renamed
(``name``, or a changed label format) finds its finished steps by key.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path
from typing import Any

import pydantic

from convbench.errors import ConfigError
from convbench.experiment.step import Done, Step, StepOutputs, step_kind
from convbench.io import read_json, write_json
from convbench.locks import LOCK_FILES

STUDY_FILE = "study.json"
DONE_FILE = "done.json"
# What a study writes at the top of its folder (the report's files: report.study.write_reports): --force moves
# another study's copies of these aside, into a folder named SUPERSEDED_PREFIX + its name + the time.
STUDY_FILES = (STUDY_FILE, "experiment.toml", "run.log", "results.json", "results.csv", "report.md", "report.html",
               "plots")
SUPERSEDED_PREFIX = "superseded-"


class StudyFolder:
    """The output folder of one study."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def owner(self) -> dict[str, Any] | None:
        """The ``study.json`` record of the study that owns the folder, ``None`` when there is none.

        Raises:
            ConfigError: a ``study.json`` that cannot be read or is not a study's record (a hand-edited or truncated
                file), naming it and what is wrong: the folder does hold a study, one that cannot be told apart.
        """
        path = self.root / STUDY_FILE
        if not path.exists():
            return None
        try:
            record = read_json(path)
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: unreadable study record: not UTF-8 text ({e.reason} at byte {e.start}); "
                              "repair it, or --force to move it aside") from None
        except ValueError as e:  # json.JSONDecodeError: says where
            raise ConfigError(f"{path}: unreadable study record: not valid JSON ({e}); repair it, or --force to move "
                              "it aside") from None
        except OSError as e:
            raise ConfigError(f"{path}: unreadable study record ({e.strerror or e})") from None
        if not isinstance(record, dict) or not isinstance(record.get("name"), str):
            raise ConfigError(f"{path}: not a convbench study record (a JSON object with the study's name, settings "
                              "and command); repair it, or --force to move it aside")
        return record

    def _owner_if_readable(self) -> dict[str, Any] | None:
        """:meth:`owner`, ``None`` for a damaged record too (``--force`` moves it aside as an unknown study's)."""
        try:
            return self.owner()
        except ConfigError:
            return None

    def check_owner(self, name: str, force: bool = False) -> None:
        """Refuse a folder holding another study's results (or unrelated files) unless ``force``.

        ``force`` never deletes anything: :meth:`set_aside` moves the other study's record and report aside, and
        its step folders stay (they are named by key, so they cannot be mistaken for this study's).
        """
        if force or not self.root.exists():
            return
        if not self.root.is_dir():
            raise ConfigError(f"output folder {self.root} is a file; give --out a folder")
        owner = self.owner()
        if owner is not None and owner.get("name") != name:
            raise ConfigError(f"output folder {self.root} holds the results of study {owner.get('name')!r}, not "
                              f"{name!r}; choose another --out, or --force to take it over")
        if owner is None and any(p.name not in LOCK_FILES for p in self.root.iterdir()):
            raise ConfigError(f"output folder {self.root} is not empty and holds no convbench study; choose another "
                              f"--out, or --force to write into it")

    def set_aside(self, name: str) -> Path | None:
        """Move what a study other than ``name`` wrote at the top of the folder into ``superseded-OTHER-TIME/``.

        Its record, experiment file, log, results, report and plots (``STUDY_FILES``): the files this study is about
        to write, which would otherwise overwrite them. Files of other names and the step folders stay. Returns
        the folder they moved to, or ``None`` when there was nothing of another study's to move.
        """
        owner = self._owner_if_readable()
        if owner is not None and owner.get("name") == name:
            return None
        present = [self.root / f for f in STUDY_FILES if (self.root / f).exists()]
        if not present:
            return None
        other = str(owner.get("name")) if owner is not None else "unknown"
        stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.root / f"{SUPERSEDED_PREFIX}{safe_name(other)}-{stamp}"
        suffix = 1
        while aside.exists():
            suffix += 1
            aside = aside.with_name(f"{SUPERSEDED_PREFIX}{safe_name(other)}-{stamp}-{suffix}")
        aside.mkdir(parents=True)
        for path in present:
            os.replace(path, aside / path.name)  # same folder, same file system: a rename, never a copy
        return aside

    def claim(self, record: dict[str, Any]) -> None:
        """Record ``record`` (name, settings, command …) as the folder's study."""
        write_json(self.root / STUDY_FILE, record)

    def step_dir(self, step: Step[Any]) -> Path:
        """The step's folder: where it was finished, if it was under another name, else its own."""
        own = self.root / step.folder
        if own.exists():
            return own
        renamed = sorted(own.parent.glob(f"*-{step.key[:10]}/{DONE_FILE}"))
        return renamed[0].parent if renamed else own

    def done(self, step: Step[Any]) -> Done[Any] | None:
        """``step`` as finished, if its done-marker holds this very key and outputs its kind can read, else ``None``."""
        folder = self.step_dir(step)
        try:
            record = read_json(folder / DONE_FILE)
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or record.get("key") != step.key:
            return None
        try:
            outputs = step_kind(step.kind).Outputs.model_validate(record.get("outputs"))
        except pydantic.ValidationError:  # written by a version whose outputs this one cannot read: redo the step
            return None
        return Done(step, folder, outputs)

    def finish(self, step: Step[Any], outputs: StepOutputs, seconds: float,
               environment: dict[str, Any]) -> Done[Any]:
        """Write ``step``'s done-marker (atomically, after its outputs); returns the finished step."""
        folder = self.step_dir(step)
        record = {"key": step.key, "kind": step.kind, "name": step.name, "model": step.model,
                  "folder": folder.relative_to(self.root).as_posix(),
                  "settings": step.settings.model_dump(mode="json"), "needs": list(step.needs),
                  "outputs": outputs.model_dump(mode="json"), "seconds": round(seconds, 3),
                  "environment": environment}
        write_json(folder / DONE_FILE, record)
        return Done(step, folder, outputs)


def safe_name(name: str) -> str:
    """``name`` with only letters, digits, ``.``, ``_`` and ``-`` (a study name as part of a folder name)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "study"
