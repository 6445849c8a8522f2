"""A background JVM started by us: its PID file, its log, health waits and stopping by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import ServiceError

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class ManagedProcess:
    """One service process: `marker` is a string its command line must contain, so a PID file
    left over from a reboot never makes us signal somebody else's process."""

    name: str
    home: Path
    marker: str

    @property
    def pid_file(self) -> Path:
        return self.home / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.home / f"{self.name}.out"

    def pid(self) -> int | None:
        """The PID of our running process, or None (a stale PID file is removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not _alive(pid):
            self.pid_file.unlink(missing_ok=True)
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            cmdline = ""
        # An empty command line is a process still in exec(); a different one is not ours.
        if cmdline and self.marker not in cmdline:
            self.pid_file.unlink(missing_ok=True)
            return None
        return pid

    def start(self, argv: Sequence[str], env: dict[str, str] | None = None) -> int:
        """Start detached in its own session (it outlives the CLI), output to the log file.

        posix_spawn rather than Popen: the service is not a child we wait for, and a Popen
        object dropped while its process runs is reported as a leak."""
        self.home.mkdir(parents=True, exist_ok=True)
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (
                os.POSIX_SPAWN_OPEN,
                1,
                str(self.log_file),
                os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                0o644,
            ),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
        try:
            pid = os.posix_spawnp(
                argv[0],
                list(argv),
                {**os.environ, **(env or {})},
                file_actions=actions,
                setsid=True,
            )
        except FileNotFoundError as err:
            raise ServiceError(self.name, f"{argv[0]} is not installed") from err
        self.pid_file.write_text(f"{pid}\n")
        return pid

    def wait_healthy(
        self, healthy: Callable[[], bool], timeout: float, progress: Progress = _quiet
    ) -> float:
        """Poll `healthy` until it answers True; fail fast if the process dies. Seconds taken."""
        start = time.monotonic()
        last_note = start
        while True:
            if self.pid() is None:
                raise ServiceError(self.name, f"exited during start-up; log:\n{self.log_tail()}")
            if healthy():
                return time.monotonic() - start
            now = time.monotonic()
            if now - start > timeout:
                raise ServiceError(
                    self.name, f"not healthy after {timeout:.0f}s; log:\n{self.log_tail()}"
                )
            if now - last_note > 10:
                progress(f"{self.name}: still starting ({now - start:.0f}s)")
                last_note = now
            time.sleep(0.5)

    def stop(self, timeout: float = 60.0) -> bool:
        """SIGTERM, then SIGKILL after `timeout`. True if a process was stopped."""
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone; reap it if it is ours.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (OSError, IndexError):
        return False
    if state == "Z":
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        return False
    return True


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def fetch_with_maven(
    pom: Path, out_dir: Path, properties: dict[str, str], progress: Progress = _quiet
) -> Path:
    """Copy a pom's dependency jars into `out_dir` once (a marker file records completion)."""
    done = out_dir / ".complete"
    if done.is_file():
        return out_dir
    progress(f"fetching {pom.parent.name} jars into {out_dir} (once)")
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={out_dir}",
        *(f"-D{k}={v}" for k, v in properties.items()),
    ]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=1800, check=False)
    except FileNotFoundError as err:
        raise ServiceError(pom.parent.name, "Maven (`mvn`) is not installed") from err
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise ServiceError(pom.parent.name, f"fetching jars failed:\n{tail}")
    done.write_text("ok\n")
    return out_dir
