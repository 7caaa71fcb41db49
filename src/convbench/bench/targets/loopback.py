"""A throwaway OpenSSH server on 127.0.0.1, for checking the ssh path on this machine (tests, the loopback
benchmark): the same CPU must give the same answer through ``ssh://`` as locally.

It generates its own host key and client key pair in a folder, listens on a free loopback port, accepts only that
key for the current user, and is stopped (with every session it started) when the context exits. Needs the
``openssh-server`` package (``/usr/sbin/sshd``) and ``ssh-keygen``.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from convbench.errors import TargetError

SSHD = "/usr/sbin/sshd"
SFTP_SERVER = "/usr/lib/openssh/sftp-server"  # Debian's path; scp speaks SFTP since OpenSSH 9
START_TIMEOUT_S = 10


@dataclass
class LoopbackSshd:
    """A running loopback sshd.

    Attributes:
        port: the port it listens on; user: the account it lets in; folder: its keys, config and logs.
        key: the private key it accepts; process: the listening sshd.
    """

    port: int
    user: str
    folder: Path
    key: Path
    process: subprocess.Popen[bytes]

    @property
    def target(self) -> str:
        """``ssh://user@127.0.0.1:port``."""
        return f"ssh://{self.user}@127.0.0.1:{self.port}"

    def client_options(self, key: Path | None = None) -> str:
        """Options for ``$CONVBENCH_SSH_OPTIONS``: this server's key (or ``key``), its own known_hosts, no user
        config."""
        return shlex.join(["-F", "/dev/null", "-i", str(key or self.key), "-o", "IdentitiesOnly=yes",
                           "-o", f"UserKnownHostsFile={self.folder / 'known_hosts'}",
                           "-o", "StrictHostKeyChecking=accept-new", "-o", "LogLevel=ERROR"])

    def sessions(self) -> list[int]:
        """Process ids of everything the server started (per-connection sshd processes and their commands)."""
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, todo = [], [self.process.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found

    def kill(self) -> None:
        """Stop the server and drop every connection at once (as a crash or a pulled cable would)."""
        for pid in [*self.sessions(), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=START_TIMEOUT_S)


def sshd_available() -> str | None:
    """Why a loopback sshd cannot start here, or ``None`` when it can."""
    if not Path(SSHD).is_file():
        return f"{SSHD} is not installed (Debian package openssh-server)"
    for tool in ("ssh", "scp", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian package openssh-client)"
    return None


@contextlib.contextmanager
def loopback_sshd(folder: str | os.PathLike[str]) -> Iterator[LoopbackSshd]:
    """Start an sshd on a free 127.0.0.1 port with fresh keys in ``folder``; stop it (and its sessions) on exit."""
    reason = sshd_available()
    if reason:
        raise TargetError(f"loopback sshd: {reason}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("host_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True,
                       capture_output=True)
    shutil.copy(folder / "client_key.pub", folder / "authorized_keys")
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text("\n".join([
        f"HostKey {folder / 'host_key'}", "ListenAddress 127.0.0.1", f"Port {port}",
        f"AuthorizedKeysFile {folder / 'authorized_keys'}", f"PidFile {folder / 'sshd.pid'}", "StrictModes no",
        "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password", f"Subsystem sftp {SFTP_SERVER}", "LogLevel ERROR", ""]))
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder (made at boot where it runs)
    log = open(folder / "sshd.log", "wb")  # noqa: SIM115  (kept open for the server's lifetime)
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT)
    server = LoopbackSshd(port, getpass.getuser(), folder, folder / "client_key", process)
    try:
        _wait_for_port(port, process, folder / "sshd.log")
        yield server
    finally:
        if process.poll() is None:
            server.kill()
        log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TargetError(f"loopback sshd exited at start: {log.read_text().strip()[-300:]}")
        with socket.socket() as s, contextlib.suppress(OSError):
            s.connect(("127.0.0.1", port))
            return
        time.sleep(0.05)
    raise TargetError(f"loopback sshd did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S} s")
