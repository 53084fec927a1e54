"""The two errors a user sees, each reported by the CLI as one line.

* :class:`ConfigError` — something the user can fix (config, file, env id): exit code 2.
* :class:`TrainingError` — the run cannot go on (all fitness NaN, cluster gone): exit code 1;
  the last checkpoint stays intact and resumable.
"""


class ConfigError(ValueError):
    """A configuration problem the user can fix; reported as one line, exit code 2."""


class TrainingError(RuntimeError):
    """The run cannot go on; the last checkpoint stands. Reported as one line, exit code 1."""
