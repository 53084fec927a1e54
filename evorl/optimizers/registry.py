"""The optimizer registry: names a config can use, and the factory that validates settings."""

from __future__ import annotations

from typing import Any

import numpy as np

from evorl.optimizers.base import Optimizer, SeedLike
from evorl.optimizers.settings import SettingInfo, build_settings, settings_info
from evorl.registry import Registry

OPTIMIZERS = Registry(
    {
        "cmaes": (
            "evorl.optimizers.cmaes:CMAES",
            "CMA-ES (Hansen & Ostermeier 2001) via pycma, with optional IPOP/BIPOP restarts.",
        ),
        "sep-cmaes": (
            "evorl.optimizers.cmaes:SepCMAES",
            "Separable (diagonal) CMA-ES (Ros & Hansen 2008) via pycma; O(d) memory and time "
            "per sample.",
        ),
        "pgpe": (
            "evorl.optimizers.pgpe:PGPE",
            "PGPE (Sehnke et al. 2010) with symmetric sampling and a ClipUp centre; separable, "
            "O(d).",
        ),
        "snes": (
            "evorl.optimizers.snes:SNES",
            "Separable NES (Schaul et al. 2011): per-parameter step sizes, O(d) time and memory.",
        ),
        "xnes": (
            "evorl.optimizers.xnes:XNES",
            "Exponential NES (Glasmachers et al. 2010): full covariance, O(d^2) memory.",
        ),
        "openai-es": (
            "evorl.optimizers.openai_es:OpenAIES",
            "OpenAI-ES (Salimans et al. 2017): antithetic sampling, centered ranks, Adam, "
            "weight decay.",
        ),
        "cosyne": (
            "evorl.optimizers.cosyne:CoSyNE",
            "CoSyNE (Gomez et al. 2008): per-weight subpopulations, crossover, mutation, "
            "permutation.",
        ),
        "esp": (
            "evorl.optimizers.esp:ESP",
            "Enforced SubPopulations (Gomez & Miikkulainen 1997/1999), ask/tell on flat vectors.",
        ),
    }
)
"""Optimizer classes by registered name (adding an optimizer: its file and one entry here).
Each is called as ``cls(x0, sigma=..., popsize=..., seed=..., settings=cls.Settings(...))``."""


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
