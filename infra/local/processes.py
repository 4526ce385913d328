"""Child processes for the local servers: start them, watch them, stop them.

Every server (Kafka node, MinIO, PostgreSQL, a service) is a `ManagedProcess` whose output is
appended to one log file, so a failure can be explained by quoting that file. Children run in
sessions of their own, so whoever starts them must stop them: a parent killed with SIGKILL
leaves them running.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections import deque
from pathlib import Path
from typing import IO


class ManagedProcess:
    """One child process with its output appended to `log_path`."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid}, returncode={self.returncode})"

    def start(self) -> None:
        """Start the process; a second call while it runs is an error."""
        if self.is_running:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self._close_log()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        # Appending keeps the history of earlier runs, which is what one wants after a crash.
        self._log = self.log_path.open("ab")
        self._log.write(f"\n=== {time.strftime('%F %T')} starting {self.name}: {self.argv}\n".encode())
        self._log.flush()
        self._popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            # A session of its own: Ctrl-C in the terminal reaches only the parent, which then
            # stops its children in order instead of every server dying at once.
            start_new_session=True,
        )

    def terminate(self) -> None:
        """Ask for a clean exit (SIGTERM) without waiting: lets callers stop several in parallel."""
        if self._popen is not None and self._popen.poll() is None:
            self._popen.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, wait up to `timeout` seconds for a clean exit, then SIGKILL."""
        popen = self._popen
        if popen is None:
            return
        if popen.poll() is None:
            self.terminate()
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._kill_group(popen)
        self._close_log()

    def kill(self) -> None:
        """SIGKILL now, like a crash (the failure tests need exactly that)."""
        popen = self._popen
        if popen is None:
            return
        if popen.poll() is None:
            self._kill_group(popen)
        self._close_log()

    @property
    def is_running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def pid(self) -> int | None:
        return None if self._popen is None else self._popen.pid

    @property
    def returncode(self) -> int | None:
        """None while running or never started; negative -N when ended by signal N."""
        return None if self._popen is None else self._popen.poll()

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of the log, for error messages."""
        return log_tail(self.log_path, lines)

    @staticmethod
    def _kill_group(popen: subprocess.Popen[bytes]) -> None:
        # The whole session (pgid == pid, see start): a killed server must not leave helpers
        # behind, such as PostgreSQL backends holding the port.
        with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def log_tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of the file at `path` ("" if it does not exist)."""
    try:
        with path.open("rb") as file:
            tail = deque(file, maxlen=lines)
    except FileNotFoundError:
        return ""
    return b"".join(tail).decode(errors="replace")


def port_is_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port right now."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float, process: ManagedProcess | None = None) -> None:
    """Return once host:port accepts connections; raise RuntimeError if `process` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not port_is_open(host, port):
        if process is not None and not process.is_running:
            raise RuntimeError(
                f"{process.name} exited with code {process.returncode} before listening on "
                f"{host}:{port}; last lines of {process.log_path}:\n{process.log_tail()}"
            )
        if time.monotonic() > deadline:
            where = "" if process is None else f"; last lines of {process.log_path}:\n{process.log_tail()}"
            raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f}s{where}")
        time.sleep(0.2)


#: Ports handed out by this process: never twice, though each is free only until its server binds.
_HANDED_OUT: set[int] = set()
#: The lowest port `free_port` draws from; the ephemeral range's floor is the highest, plus one.
_LOWEST_PORT = 20000


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing uses at the moment of the call, for a server to bind.

    Drawn below the kernel's ephemeral range (`ip_local_port_range`), never from it: the kernel
    gives those to outgoing connections, and a long-lived one (a Kafka client's) that happened to
    take the port between this call and the server's bind kept it from binding (seen: monitoring
    refused 'address already in use' until the test gave up). Another process may still bind the
    port first; drawn at random from some ten thousand, that is unlikely enough for tests.
    """
    highest = _ephemeral_floor() - 1
    for _ in range(500):
        port = random.randint(_LOWEST_PORT, highest)
        if port not in _HANDED_OUT and _bindable(port):
            _HANDED_OUT.add(port)
            return port
    raise RuntimeError(f"no free port between {_LOWEST_PORT} and {highest}")


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _ephemeral_floor() -> int:
    """The lowest port the kernel gives outgoing connections (Linux's default where unknown)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768
