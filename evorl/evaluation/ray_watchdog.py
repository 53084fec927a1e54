"""Kill what is left of a private Ray instance when the process that started it dies.

Why: when a run with a private instance (``--workers N``) is SIGKILLed, Ray takes its GCS and
raylet down with it (it starts them with Linux's parent-death signal), but the raylet's two
agents (``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) notice the raylet's death and then try
to report it to the dead GCS, which Ray 2.60 gives a fixed 60 s (``publish_error_to_driver`` in
``ray/_private/utils.py``): they outlive the run by about a minute (measured: 2 processes left 30
s after the SIGKILL in 3 runs of 3, none at 75 s). A graceful exit (``ray.shutdown``) leaves
nothing; this is for the deaths no handler sees.

How: a small process started before ``ray.init`` reads a pipe from the driver. The driver sends
the instance's session directory once Ray is up, and ``exit`` after ``ray.shutdown`` (:func:`stop`),
which ends the watchdog quietly. End-of-file without ``exit``, which the OS delivers however the
driver dies, makes it SIGKILL every process of Ray's (its command line names Ray's package or is a
retitled ``ray::...``) that belongs to the instance: one with a file open in the session
directory (every Ray process logs there), or, for a driver killed before Ray was up, one whose
environment holds ``EVORL_RAY_INSTANCE=<id>``, which every process of the instance inherits from
the driver. (The environment alone is not enough: Ray's processes retitle themselves over the
start of their environment block, which can hide the variable.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

ENV = "EVORL_RAY_INSTANCE"
"""The variable naming a private instance in the environment of each of its processes."""
STOP = b"exit\n"
SESSION = b"session "


def start(instance: str, ray_dir: str) -> subprocess.Popen:
    """Start the watchdog of ``instance`` (``ray_dir``: Ray's package folder); keep the handle."""
    env = {k: v for k, v in os.environ.items() if k != ENV}
    return subprocess.Popen(
        # Run as a file, not a module: importing the evorl package would load torch.
        [sys.executable, os.path.abspath(__file__), instance, ray_dir],
        stdin=subprocess.PIPE,
        env=env,
        start_new_session=True,  # a Ctrl-C meant for the run must not end the watchdog first
    )


def tell_session(watchdog: subprocess.Popen, session_dir: str) -> None:
    """Tell the watchdog where the instance logs, the surest way to find its processes."""
    watchdog.stdin.write(SESSION + session_dir.encode() + b"\n")
    watchdog.stdin.flush()


def stop(watchdog: subprocess.Popen) -> None:
    """End the watchdog without killing anything (Ray was shut down in good order)."""
    with contextlib.suppress(OSError):  # already gone
        watchdog.stdin.write(STOP)
        watchdog.stdin.close()
    try:
        watchdog.wait(timeout=10)
    except subprocess.TimeoutExpired:  # it has nothing left to do: do not wait on it
        watchdog.kill()


def instance_processes(instance: str, ray_dir: str, session_dir: str | None) -> list[int]:
    """Pids of Ray's processes (not this one) that belong to ``instance`` (see the module doc)."""
    needle = f"{ENV}={instance}".encode()
    ray_dir = os.path.join(ray_dir, "")
    session = None if session_dir is None else os.path.join(session_dir, "")
    found = []
    for pid in _pids():
        command = _read(pid, "cmdline").replace(b"\0", b" ").decode(errors="replace")
        if pid == os.getpid() or not (command.startswith("ray::") or ray_dir in command):
            continue
        if needle in _read(pid, "environ").split(b"\0") or _has_file_in(pid, session):
            found.append(pid)
    return found


def _pids() -> list[int]:
    if not os.path.isdir("/proc"):
        return []  # Linux only; elsewhere Ray's own clean-up is all there is
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _read(pid: int, name: str) -> bytes:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as fh:
            return fh.read()
    except OSError:  # gone, or not ours to read
        return b""


def _has_file_in(pid: int, folder: str | None) -> bool:
    if folder is None:
        return False
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith(folder):
                return True
    return False


def main(argv: list[str]) -> int:
    instance, ray_dir = argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    session = None
    for line in sys.stdin.buffer:  # ends at end-of-file: the driver closed the pipe, or died
        if line == STOP:
            return 0
        if line.startswith(SESSION):
            session = line[len(SESSION) :].decode().strip()
    for pid in instance_processes(instance, ray_dir, session):
        with contextlib.suppress(OSError):  # exited meanwhile
            os.kill(pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
