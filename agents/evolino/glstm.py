"""Baseline: the same LSTM trained by gradient descent (BPTT + Adam), teacher-forced.

The "G-LSTM" of Schmidhuber et al. (2007): all weights, readout included, trained by
backpropagation through time (Rumelhart, Hinton & Williams 1986; Werbos 1990) through
:meth:`evorl.controllers.Controller.unroll`, with Adam (Kingma & Ba 2015). Training is
teacher-forced (the input at t is the true x(t), the target x(t+1)) on random windows of the
training sequence; the free-running quality is checked on the held-out end of the sequence every
few updates and the best parameters so far are kept (the same validation split Evolino uses).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from evorl.controllers import ControllerConfig, build_controller


@dataclass(frozen=True)
class GradientLSTMConfig:
    """Settings of :class:`GradientLSTM`."""

    hidden: int = 10
    """Memory cells (same as Evolino's)."""
    peepholes: bool = True
    """Peephole connections."""
    lr: float = 1e-2
    """Adam's initial learning rate (cosine-decayed to 1 % over the budget)."""
    window: int = 400
    """BPTT window length (steps)."""
    batch: int = 8
    """Windows per update."""
    burn_in: int = 50
    """Leading steps of each window excluded from the loss (state warm-up)."""
    clip_norm: float = 1.0
    """Gradient-norm clipping (Pascanu et al. 2013)."""
    updates: int = 3000
    """Update budget."""
    time_limit: float | None = None
    """Wall-clock budget in seconds."""
    valid: int = 100
    """Held-out free-running validation steps at the end of the training sequence."""
    check_every: int = 25
    """Updates between validation checks."""
    dtype: str = "float32"
    """Arithmetic of training and prediction ("float64" is about half as fast)."""
    seed: int = 0
    """Seed of initialisation and window sampling."""


class GradientLSTM:
    """A gradient-trained LSTM forecaster with the ``fit / forecast / one_step`` interface.

    Example:
        >>> from evorl.tasks.timeseries import make_task
        >>> task = make_task("sines2")
        >>> model = GradientLSTM(GradientLSTMConfig(hidden=10, updates=20), task.dim)
        >>> info = model.fit(task.train, task.washout)
        >>> nrmse, predictions = task.score(model.forecast)
    """

    def __init__(self, config: GradientLSTMConfig, dim: int) -> None:
        self.config = config
        ctrl_cfg = ControllerConfig(
            kind="lstm",
            hidden=(config.hidden,),
            peepholes=config.peepholes,
            continuous_action="clip",
        )
        space = gym.spaces.Box(-np.inf, np.inf, (dim,), dtype=np.float64)
        self.dtype = getattr(torch, config.dtype)
        self.net = build_controller(ctrl_cfg, dim, space, seed=config.seed).to(self.dtype)
        self.clip = 1e3

    def _loss(self, data: torch.Tensor, starts: np.ndarray, length: int) -> torch.Tensor:
        windows = torch.stack([data[s : s + length + 1] for s in starts], dim=1)  # (L+1, B, d)
        state = self.net.initial_state(len(starts), dtype=self.dtype)
        out, _ = self.net.unroll(windows[:-1], state)
        burn = min(self.config.burn_in, length // 4)
        return torch.mean((out[burn:] - windows[1 + burn :]) ** 2)

    def fit(
        self, train: np.ndarray, washout: int, callback: Callable[[int, float], None] | None = None
    ) -> dict[str, float]:
        """Train on the series (T, d); returns the best validation NRMSE and the budget used."""
        c = self.config
        data = torch.as_tensor(np.asarray(train), dtype=self.dtype)
        self.clip = 2.0 * float(data.abs().max()) + 1e-9
        fit_end = data.shape[0] - 1 - c.valid
        length = min(c.window, fit_end)
        rng = np.random.default_rng(c.seed)
        opt = torch.optim.Adam(self.net.parameters(), lr=c.lr)
        best, best_state, start, step = math.inf, None, time.perf_counter(), 0
        for step in range(1, c.updates + 1):
            frac = step / c.updates
            for group in opt.param_groups:
                group["lr"] = c.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * frac)))
            starts = rng.integers(0, fit_end - length + 1, c.batch)
            loss = self._loss(data, starts, length)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.net.parameters(), c.clip_norm)
            opt.step()
            over = c.time_limit is not None and time.perf_counter() - start > c.time_limit
            if step % c.check_every == 0 or step == c.updates or over:
                score = self._validate(data, fit_end)
                if score < best:
                    best = score
                    best_state = {k: v.clone() for k, v in self.net.state_dict().items()}
                if callback is not None:
                    callback(step, -math.log(best + 1e-12))
            if over:
                break
        if best_state is not None:
            self.net.load_state_dict(best_state)
        return {"valid_nrmse": best, "updates": step, "seconds": time.perf_counter() - start}

    def _validate(self, data: torch.Tensor, fit_end: int) -> float:
        pred = self.forecast(data[None, : fit_end + 1].numpy(), data.shape[0] - 1 - fit_end)
        err = np.mean((pred[0] - data[fit_end + 1 :].numpy()) ** 2) / data.var(0).mean().item()
        return float(np.sqrt(err)) if np.isfinite(err) else math.inf

    @torch.no_grad()
    def forecast(self, context: np.ndarray, steps: int) -> np.ndarray:
        """Teacher-force each context (K, W, d), then run free ``steps``: (K, steps, d)."""
        ctx = torch.as_tensor(context, dtype=self.dtype).transpose(0, 1)
        out, state = self.net.unroll(ctx, self.net.initial_state(ctx.shape[1], dtype=self.dtype))
        y, outputs = out[-1].clamp(-self.clip, self.clip), []
        for k in range(steps):
            outputs.append(y)
            if k + 1 < steps:
                y, state = self.net(y, state)
                y = y.clamp(-self.clip, self.clip)
        return torch.stack(outputs, dim=1).double().numpy()

    @torch.no_grad()
    def one_step(self, series: np.ndarray, washout: int) -> np.ndarray:
        """Teacher-forced one-step predictions of ``series[washout + 1:]``."""
        data = torch.as_tensor(np.asarray(series), dtype=self.dtype)[:-1, None]
        out, _ = self.net.unroll(data, self.net.initial_state(1, dtype=self.dtype))
        return out[washout:, 0].double().numpy()
