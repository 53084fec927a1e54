"""Time-series prediction tasks with fixed protocols: data generators, splits and metrics.

Each task is a data generator plus the protocol of the paper it comes from (training length,
washout, test procedure, error measure), so that every method in the benchmark is scored the same
way and can be set beside the published figures. A method plugs in through one function,
``forecast(context, steps)``: given teacher-forced context sequences ``(K, W, d)`` (network
coordinates) it returns the ``(K, steps, d)`` values that follow, generated free-running (each
prediction fed back as the next input).

Tasks (``make_task(name)``):

* ``sines2`` … ``sines5``: superimposed sines y(t) = Σ_{i<k} sin(f_i t), t = 0, 1, 2, … with
  Evolino's frequencies f = (0.2, 0.311, 0.42, 0.51, 0.74) (Schmidhuber, Wierstra, Gagliolo &
  Gomez, "Training recurrent networks by Evolino", Neural Computation 19(3), 2007, sec. 5):
  trained on the first 400 steps (the first 100 of them washout), tested free-running on the next
  300 steps; published test NRMSE 4.15e-3, 8.04e-3, 0.110, 0.166 for k = 2 … 5.
* ``mso2`` … ``mso8``: the same construction with the frequencies of the "MSO" benchmark of
  Koryakin, Lohmann & Butz, "Balanced echo state networks", Neural Networks 36, 2012
  (0.2, 0.311, 0.42, 0.51, 0.63, 0.74, 0.85, 0.97; note 0.63 as the fifth), same split.
* ``mackey-glass``: dy/dt = 0.2 y(t-τ) / (1 + y(t-τ)^10) - 0.1 y(t), τ = 17, as in Jaeger,
  "The echo state approach to analysing and training recurrent neural networks", GMD Report 148,
  2001, sec. 6: Euler steps δ = 1/10 subsampled by 10 (one sample per time unit), squashed into
  the network's range by y ↦ tanh(y - 1); 3000 training samples; NRMSE84: each of K runs is
  teacher-forced for 1000 steps on fresh data, then runs free for 84 steps, and
  NRMSE84 = sqrt(Σ_i (y_i(n+84) - ŷ_i(n+84))² / (K σ²)) in the original coordinates
  (ŷ ↦ artanh(ŷ) + 1), σ² the variance of the original signal (GMD 148, eq. 25; Jaeger averaged
  K = 20 runs for τ = 17, we use 100). Published: Evolino 1.9e-3; Jaeger's 400-unit ESN 2.8e-4
  (GMD 148, sec. 6.4); 1000-unit ESN ≈ 6.3e-5 (Jaeger & Haas, Science 304, 2004).
* ``lorenz``: Lorenz (1963) σ = 10, ρ = 28, β = 8/3, RK4 with dt = 0.01, sampled every 0.02,
  all three variables standardised; 2000 training samples (100 washout); 50 runs of 500 teacher-
  forced steps then 200 free-running steps (4 time units, ≈ 3.6 Lyapunov times at the largest
  exponent ≈ 0.9), NRMSE over the 200 steps. Our protocol; no published figure.
* ``anbncn`` (:class:`AnBnCn`): the context-sensitive language aⁿbⁿcⁿ as next-symbol prediction
  (Gers & Schmidhuber, IEEE TNN 12(6), 2001; Evolino sec. 5.1): train on n = 1 … 10, report the
  largest N such that every string with n ≤ N is predicted correctly at every step.

NRMSE everywhere is sqrt(mean((ŷ - y)²) / σ²) in the original coordinates, σ² the variance of
the task's whole generated signal (per component for vector series).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

EVOLINO_FREQS = (0.2, 0.311, 0.42, 0.51, 0.74)
"""Frequencies of Evolino's superimposed sines (Schmidhuber et al. 2007)."""
MSO_FREQS = (0.2, 0.311, 0.42, 0.51, 0.63, 0.74, 0.85, 0.97)
"""Frequencies of the MSO benchmark (Koryakin et al. 2012); from the 5th on not Evolino's."""

Forecast = Callable[[np.ndarray, int], np.ndarray]
"""``forecast(context (K, W, d), steps) -> (K, steps, d)``, all in network coordinates."""


# ---------------------------------------------------------------------------------- generators


