"""One process at a time per output folder: ``run``, ``train`` and ``early-exit train/eval`` lock the folder they write.

Two runs writing one folder at once interleave their logs, time their models while the other loads the cores
and leave whichever results finished last. So each entry point holds an exclusive lock on its output folder for
as long as it writes there: ``OUT/.convbench.lock``, an OS file lock (``flock``, through the ``filelock``
library), with beside it ``OUT/.convbench.lock.json`` naming the holder (PID, host, command, since when),
written atomically once the lock is held; both go when the holder is done. A second process gets
:class:`~convbench.errors.FolderInUse` naming the holder, at once (it does not wait).

A lock is never left stale by a dead holder: the OS releases it when the process ends, even by ``kill -9``.
What a killed holder leaves is its holder record; the next process finds it naming a PID that no longer runs on
this host, takes the folder over and says so in one line (a :class:`StaleLockNotice` warning).

Within one process the lock is re-entrant (a study that trains into its own folder, ``train_early_exit``
calling ``train``): only the outermost hold takes and releases it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import inspect
import json
import os
import shlex
import socket
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout

from convbench.checks import output_folder
from convbench.errors import FolderInUse
from convbench.io import write_json

LOCK_FILE = ".convbench.lock"
HOLDER_FILE = ".convbench.lock.json"
LOCK_FILES = (LOCK_FILE, HOLDER_FILE)  # what a lock adds to a folder: not results, not "another study's files"
_HOLDER_WAIT_S = 1.0  # how long a refused process waits for the holder to record itself (it does so at once)

F = TypeVar("F", bound=Callable[..., Any])

_held: dict[Path, int] = {}  # folders this process holds → nesting depth


class StaleLockNotice(UserWarning):
    """An output folder's lock record named a process that no longer runs; this process took the folder over."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds an output folder: the record written beside its lock."""

    pid: int
    host: str
    command: str
    since: str  # UTC, ISO 8601

    @classmethod
    def me(cls, command: str | None = None) -> LockHolder:
        return cls(os.getpid(), socket.gethostname(), command or _this_command(),
                   _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))

    @classmethod
    def read(cls, folder: Path) -> LockHolder | None:
        """The record in ``folder``, or ``None`` when there is none (or it is unreadable)."""
        try:
            record = json.loads((folder / HOLDER_FILE).read_text(encoding="utf-8"))
            return cls(int(record["pid"]), str(record["host"]), str(record["command"]), str(record["since"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def is_running(self) -> bool:
        """Whether the process may still run: ``False`` only when it is known dead (on this host)."""
        if self.host != socket.gethostname():
            return True  # another machine's process: cannot tell
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's live process
            return True
        return True

    def describe(self) -> str:
        return f"PID {self.pid} on {self.host} ({self.command}), since {self.since}"


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike[str], command: str | None = None) -> Iterator[Path]:
    """Hold ``folder``'s lock for the block (creating the folder); yields the folder.

    Args:
        folder: the output folder (created if missing; removed again if the block left it empty).
        command: what to record as the holder's command (default: this process's command line).

    Raises:
        FolderInUse: another process holds the folder; the message names it.
        ConfigError: ``folder`` is a file, or cannot be created or written.
    """
    folder = output_folder(folder)
    key = folder.resolve()
    if key in _held:  # this process already holds it
        _held[key] += 1
        try:
            yield folder
        finally:
            _held[key] -= 1
        return
    created = _missing_folders(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / LOCK_FILE, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        holder = _wait_for_holder(folder)
        _remove_if_empty(created)
        who = (holder.describe() if holder and holder.is_running() else
               f"another process (the lock record names {holder.describe()}, which no longer runs: a process it "
               f"started may hold the lock)" if holder else "another process (it has not recorded itself yet)")
        raise FolderInUse(f"output folder {folder} is in use by {who}; wait for it to finish, or choose another "
                          f"output folder") from None
    try:
        previous = LockHolder.read(folder)
        if previous is not None and previous.pid != os.getpid():  # its lock is gone, so it ended without releasing
            warnings.warn(f"{folder}: took over the lock left by {previous.describe()}, which is no longer "
                          f"running", StaleLockNotice, stacklevel=3)
        write_json(folder / HOLDER_FILE, asdict(LockHolder.me(command)))
        _held[key] = 1
        try:
            yield folder
        finally:
            del _held[key]
            with contextlib.suppress(OSError):
                (folder / HOLDER_FILE).unlink()
    finally:
        # Unlinked while still held: a peer that opened this file meanwhile finds its inode gone when it gets the
        # flock, and filelock then counts that as not acquired; so the folder is left as the run left it.
        with contextlib.suppress(OSError):
            (folder / LOCK_FILE).unlink()
        lock.release()
        _remove_if_empty(created)


def locks_output(*params: str, existing: tuple[str, ...] = ()) -> Callable[[F], F]:
    """Decorate an entry point so that it holds the lock of its output folder while it runs.

    The folder is the value of the first of ``params`` the call sets (not ``None``), e.g.
    ``@locks_output("out", "directory")`` for a function writing into ``out``, else into ``directory``.
    A parameter named in ``existing`` is an input folder written into: a path there that is no existing folder
    is not locked (nor created), and the function's own check says what it expected.
    """
    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def locked(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            param = next((p for p in params if bound.arguments.get(p) is not None), None)
            folder = None if param is None else bound.arguments[param]
            if folder is None or (param in existing and not Path(folder).is_dir()):
                return fn(*args, **kwargs)
            with output_lock(folder):
                return fn(*args, **kwargs)

        return locked  # type: ignore[return-value]

    return decorate


def _this_command() -> str:
    """This process's command line, its program shortened to its name (``convbench train --arch …``)."""
    argv = [Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python", *sys.argv[1:]]
    return shlex.join(argv)


def _wait_for_holder(folder: Path) -> LockHolder | None:
    """The live holder's record; a holder that just took the lock writes it within moments."""
    deadline = time.monotonic() + _HOLDER_WAIT_S
    while True:
        holder = LockHolder.read(folder)
        if (holder is not None and holder.is_running()) or time.monotonic() > deadline:
            return holder
        time.sleep(0.05)


def _missing_folders(folder: Path) -> list[Path]:
    """The folders ``mkdir(parents=True)`` would create for ``folder``, innermost first."""
    missing = []
    for path in (folder, *folder.parents):
        if path.exists():
            break
        missing.append(path)
    return missing


def _remove_if_empty(created: list[Path]) -> None:
    """Remove the folders this lock created when nothing was written into them (e.g. the run failed a check)."""
    with contextlib.suppress(OSError):
        for path in created:
            path.rmdir()  # stops at the first folder that is not empty
