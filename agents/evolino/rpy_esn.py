"""Baseline from outside our code: reservoirpy's echo state network.

reservoirpy (Trouvain, Pedrelli, Dinh & Hinaut, ICANN 2020; ``pip install
'evorl-toolkit[bench]'``) is the maintained echo state network library of the field. Here its
``Reservoir`` node runs the reservoir and its ``Ridge`` node solves the readout; this module only
wires them into the benchmark's protocol (:mod:`evorl.tasks.timeseries`): teacher forcing, free
runs with the output fed back as the next input (as reservoirpy's own generation tutorial does, one
call per step), and the same validation as :class:`~evorl.agents.evolino.esn.ESN`: the readout is
fitted on the training series after the washout and before the last ``valid`` steps, free runs
of ``valid_horizon`` steps from the teacher-forced states tile those steps, and the configuration
with the lowest validation NRMSE is kept. Nothing of the test data is seen before scoring.

Configurations (:data:`PRESETS`), each as its source sets it up:

* ``"jaeger-haas"``: Jaeger & Haas, "Harnessing nonlinearity", Science 304, 2004: 1000 tanh
  units without leak, 1 % of the recurrent weights non-zero (uniform, rescaled to spectral radius
  0.8), input (in generation: output feedback) weights uniform in [-1, 1] to every unit, a bias
  from a constant input, readout on the states and the input. They regularised the readout with
  state noise during training, at a level we have not found stated; here reservoirpy's ``Ridge``
  term does that job (1e-8, or the best of ``RpyESNConfig.ridges`` by validation).
* ``"mg-tutorial"``: reservoirpy's Mackey-Glass tutorials ("Understand and optimize
  hyperparameters", "General introduction to reservoir computing"): 100 units, leak rate 0.3,
  spectral radius 1.25, input scaling 1, recurrent connectivity 0.1, input connectivity 0.2,
  ridge 1e-8, the series rescaled to [-1, 1], readout on the states.
* ``"mso-esn"`` and ``"mso-es2n"``: reservoirpy's multiple-superimposed-oscillators example
  ("Edge of Stability Echo State Network", reproducing Ceni & Gallicchio 2023): a leaky ESN of
  3000 units (leak 0.9, spectral radius 0.99, input scaling 0.05), and the ES2N reservoir of 300
  units (proximity 0.03, spectral radius 1, input scaling 0.11); both trained with Gaussian noise
  of std 1e-4 inside the activation, ridge 0, the series rescaled to [-1, 1].

reservoirpy is imported when a model is built, so the rest of the benchmark runs without it.

Example:
    >>> from evorl.tasks.timeseries import make_task
    >>> task = make_task("sines2")
    >>> esn = RpyESN(RpyESNConfig(presets=("mg-tutorial",)), task.dim)  # doctest: +SKIP
    >>> info = esn.fit(task.train, task.washout)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from evorl.tasks.timeseries import nrmse


def available() -> bool:
    """Whether reservoirpy can be imported (the ``bench`` extra is installed)."""
    return importlib.util.find_spec("reservoirpy") is not None


@dataclass(frozen=True)
class Preset:
    """One reservoirpy ESN configuration (see the module docstring for the sources)."""

    units: int
    """Reservoir size."""
    sr: float
    """Spectral radius of the recurrent weights."""
    lr: float = 1.0
    """Leak rate (1: no leak); for ``kind="es2n"`` the proximity β."""
    input_scaling: float = 1.0
    """Scale of the input weights."""
    rc_connectivity: float = 0.1
    """Fraction of non-zero recurrent weights."""
    input_connectivity: float = 0.1
    """Fraction of non-zero input weights."""
    weights: str = "reservoirpy"
    """"reservoirpy": the node's default initialisers (normal recurrent, Bernoulli ±1 input
    weights); "uniform": uniform in [-1, 1] for both (Jaeger & Haas)."""
    bias: float = 0.0
    """Bias weights uniform in [-bias, bias] (a constant input); 0: none."""
    ridge: float = 0.0
    """Ridge (Tikhonov) term of reservoirpy's ``Ridge`` readout."""
    noise: float = 0.0
    """Std of Gaussian noise added inside the activation while teacher forcing the fit."""
    rescale: bool = False
    """Map the series to [-1, 1] by its training minimum and maximum (the tutorials do)."""
    readout_input: bool = False
    """Readout also sees the input (Jaeger & Haas's input-to-output connection)."""
    kind: str = "esn"
    """"esn": reservoirpy's ``Reservoir`` node; "es2n": its ``ES2N`` node."""


