"""The optimizer registry: names a config can use, and the factory that validates settings."""

from __future__ import annotations

from typing import Any

import numpy as np

from evorl.optimizers.base import Optimizer, SeedLike
from evorl.optimizers.cmaes import CMAES, SepCMAES
from evorl.optimizers.cosyne import CoSyNE
from evorl.optimizers.esp import ESP
from evorl.optimizers.openai_es import OpenAIES
from evorl.optimizers.pgpe import PGPE
from evorl.optimizers.settings import SettingInfo, build_settings, settings_info
from evorl.optimizers.snes import SNES
from evorl.optimizers.xnes import XNES

OPTIMIZERS: dict[str, type] = {
    cls.name: cls for cls in (CMAES, SepCMAES, PGPE, SNES, XNES, OpenAIES, CoSyNE, ESP)
}
"""Optimizer classes by registered name. Each is called as
``cls(x0, sigma=..., popsize=..., seed=..., settings=cls.Settings(...))``."""


def _lookup(name: str) -> type:
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}") from None


def optimizer_settings(name: str) -> dict[str, SettingInfo]:
    """The settings optimizer ``name`` accepts: ``{key: SettingInfo(type, default, doc)}``.

    Example:
        >>> optimizer_settings("pgpe")["stdev_learning_rate"].default
        0.1
    """
    return settings_info(_lookup(name).Settings)


def make_optimizer(
    name: str,
    x0: np.ndarray,
    *,
    sigma: float,
    popsize: int | None = None,
    seed: SeedLike,
    **settings: Any,
) -> Optimizer:
    """Build the optimizer registered as ``name``, started at ``x0``.

    Args:
        name: A key of :data:`OPTIMIZERS`.
        x0: Start point (the controller's initial flat parameters).
        sigma: Initial step size / noise standard deviation.
        popsize: Population size; ``None`` takes the optimizer's default for ``len(x0)``.
        seed: Non-negative int or ``SeedSequence``; the optimizer's only source of randomness.
        **settings: Optimizer-specific settings (see :func:`optimizer_settings`).

    Raises:
        ValueError: Unknown name or setting, or an invalid value.

    Example:
        >>> opt = make_optimizer("pgpe", np.zeros(8), sigma=0.1, popsize=16, seed=3, momentum=0.8)
        >>> opt.ask().shape
        (16, 8)
    """
    cls = _lookup(name)
    return cls(
        x0,
        sigma=sigma,
        popsize=popsize,
        seed=seed,
        settings=build_settings(cls.Settings, name, settings),
    )
