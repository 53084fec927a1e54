"""Where torch computes: ``cpu`` (the default), ``cuda``, ``cuda:N`` or ``auto``.

It places the population's forward pass in evolution (``eval.device``, ``evorl evolve
--device``) and the updates of PPO and RPG (``device``, ``evorl train --device``: loss, backward
pass and Adam on a copy of the policy; rollouts step a CPU copy refreshed after each update).
The world model trains V and M there (its ``device``) and puts C's population there
(``evolve.device``); the glimpse agent's gradient training on digits runs there
(``evorl glimpse train --device``). The supervised fits still run on the CPU.
Environments, optimizers (pycma's and ours, in numpy) and everything saved stay on the CPU: a
checkpoint or policy file written on a GPU machine loads anywhere.

Results on a GPU are not bit-identical to the CPU's (other kernels, other rounding, and the
device's own random generators), so a run keeps the device it started on: ``device`` is not a
field a resume may change.

Example:
    >>> resolve("cpu")
    device(type='cpu')
    >>> DEVICE.fullmatch("cuda:1") is not None, DEVICE.fullmatch("gpu") is not None
    (True, False)
"""

from __future__ import annotations

import torch

from evorl.config_io import DEVICE
from evorl.errors import ConfigError


def resolve(name: str) -> torch.device:
    """The torch device ``name`` means on this machine.

    Raises:
        ConfigError: a CUDA device this torch cannot see (a CPU build, no GPU, an index past
            the last device), in one line that says what to do.
    """
    if DEVICE.fullmatch(name) is None:
        raise ConfigError(f"device {name!r}: one of cpu, cuda, cuda:N, auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU build" if torch.version.cuda is None else "no GPU visible"
            raise ConfigError(
                f"device {name}: torch {torch.__version__} sees no CUDA device ({build}); "
                "use --device cpu, or install a CUDA build of torch on a GPU machine"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    return device
