"""The two errors a user sees, each reported by the CLI as one line.

* :class:`ConfigError` — something the user can fix (config, file, env id): exit code 2.
* :class:`TrainingError` — the run cannot go on (all fitness NaN, cluster gone): exit code 1;
  the last checkpoint stays intact and resumable.

:class:`StopNow` is not an error: a second Ctrl-C during a run (exit code 130).
"""


class ConfigError(ValueError):
    """A configuration problem the user can fix; reported as one line, exit code 2."""


class TrainingError(RuntimeError):
    """The run cannot go on; the last checkpoint stands. Reported as one line, exit code 1."""


class StopNow(BaseException):
    """A second SIGINT during a run: stop at once, the last checkpoint stands (exit code 130).

    Not a KeyboardInterrupt: CPython remembers one raised inside an import and makes the process
    exit by SIGINT even after it was handled, which would hide the exit code."""