PRESETS: dict[str, Preset] = {
    "jaeger-haas": Preset(
        units=1000,
        sr=0.8,
        rc_connectivity=0.01,
        input_connectivity=1.0,
        weights="uniform",
        bias=0.2,
        ridge=1e-8,
        readout_input=True,
    ),
    "mg-tutorial": Preset(
        units=100, sr=1.25, lr=0.3, input_connectivity=0.2, ridge=1e-8, rescale=True
    ),
    "mso-esn": Preset(units=3000, sr=0.99, lr=0.9, input_scaling=0.05, noise=1e-4, rescale=True),
    "mso-es2n": Preset(
        units=300, sr=1.0, lr=0.03, input_scaling=0.11, noise=1e-4, rescale=True, kind="es2n"
    ),
}
"""The configurations :class:`RpyESN` can try, by name."""


@dataclass(frozen=True)
class RpyESNConfig:
    """Settings of :class:`RpyESN`."""

    presets: tuple[str, ...] = ("jaeger-haas", "mg-tutorial")
    """Configurations tried (names in :data:`PRESETS`); the best by validation is kept."""
    valid: int = 100
    """Validation steps at the end of the training sequence (as the other methods')."""
    valid_horizon: int | None = None
    """Free-running length per validation run (None: the whole segment)."""
    ridges: tuple[float, ...] | None = None
    """Ridge terms tried with every preset, the best by validation kept (None: each preset's
    own). The reservoir runs once per preset; only the readout is solved again."""
    units: int | None = None
    """Reservoir size for every preset instead of its own (the quick smoke run)."""
    seed: int = 0
    """Seed of the random weights and of the training noise."""

    def __post_init__(self) -> None:
        unknown = [p for p in self.presets if p not in PRESETS]
        if unknown or not self.presets:
            raise ValueError(
                f"RpyESNConfig.presets: unknown {unknown or '(none given)'}; known: "
                f"{', '.join(PRESETS)}"
            )
        if self.valid < 1 or (self.valid_horizon is not None and self.valid_horizon < 1):
            raise ValueError("RpyESNConfig: valid and valid_horizon must be >= 1")
        if self.ridges is not None and (not self.ridges or min(self.ridges) < 0):
            raise ValueError(f"RpyESNConfig.ridges must be >= 0, got {self.ridges}")


def nodes_ridge(ridge: float) -> Any:
    """A fresh reservoirpy ``Ridge`` readout node."""
    from reservoirpy import nodes

    return nodes.Ridge(ridge=ridge)


class _NoisyTanh:
    """tanh(x + ε), ε ~ N(0, std²) from a seeded generator (training noise)."""

    def __init__(self, std: float, rng: np.random.Generator) -> None:
        self.std, self.rng = std, rng

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x + self.rng.normal(0.0, self.std, np.shape(x)))


