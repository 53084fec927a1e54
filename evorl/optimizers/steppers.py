"""Gradient-ascent steppers for the centre of a search distribution (PGPE, OpenAI-ES).

A stepper turns an estimated fitness gradient into the update to *add* to the centre; it keeps
its own state (moments, velocity), which goes into the owner's ``state_dict``.

- :class:`ClipUp` — Toklu, Liskowski & Srivastava, "ClipUp: A Simple and Powerful Optimizer for
  Distribution-based Policy Evolution", PPSN 2020: normalised gradient, heavy-ball momentum, and
  the velocity norm clipped to ``max_speed``. Being scale-free in the fitness, it is easy to tune.
- :class:`Adam` — Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, in the
  form used by OpenAI's evolution-strategies-starter (bias correction folded into the step size).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


class ClipUp:
    """ClipUp: ``v <- m v + a g/|g|``, then ``v`` clipped to norm ``max_speed``; returns ``v``.

    Args:
        dim: Number of parameters.
        step_size: ``a``; Toklu et al. recommend ``max_speed / 2``.
        max_speed: Upper bound on the norm of every update.
        momentum: ``m``, 0.9 in the paper.

    Example:
        >>> stepper = ClipUp(2, step_size=0.05, max_speed=0.1)
        >>> stepper.step(np.array([3.0, 4.0]))
        array([0.03, 0.04])
    """

    def __init__(self, dim: int, *, step_size: float, max_speed: float, momentum: float = 0.9):
        if not (step_size > 0 and max_speed > 0 and 0 <= momentum < 1):
            raise ValueError(
                "ClipUp needs step_size > 0, max_speed > 0 and 0 <= momentum < 1, got "
                f"{step_size}, {max_speed}, {momentum}"
            )
        self.step_size, self.max_speed, self.momentum = step_size, max_speed, momentum
        self.velocity = np.zeros(dim)

    def step(self, grad: np.ndarray) -> np.ndarray:
        """The update for an ascent direction ``grad``; a zero gradient only decays the velocity."""
        norm = float(np.linalg.norm(grad))
        direction = grad / norm if norm > 0 else np.zeros_like(self.velocity)
        velocity = self.momentum * self.velocity + self.step_size * direction
        speed = float(np.linalg.norm(velocity))
        if speed > self.max_speed:
            velocity *= self.max_speed / speed
        self.velocity = velocity
        return velocity.copy()

    def state_dict(self) -> dict[str, Any]:
        return {"velocity": self.velocity.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.velocity = np.array(state["velocity"], dtype=np.float64, copy=True)


class Adam:
    """Adam for ascent: step ``lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``.

    Args:
        dim: Number of parameters.
        learning_rate: Step size (0.01 in Salimans et al. 2017).
        beta1: First-moment decay.
        beta2: Second-moment decay.
        epsilon: Denominator guard.

    Example:
        >>> stepper = Adam(2, learning_rate=0.1)
        >>> stepper.step(np.array([1.0, -2.0])).round(6)  # the first step is ~learning_rate * sign
        array([ 0.1, -0.1])
    """

    def __init__(
        self,
        dim: int,
        *,
        learning_rate: float = 0.01,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
    ):
        if not (learning_rate > 0 and 0 <= beta1 < 1 and 0 <= beta2 < 1 and epsilon > 0):
            raise ValueError(
                "Adam needs learning_rate > 0, 0 <= beta1, beta2 < 1 and epsilon > 0, got "
                f"{learning_rate}, {beta1}, {beta2}, {epsilon}"
            )
        self.learning_rate, self.beta1, self.beta2, self.epsilon = (
            learning_rate,
            beta1,
            beta2,
            epsilon,
        )
        self.m = np.zeros(dim)
        self.v = np.zeros(dim)
        self.t = 0

    def step(self, grad: np.ndarray) -> np.ndarray:
        """The update for an ascent direction ``grad``."""
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad * grad
        a = self.learning_rate * math.sqrt(1 - self.beta2**self.t) / (1 - self.beta1**self.t)
        return a * self.m / (np.sqrt(self.v) + self.epsilon)

    def state_dict(self) -> dict[str, Any]:
        return {"m": self.m.copy(), "v": self.v.copy(), "t": self.t}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.m = np.array(state["m"], dtype=np.float64, copy=True)
        self.v = np.array(state["v"], dtype=np.float64, copy=True)
        self.t = int(state["t"])
