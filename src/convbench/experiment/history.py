"""The results history: every study's results appended to one SQLite database, with their environment.

Default location ``~/.convbench/results.sqlite``; the ``CONVBENCH_HISTORY`` environment variable or an
explicit path overrides it. One row per result (a model file timed in one runtime at one thread count,
or an early-exit evaluation), the row's key figures in columns for filtering and the whole row as JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from convbench.checks import integer_in, one_of
from convbench.errors import ConfigError
from convbench.vocabulary import DEFAULT_HISTORY, HISTORY_ENV

_SCHEMA_VERSION = 1

# Columns copied from a result row (same names); anything else stays in the row's JSON.
COLUMNS = {"kind": "TEXT", "model": "TEXT", "arch": "TEXT", "width": "REAL", "input_size": "INTEGER",
           "dataset": "TEXT", "format": "TEXT", "quantize": "TEXT", "runtime": "TEXT", "threads": "INTEGER",
           "accuracy": "REAL", "median_ms": "REAL", "ci95_low_ms": "REAL", "ci95_high_ms": "REAL", "p90_ms": "REAL",
           "size_bytes": "INTEGER", "params": "INTEGER", "macs": "INTEGER", "sha256": "TEXT"}

_CREATE = f"""
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, study TEXT NOT NULL, timestamp TEXT NOT NULL, command TEXT, out_dir TEXT,
    wall_seconds REAL, experiment TEXT, environment TEXT);
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id), study TEXT NOT NULL, timestamp TEXT NOT NULL,
    {", ".join(f"{name} {kind}" for name, kind in COLUMNS.items())},
    cpu TEXT, cores INTEGER, environment TEXT, row TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS results_arch ON results(arch);
CREATE INDEX IF NOT EXISTS results_dataset ON results(dataset);
PRAGMA user_version = {_SCHEMA_VERSION};
"""


def history_path(path: str | os.PathLike[str] | None = None) -> Path:
    """``path``, else ``$CONVBENCH_HISTORY``, else ``~/.convbench/results.sqlite``."""
    chosen = path or os.environ.get(HISTORY_ENV) or Path(DEFAULT_HISTORY).expanduser()
    return Path(chosen).expanduser()


@contextlib.contextmanager
def _connect(path: Path, create: bool) -> Iterator[sqlite3.Connection]:
    if not create and not path.is_file():
        raise ConfigError(f"no results history at {path} (run a study first, or set {HISTORY_ENV})")
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, timeout=30)
    except (OSError, sqlite3.Error) as e:
        raise ConfigError(f"cannot open the results history {path}: {e}") from None
    try:
        with db:  # one transaction: all rows of a run or none
            db.executescript(_CREATE) if create else None
            yield db
    except sqlite3.DatabaseError as e:
        raise ConfigError(f"results history {path}: {e} (not a convbench history? set {HISTORY_ENV} to use "
                          f"another file)") from None
    finally:
        db.close()


def append_history(rows: list[dict[str, Any]], run: dict[str, Any], path: str | os.PathLike[str] | None = None) -> int:
    """Append one run and its result ``rows``; returns the run's id.

    Args:
        rows: result rows (dicts with any of :data:`COLUMNS` and an ``environment`` dict).
        run: ``study``, ``timestamp``, ``command``, ``out_dir``, ``wall_seconds``, ``experiment``, ``environment``.
        path: the database (see :func:`history_path`).
    """
    with _connect(history_path(path), create=True) as db:
        run_id = db.execute(
            "INSERT INTO runs (study, timestamp, command, out_dir, wall_seconds, experiment, environment)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (run["study"], run["timestamp"], run.get("command"), run.get("out_dir"), run.get("wall_seconds"),
             json.dumps(run.get("experiment")), json.dumps(run.get("environment")))).lastrowid
        names = ["run_id", "study", "timestamp", *COLUMNS, "cpu", "cores", "environment", "row"]
        db.executemany(
            f"INSERT INTO results ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
            [_record(run_id, run, row) for row in rows])
    assert run_id is not None
    return run_id


def _record(run_id: int, run: dict[str, Any], row: dict[str, Any]) -> tuple[Any, ...]:
    env = row.get("environment") or run.get("environment") or {}
    return (run_id, run["study"], env.get("timestamp") or run["timestamp"], *(row.get(c) for c in COLUMNS),
            env.get("cpu"), env.get("cores"), json.dumps(env),
            json.dumps({k: v for k, v in row.items() if k != "environment"}, default=str))


def history(*, arch: str | None = None, dataset: str | None = None, study: str | None = None,
            runtime: str | None = None, limit: int | None = 50,
            path: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Past results, newest first, optionally filtered; each row as it was appended plus ``run_id`` and ``study``.

    Raises:
        ConfigError: no history at ``path`` yet, the file is not a convbench history, or an unknown runtime.
    """
    if limit is not None:
        integer_in("limit", limit, 1)
    if runtime is not None:  # a misspelt runtime would match no row: an empty table that looks like an answer
        from convbench.runtime import list_runtimes

        one_of("runtime", runtime, list_runtimes())
    filters = {"arch": arch, "dataset": dataset, "study": study, "runtime": runtime}
    where = [f"{name} = ?" for name, value in filters.items() if value is not None]
    sql = ("SELECT run_id, study, timestamp, environment, row FROM results"
           + (" WHERE " + " AND ".join(where) if where else "")
           + " ORDER BY timestamp DESC, id DESC" + (" LIMIT ?" if limit else ""))
    params = [v for v in filters.values() if v is not None] + ([limit] if limit else [])
    with _connect(history_path(path), create=False) as db:
        found = db.execute(sql, params).fetchall()
    return [{**json.loads(row), "environment": json.loads(env), "run_id": run_id, "study": name, "timestamp": ts}
            for run_id, name, ts, env, row in found]