def superimposed_sines(n_steps: int, freqs: tuple[float, ...], start: int = 0) -> np.ndarray:
    """y(t) = Σ_i sin(f_i t) for t = start, …, start + n_steps - 1 (integer time steps)."""
    t = np.arange(start, start + n_steps, dtype=np.float64)
    return np.sin(np.outer(t, np.asarray(freqs, dtype=np.float64))).sum(axis=1)


@functools.lru_cache(maxsize=8)
def _mackey_glass_cached(n: int, tau: float, delta: float, sub: int, y0: float, discard: int):
    delay = round(tau / delta)
    hist = [y0] * (delay + 1)  # y on the Euler grid, constant history y0 on [-τ, 0]
    out = np.empty(n)
    total = (discard + n) * sub
    for step in range(total):
        y, yd = hist[-1], hist[-1 - delay]
        hist.append(y + delta * (0.2 * yd / (1.0 + yd**10) - 0.1 * y))
        if step % sub == sub - 1 and step // sub >= discard:
            out[step // sub - discard] = hist[-1]
        if len(hist) > 4 * delay:
            del hist[: 2 * delay]
    out.flags.writeable = False
    return out


def mackey_glass(
    n: int,
    tau: float = 17.0,
    delta: float = 0.1,
    subsample: int = 10,
    y0: float = 1.2,
    discard: int = 1000,
) -> np.ndarray:
    """Mackey-Glass samples by Jaeger's recipe (GMD Report 148, eq. 23): Euler steps of ``delta``,
    every ``subsample``-th kept, after ``discard`` samples of transient from the constant history
    ``y0``. Returns n samples in the original coordinates (not squashed).
    """
    return _mackey_glass_cached(
        int(n), float(tau), float(delta), int(subsample), float(y0), int(discard)
    ).copy()


def lorenz(n: int, dt: float = 0.01, subsample: int = 2, discard: int = 5000) -> np.ndarray:
    """Lorenz (1963) system (σ=10, ρ=28, β=8/3) by RK4 from (1, 1, 1); n samples (n, 3)."""

    def f(s: np.ndarray) -> np.ndarray:
        x, y, z = s
        return np.array([10.0 * (y - x), x * (28.0 - z) - y, x * y - 8.0 / 3.0 * z])

    s, out = np.ones(3), np.empty((n, 3))
    for step in range((discard + n) * subsample):
        k1 = f(s)
        k2 = f(s + 0.5 * dt * k1)
        k3 = f(s + 0.5 * dt * k2)
        k4 = f(s + dt * k3)
        s = s + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        if step % subsample == subsample - 1 and step // subsample >= discard:
            out[step // subsample - discard] = s
    return out


# ---------------------------------------------------------------------------------- protocol


def nrmse(pred: np.ndarray, target: np.ndarray, variance: np.ndarray | float) -> float:
    """sqrt(mean((pred - target)² / σ²)) over all entries; σ² per last-axis component."""
    err = (np.asarray(pred, np.float64) - np.asarray(target, np.float64)) ** 2
    value = float(np.sqrt(np.mean(err / np.asarray(variance, np.float64))))
    return value if np.isfinite(value) else float("inf")


def _identity(x: np.ndarray) -> np.ndarray:
    return x


@dataclass(frozen=True)
class ForecastTask:
    """A generative prediction task and its fixed protocol (see the module docstring)."""

    name: str
    """Registry name, e.g. ``"sines2"``."""
    train: np.ndarray
    """(T, d) training sequence in network coordinates; a model predicts x(t+1) from x(≤ t)."""
    washout: int
    """Leading training steps whose states are not used to fit a readout."""
    test_context: np.ndarray
    """(K, W, d) teacher-forced context of each test run (network coordinates)."""
    test_target: np.ndarray
    """(K, steps, d) the truth following each context, in the original coordinates."""
    variance: np.ndarray
    """(d,) variance of the original signal, the NRMSE normaliser."""
    metric: str = "NRMSE"
    """``"NRMSE"`` (all free-running steps) or ``"NRMSE84"`` (the last step of each run only)."""
    inverse: Callable[[np.ndarray], np.ndarray] = _identity
    """Network → original coordinates."""
    source: str = ""
    """Where the protocol comes from."""
    published: dict[str, float] = field(default_factory=dict)
    """Published test figures by method name (``"evolino"``, ``"esn"``, ...)."""

    @property
    def dim(self) -> int:
        """Number of series components d."""
        return self.train.shape[1]

    @property
    def steps(self) -> int:
        """Free-running steps per test run."""
        return self.test_target.shape[1]

    def score(self, forecast: Forecast) -> tuple[float, np.ndarray]:
        """Test error of ``forecast`` and its predictions (K, steps, d) in original coordinates."""
        pred = self.inverse(np.asarray(forecast(self.test_context, self.steps), np.float64))
        if self.metric == "NRMSE84":
            return nrmse(pred[:, -1], self.test_target[:, -1], self.variance), pred
        return nrmse(pred, self.test_target, self.variance), pred

    def train_nrmse(self, one_step: np.ndarray) -> float:
        """NRMSE of teacher-forced one-step predictions of ``train[washout + 1:]`` (net coords)."""
        target = self.inverse(self.train[self.washout + 1 :])
        return nrmse(self.inverse(np.asarray(one_step, np.float64)), target, self.variance)


def _sines_task(name: str, freqs: tuple[float, ...], source: str, published: float | None):
    k = len(freqs)
    y = superimposed_sines(700, freqs)[:, None]
    train, test = y[:400] / k, y[400:]
    return ForecastTask(
        name,
        train,
        100,
        train[None],
        test[None],
        y.var(axis=0),
        inverse=functools.partial(np.multiply, float(k)),
        source=source,
        published={} if published is None else {"evolino": published},
    )


def _mg_inverse(v: np.ndarray) -> np.ndarray:
    return np.arctanh(np.clip(v, -1 + 1e-12, 1 - 1e-12)) + 1.0


def mackey_glass_task(trials: int = 100, warmup: int = 1000, horizon: int = 84) -> ForecastTask:
    """Jaeger's Mackey-Glass τ=17 protocol (GMD Report 148 sec. 6): 3000 training samples."""
    y = mackey_glass(3000 + trials * (warmup + horizon))
    runs = y[3000:].reshape(trials, warmup + horizon)
    return ForecastTask(
        "mackey-glass",
        np.tanh(y[:3000, None] - 1.0),
        100,
        np.tanh(runs[:, :warmup, None] - 1.0),
        runs[:, warmup:, None],
        y.var(keepdims=True),
        metric="NRMSE84",
        inverse=_mg_inverse,
        source="Jaeger 2001 (GMD Report 148) sec. 6; Schmidhuber et al. 2007",
        published={"evolino": 1.9e-3, "esn": 2.8e-4},
    )


def lorenz_task(trials: int = 50, warmup: int = 500, horizon: int = 200) -> ForecastTask:
    """Lorenz attractor, all three variables standardised (our protocol, see module docstring)."""
    s = lorenz(2000 + trials * (warmup + horizon))
    mean, std = s[:2000].mean(axis=0), s[:2000].std(axis=0)
    z = (s - mean) / std
    runs = z[2000:].reshape(trials, warmup + horizon, 3)
    return ForecastTask(
        "lorenz",
        z[:2000],
        100,
        runs[:, :warmup],
        s[2000:].reshape(runs.shape)[:, warmup:],
        s.var(axis=0),
        inverse=lambda v: v * std + mean,
        source="Lorenz 1963; our protocol",
    )


EVOLINO_PUBLISHED = {2: 4.15e-3, 3: 8.04e-3, 4: 0.110, 5: 0.166}
"""Evolino's free-running test NRMSE on k superimposed sines (Schmidhuber et al. 2007)."""


def make_task(name: str) -> ForecastTask:
    """The forecasting task ``name``: sines2-5, mso2-8, mackey-glass or lorenz."""
    if name.startswith("sines") and name[5:].isdigit() and 1 <= int(name[5:]) <= 5:
        k = int(name[5:])
        return _sines_task(
            name, EVOLINO_FREQS[:k], "Schmidhuber et al. 2007 sec. 5", EVOLINO_PUBLISHED.get(k)
        )
    if name.startswith("mso") and name[3:].isdigit() and 1 <= int(name[3:]) <= 8:
        return _sines_task(name, MSO_FREQS[: int(name[3:])], "Koryakin et al. 2012", None)
    if name == "mackey-glass":
        return mackey_glass_task()
    if name == "lorenz":
        return lorenz_task()
    raise ValueError(f"unknown time-series task {name!r}; known: {', '.join(TASKS)}")


TASKS = (
    *(f"sines{k}" for k in range(2, 6)),
    *(f"mso{k}" for k in range(2, 9)),
    "mackey-glass",
    "lorenz",
    "anbncn",
)
"""Every task name ``make_task`` (or :class:`AnBnCn` for ``"anbncn"``) accepts."""


def task_summary(name: str) -> str:
    """One line on the task ``name`` (for ``evorl list``), without building it."""
    if name.startswith(("sines", "mso")):
        sines = name.startswith("sines")
        k = int(name[5:] if sines else name[3:])
        freqs = ", ".join(f"{f:g}" for f in (EVOLINO_FREQS if sines else MSO_FREQS)[:k])
        source = "Evolino's set (Schmidhuber et al. 2007)" if sines else "Koryakin et al. 2012"
        return f"{k} superimposed sines, frequencies {freqs}: {source}."
    if name == "mackey-glass":
        return (
            "Mackey-Glass τ=17, Jaeger's protocol: 3,000 training steps, NRMSE after 84 "
            "free-running steps."
        )
    if name == "lorenz":
        return "Lorenz attractor, its three variables standardised (our protocol)."
    if name == "anbncn":
        return "Next-symbol prediction on aⁿbⁿcⁿ (Gers & Schmidhuber 2001)."
    raise ValueError(f"unknown time-series task {name!r}; known: {', '.join(TASKS)}")


# ---------------------------------------------------------------------------------- aⁿbⁿcⁿ


class AnBnCn:
    """Next-symbol prediction on aⁿbⁿcⁿ (Gers & Schmidhuber 2001; Schmidhuber et al. 2007).

    A string S aⁿ bⁿ cⁿ is presented one symbol per step (one-hot over S, a, b, c); after each
    symbol the model outputs four values, one per possible next symbol (a, b, c, T = end), and
    must be above 0.5 exactly for the legal ones: {a, b} while reading a's, then everything is
    determined by n. A string is accepted when every step is right. The recurrent state is reset
    at the start of each string.

    Example:
        >>> task = AnBnCn()
        >>> inputs, targets = task.string(2)
        >>> inputs.shape, targets.shape
        ((7, 4), (7, 4))
    """

    name = "anbncn"
    train_ns = tuple(range(1, 11))
    """Training strings: n = 1 … 10."""

    @staticmethod
    def string(n: int) -> tuple[np.ndarray, np.ndarray]:
        """One-hot inputs (3n+1, 4) and legal-next-symbol targets (3n+1, 4) for S aⁿbⁿcⁿ."""
        symbols = [0] + [1] * n + [2] * n + [3] * n
        inputs = np.eye(4)[symbols]
        targets = np.zeros((3 * n + 1, 4))
        targets[: n + 1, 0] = 1.0  # after S and each a: another a ...
        targets[1 : n + 1, 1] = 1.0  # ... or the first b (after at least one a)
        targets[n + 1 : 2 * n, 1] = 1.0  # b's until the n-th
        targets[2 * n, 2] = 1.0
        targets[2 * n + 1 : 3 * n, 2] = 1.0
        targets[3 * n, 3] = 1.0
        return inputs, targets

    def batch(self, ns: tuple[int, ...] | range) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Strings concatenated: inputs (T, 4), targets (T, 4), string starts (T,) bool."""
        pairs = [self.string(n) for n in ns]
        starts = np.concatenate([np.eye(1, len(i), 0, dtype=bool)[0] for i, _ in pairs])
        return (
            np.concatenate([i for i, _ in pairs]),
            np.concatenate([t for _, t in pairs]),
            starts,
        )

    @staticmethod
    def accepted(outputs: np.ndarray, targets: np.ndarray) -> bool:
        """All steps right: outputs above 0.5 exactly where the targets are 1."""
        return bool(np.all((np.asarray(outputs) > 0.5) == (np.asarray(targets) > 0.5)))

    def generalization(
        self, classify: Callable[[list[np.ndarray]], list[np.ndarray]], n_max: int = 100
    ) -> int:
        """Largest N ≤ n_max such that every string with n ≤ N is accepted (0 if n=1 fails).

        ``classify(list of input arrays (3n+1, 4)) -> list of output arrays (3n+1, 4)``, each
        string run from the initial state.
        """
        pairs = [self.string(n) for n in range(1, n_max + 1)]
        outputs = classify([i for i, _ in pairs])
        for n, ((_, target), out) in enumerate(zip(pairs, outputs, strict=True), start=1):
            if not self.accepted(out, target):
                return n - 1
        return n_max
