"""``ssh://[user@]host[:port]``: time models on a Linux board (Raspberry Pi, Jetson …) with the local protocol.

Everything goes through the system OpenSSH client (``ssh``, ``scp``), so ``~/.ssh/config``, keys and agents work
as they do in a terminal; ``BatchMode=yes`` makes a missing key fail at once instead of prompting, and
``$CONVBENCH_SSH_OPTIONS`` adds options (``-F config``, ``-i key``, ``-o UserKnownHostsFile=…``). One run:

1. ``ssh``: make a work folder on the host and probe it with the agent (python3, numpy, the runtime, the
   machine: device, CPU, cores, governor, OS) — a missing piece is a one-line error naming it and its install;
2. ``scp``: the agent (one zipapp file), the model files and their real preprocessed inputs (``.npy``);
3. ``ssh``: the agent times them (:mod:`convbench.bench.targets.agent`) and prints the raw samples back;
4. ``ssh``: the work folder is removed.

The probe (its own connection), the copy and the agent's start-up (the run's connection, Python, imports) are
timed and recorded in seconds in ``protocol["remote_overhead_s"]``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shlex
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

import convbench
from convbench.bench.harness import BenchCase
from convbench.bench.machine_load import MachineLoad
from convbench.bench.measurement import Measurement
from convbench.bench.result import BenchResult
from convbench.bench.rounds import Interleaved
from convbench.bench.targets import agent
from convbench.bench.targets.base import Protocol, Target, TargetEnvironment, TargetSpec, register_target
from convbench.bench.targets.staging import base_protocol, check_protocol, make_result, stage
from convbench.errors import ConfigError, TargetError
from convbench.vocabulary import REMOTE_PYTHON_ENV, SSH_OPTIONS_ENV

CONNECT_TIMEOUT_S = 10  # ssh -o ConnectTimeout: an unreachable host fails in seconds, not minutes
ALIVE_INTERVAL_S = 5  # ssh -o ServerAliveInterval: a dropped connection is noticed within ~3 intervals
# convbench's own modules the agent imports, shipped unchanged with every convbench module they import in turn
# (the timing loop and its records: stdlib + numpy only; a package's __init__ is never shipped, see agent_modules)
AGENT_ROOTS = ("bench/timer.py", "bench/measurement.py", "bench/rounds.py")
DEFAULT_REMOTE_PYTHON = "python3"


@register_target
class SshTarget(Target):
    """A Linux host reached with the system ``ssh``; see the module docstring."""

    kind = "ssh"
    runtimes = tuple(agent.RUNNERS)

    def __init__(self, spec: TargetSpec) -> None:
        super().__init__(spec)
        self._workdir: str | None = None
        self._environment: TargetEnvironment | None = None

    @classmethod
    def parse(cls, text: str, rest: str) -> TargetSpec:
        try:
            parts = urlsplit(f"ssh://{rest}")
            port = parts.port
        except ValueError as e:
            raise ConfigError(f"target {text!r}: {e}; expected ssh://[user@]host[:port]") from None
        if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.password:
            raise ConfigError(f"target {text!r}: expected ssh://[user@]host[:port]")
        user = parts.username
        normal = f"ssh://{user + '@' if user else ''}{parts.hostname}{f':{port}' if port else ''}"
        return TargetSpec("ssh", normal, user=user, host=parts.hostname, port=port)

    # -- the contract -----------------------------------------------------------------------------------------

    def prepare(self, runtimes: Sequence[str]) -> TargetEnvironment:
        """Make a work folder on the host and probe it (one connection); see the module docstring."""
        self._cleanup()  # a second prepare replaces the first one's folder
        missing = sorted(set(runtimes) - set(agent.RUNNERS))
        if missing:
            raise ConfigError(f"target {self.name}: runtime {missing[0]!r} cannot run on a remote host; the agent "
                              f"runs {', '.join(agent.RUNNERS)}")
        script = (f"d=$(mktemp -d /tmp/convbench-agent.XXXXXXXX) && echo \"CONVBENCH-DIR $d\" && "
                  f"{_remote_python()} - probe {' '.join(shlex.quote(r) for r in runtimes)}")
        out = self._ssh(script, "reaching it", stdin=Path(agent.__file__).read_bytes())
        self._workdir = next((line.split(" ", 1)[1] for line in out.stdout.splitlines()
                              if line.startswith("CONVBENCH-DIR ")), None)
        answer = self._answer(out, "probing it")
        env = answer["environment"]
        self._environment = TargetEnvironment(
            self.name, device=env.get("device"), cpu=env.get("cpu"), cores=env.get("cores"),
            governor=env.get("governor"), os=env.get("os"), machine=env.get("machine"), python=env.get("python"),
            libraries=env.get("libraries", {}))
        return self._environment

    def run(self, configs: Sequence[BenchCase], protocol: Protocol) -> list[BenchResult]:
        configs = list(configs)
        check_protocol(configs, protocol)
        if protocol.memory or protocol.pin or protocol.profile_ops or protocol.delegate:
            raise ConfigError(f"target {self.name}: memory, pinning, per-op profiles and delegates are measured only "
                              "on this machine or over adb; leave them out for an ssh target")
        with tempfile.TemporaryDirectory(prefix="convbench-ssh-") as tmp:
            staging = Path(tmp)
            staged = [stage(c, protocol, staging / f"image{i}") for i, c in enumerate(configs)]
            probing = time.perf_counter()
            env = self.prepare(sorted({s.runtime for s in staged}))
            probed = time.perf_counter()
            try:
                files = self._write_job(staged, protocol, staging)
                started = time.perf_counter()
                self._scp(files)
                copied = time.perf_counter()
                out = self._ssh(f"cd {shlex.quote(self._workdir or '.')} && {_remote_python()} agent.pyz run job.json",
                                "the run")
                ran = time.perf_counter()
                answer = self._answer(out, "the run")
            finally:
                self._cleanup()
            overhead = {"probe": probed - probing, "copy": copied - started,
                        "start": (ran - copied) - answer["measuring_s"],
                        "bytes_copied": sum(f.stat().st_size for f in files)}
        return self._results(staged, answer, protocol, env, overhead)

    # -- the steps ----------------------------------------------------------------------------------------------

    def _write_job(self, staged: list[Any], protocol: Protocol, staging: Path) -> list[Path]:
        files = [build_agent(staging / "agent.pyz")]
        configs = []
        for i, s in enumerate(staged):
            model = staging / f"model{i}{s.path.suffix}"
            model.symlink_to(s.path.resolve())
            x = staging / f"input{i}.npy"
            np.save(x, s.x)
            files += [model, x]
            configs.append({"model": model.name, "input": x.name, "runtime": s.runtime, "threads": s.config.threads,
                            "label": s.label, "sub_label": s.sub_label, "name": s.path.name})
        job = {"configs": configs, "rounds": protocol.rounds, "seed": protocol.seed,
               "load_repeats": protocol.load_repeats,
               "protocol": {"runs": protocol.runs, "min_seconds": protocol.min_seconds, "warmup": protocol.warmup,
                            "warmup_seconds": protocol.warmup_seconds}}
        (staging / "job.json").write_text(json.dumps(job))
        return [*files, staging / "job.json"]

    def _results(self, staged: list[Any], answer: dict[str, Any], protocol: Protocol, env: TargetEnvironment,
                 overhead: dict[str, Any]) -> list[BenchResult]:
        run = Interleaved([[Measurement.from_dict(m) for m in raw["inference"]] for raw in answer["results"]],
                          answer["round_orders"], answer["run_id"], MachineLoad.from_dict(answer["machine"]))
        record = {**base_protocol(protocol), **run.protocol_record(protocol.seed), "remote_overhead_s": overhead}
        results = []
        for i, (s, raw) in enumerate(zip(staged, answer["results"], strict=True)):
            phases = {name: Measurement.from_dict(m) for name, m in raw["phases"].items()}
            phases["inference"] = run.pooled(i)
            target_env = TargetEnvironment(**{**env.to_dict(), "runtime": s.runtime,
                                              "runtime_version": raw["version"]})
            results.append(make_result(s, phases, runtime_version=raw["version"],
                                       delegate="xnnpack" if s.runtime == "litert" else "cpu",
                                       protocol=record, target_env=target_env))
        return results

    # -- ssh and scp --------------------------------------------------------------------------------------------

    def _options(self) -> list[str]:
        extra = shlex.split(os.environ.get(SSH_OPTIONS_ENV, ""))
        return ["-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT_S}",
                "-o", f"ServerAliveInterval={ALIVE_INTERVAL_S}", "-o", "ServerAliveCountMax=3", *extra]

    def _destination(self) -> str:
        return f"{self.spec.user}@{self.spec.host}" if self.spec.user else str(self.spec.host)

    def _ssh(self, command: str, doing: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        port = ["-p", str(self.spec.port)] if self.spec.port else []
        argv = ["ssh", *self._options(), *port, self._destination(), command]
        out = _call(argv, self.name, stdin)
        if out.returncode == 255:  # ssh's own failure (the remote command's codes are 0–254)
            raise TargetError(_ssh_failure(self.name, out.stderr, doing))
        if out.returncode == 127 or ("not found" in out.stderr and agent.MARKER not in out.stdout):
            raise TargetError(f"target {self.name}: no Python interpreter {_remote_python()!r} on the host; install "
                              f"it (sudo apt install python3 python3-numpy) or set ${REMOTE_PYTHON_ENV}")
        return out

    def _scp(self, files: list[Path]) -> None:
        port = ["-P", str(self.spec.port)] if self.spec.port else []
        argv = ["scp", "-q", *self._options(), *port, *map(str, files), f"{self._destination()}:{self._workdir}/"]
        out = _call(argv, self.name)
        if out.returncode != 0:
            raise TargetError(_ssh_failure(self.name, out.stderr, "copying the model files"))

    def _answer(self, out: subprocess.CompletedProcess[str], doing: str) -> dict[str, Any]:
        line = next((line for line in reversed(out.stdout.splitlines()) if line.startswith(agent.MARKER)), None)
        if line is None:
            last = next((line for line in reversed(out.stderr.splitlines()) if line.strip()), "no output")
            raise TargetError(f"target {self.name}: the agent failed during {doing} (exit {out.returncode}): {last}")
        answer = json.loads(line[len(agent.MARKER):])
        if answer.get("ok"):
            return answer
        if answer.get("error") == "missing":
            raise TargetError(f"target {self.name}: {answer['missing']} is not installed for {_remote_python()!r} "
                              f"on the host; install it: {answer['install']}")
        raise TargetError(f"target {self.name}: {answer.get('message', answer)}")

    def _cleanup(self) -> None:
        """Remove the host's work folder; best effort (the connection may be the thing that failed)."""
        if self._workdir:
            with contextlib.suppress(TargetError):
                _call(["ssh", *self._options(), *(["-p", str(self.spec.port)] if self.spec.port else []),
                       self._destination(), f"rm -rf {shlex.quote(self._workdir)}"], self.name, timeout=30)
            self._workdir = None


