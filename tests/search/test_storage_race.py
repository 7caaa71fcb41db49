"""Processes opening one new study database at the same moment all get it: Optuna creates the schema on first
open, and the processes racing on its version stamp must not fail (workers sharing a study start together)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from convbench.search.engine import _storage

OPENERS = 4
DATABASES = 6


def _open(url: str, barrier: multiprocessing.synchronize.Barrier, failures: multiprocessing.Queue) -> None:
    barrier.wait()
    try:
        _storage(url)
    except Exception as e:  # the parent reports what any opener hit
        failures.put(f"{type(e).__name__}: {str(e).splitlines()[0]}")


def test_processes_opening_one_new_database_together_all_get_it(tmp_path: Path):
    context = multiprocessing.get_context("fork")
    failures = context.Queue()
    for database in range(DATABASES):  # each a new file: the race is on creating the schema
        url = f"sqlite:///{tmp_path / f'study{database}.db'}"
        barrier = context.Barrier(OPENERS)
        openers = [context.Process(target=_open, args=(url, barrier, failures)) for _ in range(OPENERS)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join(timeout=60)
            assert opener.exitcode == 0
    found = []
    while not failures.empty():
        found.append(failures.get())
    assert not found, found
