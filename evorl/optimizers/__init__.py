"""Black-box optimizers with an ask/tell interface on flat float64 vectors; higher is better.

=============  ===========================================================  ==============
name           method                                                       memory
=============  ===========================================================  ==============
``cmaes``      CMA-ES via pycma (Hansen & Ostermeier 2001), IPOP/BIPOP      O(d^2)
``sep-cmaes``  diagonal CMA-ES via pycma (Ros & Hansen 2008)                O(d)
``pgpe``       PGPE (Sehnke et al. 2010) with ClipUp (Toklu et al. 2020)    O(popsize d)
``snes``       separable NES (Schaul et al. 2011)                           O(popsize d)
``xnes``       exponential NES (Glasmachers et al. 2010)                    O(d^2)
``openai-es``  OpenAI-ES (Salimans et al. 2017) with Adam                   O(popsize d)
``cosyne``     CoSyNE (Gomez, Schmidhuber & Miikkulainen 2008)              O(popsize d)
``esp``        ESP, one subpopulation per hidden unit (Gomez 1997, 2003)    O(popsize d)
=============  ===========================================================  ==============

Example:
    >>> import numpy as np
    >>> from evorl.optimizers import make_optimizer
    >>> opt = make_optimizer("cmaes", np.zeros(4), sigma=0.5, popsize=None, seed=7, restarts="ipop")
    >>> for _ in range(50):
    ...     x = opt.ask()
    ...     metrics = opt.tell(x, -np.sum((x - 1.0) ** 2, axis=1))
    >>> bool(np.allclose(opt.center, 1.0, atol=1e-2))
    True
"""

from evorl.optimizers.base import Optimizer, SeedLike
from evorl.optimizers.cmaes import CMAES, CMAESSettings, SepCMAES
from evorl.optimizers.cosyne import CoSyNE, CoSyNESettings
from evorl.optimizers.esp import ESP, ESPSettings
from evorl.optimizers.openai_es import OpenAIES, OpenAIESSettings
from evorl.optimizers.pgpe import PGPE, PGPESettings
from evorl.optimizers.registry import OPTIMIZERS, make_optimizer, optimizer_settings
from evorl.optimizers.settings import SettingInfo
from evorl.optimizers.shaping import (
    SHAPINGS,
    centered_ranks,
    nes_utilities,
    nes_utility_shaping,
    normalize,
    rank_weights,
)
from evorl.optimizers.snes import SNES, SNESSettings
from evorl.optimizers.steppers import Adam, ClipUp
from evorl.optimizers.xnes import XNES, XNESSettings

__all__ = [
    "CMAES",
    "ESP",
    "OPTIMIZERS",
    "PGPE",
    "SHAPINGS",
    "SNES",
    "XNES",
    "Adam",
    "CMAESSettings",
    "ClipUp",
    "CoSyNE",
    "CoSyNESettings",
    "ESPSettings",
    "OpenAIES",
    "OpenAIESSettings",
    "Optimizer",
    "PGPESettings",
    "SNESSettings",
    "SeedLike",
    "SepCMAES",
    "SettingInfo",
    "XNESSettings",
    "centered_ranks",
    "make_optimizer",
    "nes_utilities",
    "nes_utility_shaping",
    "normalize",
    "optimizer_settings",
    "rank_weights",
]