def _remote_python() -> str:
    return os.environ.get(REMOTE_PYTHON_ENV) or DEFAULT_REMOTE_PYTHON


def _call(argv: list[str], target: str, stdin: bytes | None = None,
          timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise TargetError(f"target {target}: the OpenSSH client ({argv[0]}) is not installed here "
                          "(sudo apt install openssh-client)") from None
    except subprocess.TimeoutExpired:
        raise TargetError(f"target {target}: {argv[0]} did not finish within {timeout:.0f} s") from None
    return subprocess.CompletedProcess(argv, done.returncode, done.stdout.decode(errors="replace"),
                                       done.stderr.decode(errors="replace"))


def _ssh_failure(target: str, stderr: str, doing: str) -> str:
    """ssh's complaint as one line that says what it means."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("Warning:")]
    last = lines[-1] if lines else "no message"
    text = stderr.lower()
    if "permission denied" in text or "too many authentication failures" in text:
        return (f"target {target}: authentication refused ({last}); check the user and that your key is in the "
                "host's ~/.ssh/authorized_keys (ssh-copy-id)")
    if "host key verification failed" in text:
        return f"target {target}: host key verification failed; connect once with ssh to accept the host's key"
    if any(s in text for s in ("connection refused", "timed out", "no route to host", "could not resolve",
                               "network is unreachable", "name or service not known")):
        return f"target {target}: unreachable ({last})"
    if doing == "the run":
        return f"target {target}: connection lost during the run ({last}); nothing from this target was kept"
    return f"target {target}: ssh failed while {doing} ({last})"


@functools.cache
def _agent_bytes() -> bytes:
    """The agent zipapp: this package's agent as ``__main__`` plus the timing modules it imports, unchanged."""
    import io

    root = Path(convbench.__file__).parent
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("__main__.py", Path(agent.__file__).read_text())
        zf.writestr("convbench/__init__.py", '"""convbench\'s timing loop, shipped with its agent."""\n')
        zf.writestr("convbench/bench/__init__.py", "")
        for module in agent_modules(root):
            zf.writestr(f"convbench/{module}", (root / module).read_text())
    return buffer.getvalue()


def agent_modules(root: Path) -> list[str]:
    """:data:`AGENT_ROOTS` and every convbench module they import, transitively (paths relative to ``root``).

    Followed from the source, so a new import in ``timer.py`` travels with the agent instead of failing on the host.
    A package's ``__init__`` (which would pull in a whole layer) is replaced by an empty one in the zipapp.
    """
    import ast

    found: list[str] = []
    todo = list(AGENT_ROOTS)
    while todo:
        module = todo.pop()
        if module in found:
            continue
        found.append(module)
        for node in ast.walk(ast.parse((root / module).read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("convbench."):
                names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
                todo += [path for name in names if (path := "/".join(name.split(".")[1:]) + ".py")
                         and (root / path).is_file()]
    return sorted(found)


def build_agent(path: str | os.PathLike[str]) -> Path:
    """Write the agent (one self-contained zipapp, run as ``python3 agent.pyz``) to ``path``."""
    path = Path(path)
    path.write_bytes(_agent_bytes())
    return path
