"""Kill what is left of a private Ray instance when the process that started it dies.

Why: when a run with a private instance (``--workers N``) is SIGKILLed, Ray takes its GCS and
raylet down with it (it starts them with Linux's parent-death signal), but the raylet's two
agents (``ray::DashboardAgent``, ``ray::RuntimeEnvAgent``) notice the raylet's death and then try
to report it to the dead GCS, which Ray 2.60 gives a fixed 60 s (``publish_error_to_driver`` in
``ray/_private/utils.py``): they outlive the run by about a minute (measured: 2 processes left 30
s after the SIGKILL, none at 75 s). A graceful exit (``ray.shutdown``) leaves nothing; this is
for the deaths no handler sees.

How: every process of the instance inherits ``EVORL_RAY_INSTANCE=<id>`` from the driver (Ray
passes the driver's environment down to the GCS, the raylet, its agents and the workers). The
watchdog, a small process started before ``ray.init`` without that variable, reads a pipe from the
driver. ``exit`` on the pipe (:func:`stop`, after ``ray.shutdown``) ends it quietly; end-of-file
without it, which the OS delivers however the driver dies, makes it SIGKILL every Ray process
carrying the id.
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


def start(instance: str) -> subprocess.Popen:
    """Start the watchdog of ``instance``; the caller keeps the handle until :func:`stop`."""
    env = {k: v for k, v in os.environ.items() if k != ENV}
    return subprocess.Popen(
        # Run as a file, not a module: importing the evorl package would load torch.
        [sys.executable, os.path.abspath(__file__), instance],
        stdin=subprocess.PIPE,
        env=env,
        start_new_session=True,  # a Ctrl-C meant for the run must not end the watchdog first
    )


def stop(watchdog: subprocess.Popen) -> None:
    """End the watchdog without killing anything (Ray was shut down in good order)."""
    with contextlib.suppress(OSError):  # already gone
        watchdog.stdin.write(STOP)
        watchdog.stdin.close()
    try:
        watchdog.wait(timeout=10)
    except subprocess.TimeoutExpired:  # it has nothing left to do: do not wait on it
        watchdog.kill()


def instance_processes(instance: str) -> list[int]:
    """Pids of the Ray processes (not this one) whose environment holds ``ENV=instance``."""
    found = _linux_processes if os.path.isdir("/proc") else _psutil_processes
    return [
        pid
        for pid, command in found(f"{ENV}={instance}")
        if pid != os.getpid() and (command.startswith("ray::") or f"{os.sep}ray{os.sep}" in command)
    ]


def _linux_processes(needle: str) -> list[tuple[int, str]]:
    # Read raw: Ray's processes retitle themselves (setproctitle) over the start of their
    # environment block, which psutil's parser then reads as empty.
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle.encode() not in fh.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                out.append((int(entry), fh.read().replace(b"\0", b" ").decode(errors="replace")))
        except OSError:  # gone, or not ours to read
            continue
    return out


def _psutil_processes(needle: str) -> list[tuple[int, str]]:
    import ray  # noqa: F401  (puts the psutil that Ray bundles on sys.path)

    # isort: split
    import psutil

    key, value = needle.split("=", 1)
    out = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if proc.environ().get(key) == value:
                out.append((proc.pid, " ".join(proc.info["cmdline"] or [])))
        except (psutil.Error, OSError):
            continue
    return out


def main(argv: list[str]) -> int:
    (instance,) = argv
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    message = sys.stdin.buffer.read()  # returns at end-of-file: the driver closed it, or died
    if message == STOP:
        return 0
    for pid in instance_processes(instance):
        with contextlib.suppress(OSError):  # exited meanwhile
            os.kill(pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