class _Fitted:
    """One preset's reservoir and readout nodes, and its input scaling."""

    def __init__(self, preset: Preset, dim: int, seed: int, units: int | None) -> None:
        from reservoirpy import mat_gen, nodes

        p, self.preset = preset, preset
        n = units or p.units
        rng = np.random.default_rng(seed)
        extra: dict[str, Any] = {}
        if p.weights == "uniform":
            extra["W"] = mat_gen.uniform(
                n, n, sr=p.sr, connectivity=p.rc_connectivity, seed=rng.integers(2**31)
            )
            extra["Win"] = mat_gen.uniform(
                n, dim, input_scaling=p.input_scaling, connectivity=p.input_connectivity,
                seed=rng.integers(2**31),
            )  # fmt: skip
        if p.bias > 0:
            extra["bias"] = rng.uniform(-p.bias, p.bias, n)
        common = dict(
            units=n,
            sr=p.sr,
            input_scaling=p.input_scaling,
            rc_connectivity=p.rc_connectivity,
            input_connectivity=p.input_connectivity,
            input_dim=dim,
            seed=int(rng.integers(2**31)),
            **extra,
        )
        if p.kind == "es2n":
            self.reservoir = nodes.ES2N(proximity=p.lr, **common)
        else:
            self.reservoir = nodes.Reservoir(lr=p.lr, **common)
        self.readout: Any = None
        self.noise = _NoisyTanh(p.noise, rng) if p.noise > 0 else None
        self.shift, self.scale = np.zeros(dim), np.ones(dim)

    def to_net(self, x: np.ndarray) -> np.ndarray:
        return (x - self.shift) / self.scale

    def from_net(self, v: np.ndarray) -> np.ndarray:
        return v * self.scale + self.shift

    def features(self, states: np.ndarray, inputs: np.ndarray) -> np.ndarray:
        if self.preset.readout_input:
            return np.concatenate([states, inputs], axis=-1)
        return states

    def teacher_force(self, series: np.ndarray, noisy: bool = False) -> np.ndarray:
        """Reservoir states (T, N) from the zero state after each input of ``series`` (T, d)."""
        if self.reservoir.initialized:
            self.reservoir.reset()
        if noisy and self.noise is not None:
            self.reservoir.activation = self.noise
        try:
            return self.reservoir.run(series)
        finally:
            self.reservoir.activation = np.tanh

    def states(self, series: np.ndarray, fit_end: int) -> tuple[np.ndarray, np.ndarray]:
        """The states for the readout's fit (over ``series[:fit_end]``, with the training noise)
        and the noise-free states after every input of ``series`` (network coordinates)."""
        noisy = self.teacher_force(series[:fit_end], noisy=True)
        if self.noise is not None:
            return noisy, self.teacher_force(series)
        rest = self.reservoir.run(series[fit_end:])  # no noise: the same pass goes on
        return noisy, np.concatenate([noisy, rest])

    def fit(self, states: np.ndarray, series: np.ndarray, washout: int, ridge: float) -> None:
        """reservoirpy's Ridge readout on the features after inputs ``washout`` … ``len(states)
        - 1``, targets the values that follow them."""
        from reservoirpy import nodes

        end = len(states)
        self.readout = nodes.Ridge(ridge=ridge)
        self.readout.fit(
            self.features(states, series[:end])[washout:], series[washout + 1 : end + 1]
        )

    def free_run(self, state: np.ndarray, last: np.ndarray, steps: int, clip: float) -> np.ndarray:
        """``steps`` outputs (network coordinates), each fed back: from reservoir state
        ``state`` after input ``last`` (the first output predicts the value after ``last``)."""
        self.reservoir.state = {"out": np.array(state, dtype=np.float64)}
        u, out = np.asarray(last, np.float64), np.empty((steps, len(last)))
        for k in range(steps):
            y = np.clip(self.readout(self.features(self.reservoir.state["out"], u)), -clip, clip)
            out[k] = y
            if k + 1 < steps:
                self.reservoir(y)
                u = y
        return out


