"""Baseline: echo state network, i.e. Evolino without evolution.

Jaeger, "The echo state approach to analysing and training recurrent neural networks", GMD
Report 148, 2001; Jaeger & Haas, "Harnessing nonlinearity", Science 304, 2004. A large random
recurrent network of leaky-integrator tanh units, never trained, driven by the fed-back output;
only the linear readout is computed, by the same least-squares solve (and the same validation)
as Evolino's. Update (GMD 148 eq. 21, step δ = 1)::

    x(n+1) = (1 - C a) x(n) + C tanh(W x(n) + W_back y(n) + W_in u)

with y(n) the (teacher-forced) series value, u = 0.2 a constant bias input, W sparse random
rescaled to ``spectral_radius``. The defaults are Jaeger's Mackey-Glass network (400 units,
|λmax| = 0.79, C = 0.44, a = 0.9, input weights 0/±0.14, feedback weights U[-0.56, 0.56]).
Several spectral radii can be tried at once (one network each, batched); the one with the best
validation error is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from evorl.agents.evolino.network import (
    DTYPE,
    Params,
    Runner,
    fit_and_validate,
    forecast,
    one_step,
)
from evorl.controllers import State


@dataclass(frozen=True)
class ESNConfig:
    """Settings of :class:`ESN`."""

    units: int = 400
    """Reservoir size N."""
    spectral_radii: tuple[float, ...] = (0.79,)
    """Spectral radius |λmax| of W; several: one reservoir each, best by validation."""
    density: float = 0.0125
    """Fraction of non-zero recurrent weights."""
    leak: float = 0.44
    """Time constant C (1 = no leak with decay 1)."""
    decay: float = 0.9
    """Leaking decay rate a."""
    feedback_scale: float = 0.56
    """Output-feedback weights ~ U[-s, s]."""
    bias_scale: float = 0.14
    """Bias-input weights in {0, ±s} with probabilities 1/2, 1/4, 1/4."""
    ridge: float = 0.0
    """Readout regularisation (0: pseudo-inverse)."""
    readout_input: bool = True
    """Readout also sees y(n)."""
    valid: int = 100
    """Validation steps at the end of the training sequence (as Evolino's)."""
    valid_horizon: int | None = None
    """Free-running length per validation run (None: whole segment)."""
    seed: int = 0
    """Seed of the random weights."""


class ESNPopulation(Runner):
    """B reservoirs (one per spectral radius), stepped together."""

    def __init__(self, config: ESNConfig, dim: int) -> None:
        c = config
        gen = torch.Generator().manual_seed(c.seed)
        n, b = c.units, len(c.spectral_radii)
        w = torch.rand(n, n, generator=gen, dtype=DTYPE) * 2 - 1
        w = w * (torch.rand(n, n, generator=gen, dtype=DTYPE) < c.density)
        radius = torch.linalg.eigvals(w).abs().max().item()
        scales = torch.tensor(c.spectral_radii, dtype=DTYPE) / max(radius, 1e-12)
        self.w = (w.T.expand(b, n, n) * scales[:, None, None]).contiguous()  # x @ w = (W x)ᵀ
        self.w_back = (torch.rand(dim, n, generator=gen, dtype=DTYPE) * 2 - 1) * c.feedback_scale
        pick = torch.rand(n, generator=gen, dtype=DTYPE)
        sign = torch.where(pick < 0.5, 0.0, torch.where(pick < 0.75, 1.0, -1.0))
        self.bias = 0.2 * c.bias_scale * sign
        self.config, self.batch = c, b
        self.features = n + (dim if c.readout_input else 0)

    def initial_state(self, batch: int) -> State:
        return (torch.zeros(batch, self.config.units, dtype=DTYPE),)

    def step(self, u: torch.Tensor, state: State, params: Params) -> State:
        c, x = self.config, state[0]
        pre = torch.bmm(x.unsqueeze(1), params["w"]).squeeze(1) + u @ self.w_back + self.bias
        return ((1 - c.leak * c.decay) * x + c.leak * torch.tanh(pre),)

    def phi(self, state: State, u: torch.Tensor) -> torch.Tensor:
        return torch.cat([state[0], u], dim=1) if self.config.readout_input else state[0]


class ESN:
    """Echo state network forecaster with the ``fit / forecast / one_step`` interface.

    Example:
        >>> from evorl.tasks.timeseries import make_task
        >>> task = make_task("mackey-glass")
        >>> esn = ESN(ESNConfig(), task.dim)
        >>> info = esn.fit(task.train, washout=1000)  # Jaeger discards 1000 steps
        >>> nrmse84, predictions = task.score(esn.forecast)
    """

    def __init__(self, config: ESNConfig, dim: int) -> None:
        self.config = config
        self.net = ESNPopulation(config, dim)
        self.w: torch.Tensor | None = None  # chosen reservoir (N, N)
        self.readout: torch.Tensor | None = None
        self.clip = 1e3
        self.spectral_radius: float | None = None

    def fit(
        self, train: np.ndarray, washout: int, callback: Callable[[int, float], None] | None = None
    ) -> dict[str, float]:
        """Readouts for every candidate reservoir; keeps the best on validation."""
        c = self.config
        data = torch.as_tensor(np.asarray(train), dtype=DTYPE)
        self.clip = 2.0 * float(data.abs().max()) + 1e-9
        nrmse, readouts = fit_and_validate(
            self.net,
            {"w": self.net.w},
            self.net.batch,
            data,
            washout,
            c.valid,
            c.valid_horizon,
            c.ridge,
            self.clip,
        )
        best = int(np.argmin(nrmse))
        self.w, self.readout = self.net.w[best], readouts[best]
        self.spectral_radius = c.spectral_radii[best]
        if callback is not None:
            callback(1, -float(np.log(nrmse[best] + 1e-12)))
        return {"valid_nrmse": float(nrmse[best]), "spectral_radius": self.spectral_radius}

    def _params(self, k: int) -> Params:
        if self.w is None:
            raise RuntimeError("ESN: call fit() first")
        return {"w": self.w.expand(k, -1, -1)}

    @torch.no_grad()
    def forecast(self, context: np.ndarray, steps: int) -> np.ndarray:
        """Teacher-force each context (K, W, d), then run free ``steps``: (K, steps, d)."""
        return forecast(
            self.net, self._params(len(context)), self.readout, context, steps, self.clip
        )

    @torch.no_grad()
    def one_step(self, series: np.ndarray, washout: int) -> np.ndarray:
        """Teacher-forced one-step predictions of ``series[washout + 1:]``."""
        return one_step(self.net, self._params(1), self.readout, series, washout)
