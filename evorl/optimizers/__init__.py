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

from evorl.optimizers.registry import OPTIMIZERS, make_optimizer, optimizer_settings
from evorl.registry import lazy_attributes

_LAZY = {
    "Optimizer": "base",
    "SeedLike": "base",
    "CMAES": "cmaes",
    "CMAESSettings": "cmaes",
    "SepCMAES": "cmaes",
    "CoSyNE": "cosyne",
    "CoSyNESettings": "cosyne",
    "ESP": "esp",
    "ESPSettings": "esp",
    "OpenAIES": "openai_es",
    "OpenAIESSettings": "openai_es",
    "PGPE": "pgpe",
    "PGPESettings": "pgpe",
    "SNES": "snes",
    "SNESSettings": "snes",
    "XNES": "xnes",
    "XNESSettings": "xnes",
    "SeededPopulation": "seeded",
    "SettingInfo": "settings",
    "SHAPINGS": "shaping",
    "centered_ranks": "shaping",
    "nes_utilities": "shaping",
    "nes_utility_shaping": "shaping",
    "normalize": "shaping",
    "rank_weights": "shaping",
    "Adam": "steppers",
    "ClipUp": "steppers",
}

__getattr__ = lazy_attributes(__name__, _LAZY)  # submodules load on first use


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
    "SeededPopulation",
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