class RpyESN:
    """reservoirpy's ESN with the ``fit / forecast / one_step`` interface of the benchmark.

    Args:
        config: Settings.
        dim: Series dimension.
    """

    def __init__(self, config: RpyESNConfig, dim: int) -> None:
        if not available():
            raise ModuleNotFoundError(
                "the rpy-esn baseline needs reservoirpy: pip install 'evorl-toolkit[bench]'"
            )
        self.config, self.dim = config, dim
        self.model: _Fitted | None = None
        self.clip = 1e3

    def fit(
        self, train: np.ndarray, washout: int, callback: Callable[[int, float], None] | None = None
    ) -> dict[str, Any]:
        """Fit every preset's readout (with every ridge term of ``ridges``); keep the one with
        the lowest validation NRMSE."""
        c = self.config
        train = np.asarray(train, dtype=np.float64)
        length, horizon = len(train), c.valid_horizon or c.valid
        fit_end = length - 1 - c.valid
        starts = list(range(fit_end, length - horizon, horizon))
        if fit_end <= washout or not starts:
            raise ValueError(
                f"series of {length} steps too short for washout {washout}, valid {c.valid}"
            )
        scores: dict[str, float] = {}
        best: tuple[float, str, float, _Fitted, Any] | None = None
        for i, name in enumerate(c.presets):
            preset = PRESETS[name]
            model = _Fitted(preset, self.dim, c.seed * 1000 + i, c.units)
            if preset.rescale:
                low, high = train.min(axis=0), train.max(axis=0)
                model.shift, model.scale = (high + low) / 2, (high - low) / 2 + 1e-12
            x = model.to_net(train)
            clip = 2.0 * float(np.abs(x).max()) + 1e-9
            fit_states, states = model.states(x, fit_end)
            for ridge in c.ridges or (preset.ridge,):
                with warnings.catch_warnings():  # scipy warns of ill-conditioned solves
                    warnings.simplefilter("ignore")
                    model.fit(fit_states, x, washout, ridge)
                preds = [model.free_run(states[s], x[s], horizon, clip) for s in starts]
                truth = [x[s + 1 : s + 1 + horizon] for s in starts]
                score = nrmse(
                    model.from_net(np.stack(preds)), model.from_net(np.stack(truth)), train.var(0)
                )
                scores[f"{name} ridge {ridge:g}"] = score
                if best is None or score < best[0]:
                    best = (score, name, ridge, model, model.readout)
                    self.clip = clip
        assert best is not None
        score, name, ridge, self.model, self.model.readout = best
        if callback is not None:
            callback(1, -float(np.log(score + 1e-12)))
        return {"valid_nrmse": score, "preset": name, "ridge": ridge, "valid_by_preset": scores}

    def fit_strings(
        self, inputs: list[np.ndarray], targets: list[np.ndarray], accepted: Callable
    ) -> dict[str, Any]:
        """Classification of whole strings, each run from the zero state (aⁿbⁿcⁿ): readouts on
        every training string's steps for every preset (and ridge term); kept: the most strings
        with ``accepted(outputs, targets)``, ties broken by the lower mean squared error."""
        c = self.config
        best: tuple[tuple[int, float], str, float, _Fitted, Any] | None = None
        for i, name in enumerate(c.presets):
            model = _Fitted(PRESETS[name], self.dim, c.seed * 1000 + i, c.units)
            feats = [model.features(model.teacher_force(x, noisy=True), x) for x in inputs]
            for ridge in c.ridges or (model.preset.ridge,):
                model.readout = nodes_ridge(ridge)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model.readout.fit(feats, targets)
                pairs = list(zip([model.readout.run(f) for f in feats], targets, strict=True))
                right = sum(accepted(o, t) for o, t in pairs)
                mse = float(np.mean(np.concatenate([(o - t) ** 2 for o, t in pairs])))
                key = (right, -mse)
                if best is None or key > best[0]:
                    best = (key, name, ridge, model, model.readout)
        assert best is not None
        (right, neg_mse), name, ridge, self.model, self.model.readout = best
        return {"accepted": right, "mse": -neg_mse, "preset": name, "ridge": ridge}

    def classify(self, strings: list[np.ndarray]) -> list[np.ndarray]:
        """Outputs for each input string, each run from the zero state."""
        m = self._require_fit()
        return [m.readout.run(m.features(m.teacher_force(x), x)) for x in strings]

    def _require_fit(self) -> _Fitted:
        if self.model is None:
            raise RuntimeError("RpyESN: call fit() first")
        return self.model

    def forecast(self, context: np.ndarray, steps: int) -> np.ndarray:
        """Teacher-force each context (K, W, d) from the zero state, then run free ``steps``:
        (K, steps, d)."""
        m = self._require_fit()
        out = []
        for ctx in np.asarray(context, dtype=np.float64):
            x = m.to_net(ctx)
            state = m.teacher_force(x)[-1]
            out.append(m.from_net(m.free_run(state, x[-1], steps, self.clip)))
        return np.stack(out)

    def one_step(self, series: np.ndarray, washout: int) -> np.ndarray:
        """Teacher-forced one-step predictions of ``series[washout + 1:]`` (T, d)."""
        m = self._require_fit()
        x = m.to_net(np.asarray(series, dtype=np.float64))[:-1]
        feats = m.features(m.teacher_force(x), x)[washout:]
        return m.from_net(m.readout.run(feats))
