"""RNNLIB's optimisers (``optimiser steepest|rprop``) and early stopping (``maxTestsNoBest``).

**Steepest descent with momentum** (RNNLIB's default; ``learnRate`` 1e-4, ``momentum`` 0.9, per
the manual's parameter table and SteepestDescent.hpp)::

    delta_i <- momentum * delta_i - learnRate * dE/dw_i
    w_i     <- w_i + delta_i

``torch.optim.SGD(lr, momentum)`` keeps v <- momentum * v + g and steps w <- w - lr * v; with
delta = -lr * v the two are the same sequence of weights whenever the learning rate stays fixed
(as in RNNLIB), so :func:`make_optimiser` returns torch's (checked against the RNNLIB rule in
the tests). They would differ only if the rate changed during a run.

**RPROP** (Riedmiller & Braun 1993) as RNNLIB implements it (Rprop.hpp): no backtracking (Igel
& Hüsken's iRprop- family), initial step 0.01, eta- 0.5, eta+ 1.2, steps bounded to
[1e-9, 0.2]. Per weight, with g the gradient and g' the one remembered::

    g * g' > 0:  w -= sign(g) * step;  step = min(step * eta+, 0.2);  g' = g
    g * g' < 0:  step = max(step * eta-, 1e-9);  g' = 0            (no move this time)
    otherwise :  w -= sign(g) * step;  g' = g

``torch.optim.Rprop`` is iRprop- too, but on agreement it moves by the *grown* step, RNNLIB by
the step before growing (one update behind), and its default bounds are (1e-6, 50); hence
:class:`RnnlibRprop`. RNNLIB's RPROP is a full-batch method: with ``optimiser rprop`` it sets
``batchLearn`` true (one update per epoch over the summed gradient) unless told otherwise.
RNNLIB's "online" eta+ adaptation is never switched on by its trainer and is left out.

**Early stopping**: after each epoch RNNLIB tests the validation set (the training set when
there is none); a test that improves any of the task's error criteria (for transcription
``ctcError``, ``labelError``, ``sequenceError``) is a new best and resets the count, and
training ends once more than ``maxTestsNoBest`` (default 20) tests in a row brought none;
0 never stops (Trainer.hpp). :class:`EarlyStopping` keeps that count.

Example:
    >>> stop = EarlyStopping(max_tests_no_best=1)
    >>> [stop.update({"labelError": e}) for e in (0.5, 0.4, 0.45, 0.41)], stop.should_stop
    ([True, True, False, False], True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import torch

OPTIMISERS = ("steepest", "rprop")


class RnnlibRprop(torch.optim.Optimizer):
    """RPROP exactly as RNNLIB's Rprop.hpp (see the module docstring for the rule)."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter],
        init_step: float = 0.01,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-9, 0.2),
    ) -> None:
        if not 0 < etas[0] < 1 < etas[1]:
            raise ValueError(f"etas must satisfy 0 < eta- < 1 < eta+, got {etas}")
        defaults = {"init_step": init_step, "etas": etas, "step_sizes": step_sizes}
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group in self.param_groups:
            eta_minus, eta_plus = group["etas"]
            low, high = group["step_sizes"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = torch.full_like(p, group["init_step"])
                    state["prev"] = torch.zeros_like(p)
                g, step, prev = p.grad, state["step"], state["prev"]
                agree = g * prev
                move = torch.where(agree < 0, torch.zeros_like(g), g.sign() * step)
                p.sub_(move)
                grow, shrink, keep = (step.new_tensor(v) for v in (eta_plus, eta_minus, 1.0))
                factor = torch.where(agree > 0, grow, torch.where(agree < 0, shrink, keep))
                step.mul_(factor).clamp_(low, high)
                prev.copy_(torch.where(agree < 0, torch.zeros_like(g), g))
        return loss


def make_optimiser(
    name: str,
    params: Iterable[torch.nn.Parameter],
    learn_rate: float = 1e-4,
    momentum: float = 0.9,
) -> torch.optim.Optimizer:
    """RNNLIB's ``optimiser``: ``steepest`` (``learnRate``, ``momentum``) or ``rprop``."""
    if name == "steepest":
        return torch.optim.SGD(params, lr=learn_rate, momentum=momentum)
    if name == "rprop":
        return RnnlibRprop(params)
    raise ValueError(f"optimiser must be one of {', '.join(OPTIMISERS)}, got {name!r}")


@dataclass
class EarlyStopping:
    """RNNLIB's ``maxTestsNoBest`` rule over the error criteria of each test (lower is better).

    Attributes:
        max_tests_no_best: Tests in a row without a new best that are tolerated; 0 never stops.
        best: The lowest value seen of each criterion.
        best_test: For each criterion, the test number (from 1) that set its best.
        tests_since_best: Tests since the last new best.
    """

    max_tests_no_best: int = 20
    best: dict[str, float] = field(default_factory=dict)
    best_test: dict[str, int] = field(default_factory=dict)
    tests_since_best: int = 0
    tests: int = 0

    def __post_init__(self) -> None:
        if self.max_tests_no_best < 0:
            raise ValueError("max_tests_no_best (maxTestsNoBest) must be >= 0")

    def update(self, errors: Mapping[str, float]) -> bool:
        """Record one test's errors; True if any criterion reached a new best (save the net)."""
        self.tests += 1
        improved = False
        for name, value in errors.items():
            if name not in self.best or value < self.best[name]:
                self.best[name], self.best_test[name] = float(value), self.tests
                improved = True
        self.tests_since_best = 0 if improved else self.tests_since_best + 1
        return improved

    @property
    def should_stop(self) -> bool:
        return 0 < self.max_tests_no_best < self.tests_since_best
