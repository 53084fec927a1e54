"""The recurrent attention model (RAM) of Mnih, Heess, Graves & Kavukcuoglu, "Recurrent Models of
Visual Attention" (NIPS 2014): retina → glimpse network → recurrent core → location, action and
baseline networks.

One time step: the sensor reads patches of the image around the current location l_t, the
glimpse network turns patches and location into features g_t, the core updates its state
``h_t = f_h(h_{t-1}, g_t)``, and from h_t the action network (the core's linear readout) gives
action logits, the location network the mean of the next location and the baseline network the
expected reward. The core is an evorl controller (:mod:`evorl.controllers`): Elman with ReLU
units as in the paper, or LSTM / GRU; its readout is the action network, so ``n_actions`` is the
number of classes or of environment actions.

Example:
    >>> import torch
    >>> agent = GlimpseAgent(GlimpseConfig(size=8, scales=2, glimpses=3), n_actions=10, seed=0)
    >>> out = classify(agent, torch.rand(5, 28, 28), torch.Generator().manual_seed(0))
    >>> out.logits.shape, out.locations.shape
    (torch.Size([5, 10]), torch.Size([3, 5, 2]))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import NamedTuple

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from evorl.agents.glimpse.networks import (
    BaselineNetwork,
    GlimpseNetwork,
    LocationNetwork,
    gaussian_log_prob,
)
from evorl.agents.glimpse.sensor import glimpse
from evorl.controllers import ControllerConfig, State, build_controller

CORES = ("elman", "lstm", "gru")


@dataclass(frozen=True)
class GlimpseConfig:
    """Architecture of the glimpse agent (defaults: the paper's 60×60 translated-MNIST model)."""

    size: int = 12
    """Side g of every retina patch in pixels."""

    scales: int = 3
    """Number k of patches per glimpse, each twice as wide as the one before."""

    glimpses: int = 6
    """Glimpses per image (classification); Catch takes one per frame."""

    what: int = 128
    """Units of h_g, the glimpse network's layer on the patches."""

    where: int = 128
    """Units of h_l, the glimpse network's layer on the location."""

    features: int = 256
    """Units of the glimpse feature vector g fed to the core."""

    core: str = "elman"
    """Core network: "elman" (ReLU units, as in the paper), "lstm" or "gru"."""

    hidden: int = 256
    """Units of the core network."""

    loc_std: float = 0.17
    """Fixed standard deviation of the Gaussian location policy (in [-1, 1] units)."""

    gain: float = 4.0
    """Factor on the retina's pixels (in [0, 1], mostly 0, and fainter at coarse scales) so the
    glimpse layer sees inputs of about unit size; 4 learned faster than 1 in our runs."""

    def __post_init__(self) -> None:
        for name in ("size", "scales", "glimpses", "what", "where", "features", "hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GlimpseConfig.{name}={value!r} must be an int >= 1")
        if self.core not in CORES:
            raise ValueError(f"GlimpseConfig.core={self.core!r} is not one of {', '.join(CORES)}")
        if not self.gain > 0.0:
            raise ValueError(f"GlimpseConfig.gain={self.gain!r} must be > 0")
        if not 0.0 < self.loc_std < 1.0:
            raise ValueError(f"GlimpseConfig.loc_std={self.loc_std!r} must be in (0, 1)")

    def to_dict(self) -> dict[str, object]:
        """The fields as a plain dict (for checkpoints and JSON)."""
        return asdict(self)


class Step(NamedTuple):
    """Outputs of one time step of :class:`GlimpseAgent`."""

    logits: torch.Tensor
    """Action (class) logits (B, n_actions)."""
    loc_mean: torch.Tensor
    """Mean (B, 2) of the next location."""
    baseline: torch.Tensor
    """Expected reward (B,)."""
    state: State
    """The core's new state."""


class GlimpseAgent(nn.Module):
    """Sensor, glimpse network, recurrent core with action readout, location and baseline nets.

    Args:
        config: Architecture.
        n_actions: Classes (classification) or environment actions (Catch).
        seed: Seeds the initial weights; the global torch RNG is left as it was.
    """

    def __init__(self, config: GlimpseConfig, n_actions: int, seed: int | None = None) -> None:
        super().__init__()
        self.config = config
        self.n_actions = int(n_actions)
        core_config = ControllerConfig(kind=config.core, hidden=(config.hidden,), activation="relu")
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            retina_dim = config.scales * config.size**2
            self.glimpse_net = GlimpseNetwork(
                retina_dim, config.what, config.where, config.features
            )
            self.locator = LocationNetwork(config.hidden)
            self.baseline = BaselineNetwork(config.hidden)
        self.core = build_controller(
            core_config, config.features, gym.spaces.Discrete(self.n_actions), seed=seed
        )

    def initial_state(self, batch: int) -> State:
        """Zero core state for ``batch`` images or episodes."""
        return self.core.initial_state(batch)

    def hidden(self, state: State) -> torch.Tensor:
        """The core's output h (B, hidden): the top layer's hidden units (not an LSTM's cells)."""
        return state[-2] if self.config.core == "lstm" else state[-1]

    def forward(self, images: torch.Tensor, loc: torch.Tensor, state: State) -> Step:
        """One glimpse at ``loc`` (B, 2) of ``images`` (B, H, W), then one core step.

        The location and baseline networks read a detached h: as in the paper, REINFORCE trains
        the location network and the reward's regression trains the baseline, while the glimpse
        and core networks learn from the action network's loss (cross-entropy, or REINFORCE on
        actions in Catch). Letting REINFORCE's location noise into the core slowed learning in
        our runs (cross-entropy 2.07 instead of 1.86 after 300 steps on translated digits).
        """
        cfg = self.config
        patches = cfg.gain * glimpse(images, loc, cfg.size, cfg.scales)
        features = self.glimpse_net(patches, loc)
        logits, state = self.core(features, state)
        h = self.hidden(state)
        h = h.detach()  # locations and baseline learn by REINFORCE / regression only
        return Step(logits, self.locator(h), self.baseline(h), state)

    def get_flat(self) -> torch.Tensor:
        """All parameters as one (D,) vector (the genome of neuroevolution)."""
        return nn.utils.parameters_to_vector(self.parameters()).detach().clone()

    @torch.no_grad()
    def set_flat(self, flat: torch.Tensor) -> None:
        """Load all parameters from a (D,) vector made by :meth:`get_flat`."""
        nn.utils.vector_to_parameters(torch.as_tensor(flat, dtype=torch.float32), self.parameters())

    def population_params(self, flat: torch.Tensor | np.ndarray) -> dict[str, torch.Tensor]:
        """Every parameter as a (P, *shape) float32 view of a population matrix ``flat`` (P, D)
        whose rows are :meth:`get_flat` vectors, keyed by ``named_parameters()`` names."""
        named = list(self.named_parameters())
        flat = torch.as_tensor(flat, dtype=torch.float32, device=named[0][1].device)
        size = sum(p.numel() for _, p in named)
        if flat.dim() != 2 or flat.shape[1] != size:
            raise ValueError(f"flat must have shape (P, {size}), got {tuple(flat.shape)}")
        views = flat.split([p.numel() for _, p in named], dim=1)
        return {name: v.unflatten(1, p.shape) for (name, p), v in zip(named, views, strict=True)}


class _Apply(nn.Module):
    """``fn(agent, *args)`` as a module's forward, so that :func:`torch.func.functional_call`
    swaps the agent's weights for a whole function (a classification's glimpses), not one step."""

    def __init__(self, agent: GlimpseAgent) -> None:
        super().__init__()
        self.agent = agent

    def forward(self, fn: Callable, *args: object) -> object:
        return fn(self.agent, *args)


class Population:
    """P candidate weight vectors of one :class:`GlimpseAgent`, run as one batch.

    Every parameter gets a leading candidate axis (:meth:`GlimpseAgent.population_params`) and
    the agent's own modules run under :func:`torch.func.vmap` of
    :func:`torch.func.functional_call`: the math is the agent's, written once, and each matrix
    product becomes one batched product over the candidates. Two ways in:
    :meth:`map` runs a whole function of the agent for every candidate (a classification's
    glimpses, the images shared), and calling the population like the agent steps P·B rows,
    candidate-major, for loops that must leave the batch between steps (Catch's environments,
    through :func:`~evorl.agents.glimpse.catch.play`).

    Exactness, measured on CPU with torch 2.13 (and tested in ``tests/test_glimpse.py``): a
    candidate's fitness is bitwise the same whichever candidates share its batch and however
    many there are, one included: a batched product computes each candidate's matrix alone,
    with the same kernel for the same shapes, and the fitness sums in a fixed order. So a Ray
    worker scoring a chunk of the population reproduces the local fitness. (One exception
    found: a batch of one single-column product, the baseline network, takes another kernel
    and may differ in the last bit; fitness never reads the baseline.) The outputs are *not*
    always bitwise those of the agent's ordinary forward with one candidate's weights loaded,
    since a single product may add its bias and split its sums otherwise: for the
    CLI's digits agent (a 432-input glimpse layer) logits differ by up to about 1e-6, while
    the CLI's Catch agent's logits, locations and core states came out bitwise equal.
    Evolution therefore scores through this class everywhere, locally and on Ray workers.

    Example:
        >>> config = GlimpseConfig(size=4, scales=2, glimpses=2, what=8, where=4, features=8,
        ...                        hidden=8)
        >>> agent = GlimpseAgent(config, n_actions=10, seed=0)
        >>> population = Population(agent, agent.get_flat().repeat(3, 1))
        >>> logits = population.map(lambda a, x: classify(a, x, None).logits, torch.rand(5, 28, 28))
        >>> logits.shape
        torch.Size([3, 5, 10])
    """

    def __init__(self, agent: GlimpseAgent, flat: torch.Tensor | np.ndarray) -> None:
        self.agent = agent
        self.config = agent.config
        self.n_actions = agent.n_actions
        params = agent.population_params(flat)
        self.size = len(flat)
        self._params = {f"agent.{name}": p for name, p in params.items()}
        self._module = _Apply(agent)

    def map(self, fn: Callable, *args: object, in_dims: int | None = None) -> object:
        """``fn(agent, *args)`` with every candidate's weights at once; the outputs gain a leading
        candidate axis (P, ...). ``in_dims=None``: every candidate gets the same ``args``;
        ``0``: tensors in ``args`` carry the candidate axis first."""

        def one(params: dict[str, torch.Tensor], *xs: object) -> object:
            return torch.func.functional_call(self._module, params, (fn, *xs))

        dims = (0,) + (in_dims,) * len(args)
        return torch.func.vmap(one, in_dims=dims)(self._params, *args)

    def initial_state(self, batch: int) -> State:
        """Zero core state for ``batch`` rows (P·B when stepped as below)."""
        return self.agent.initial_state(batch)

    def __call__(self, images: torch.Tensor, loc: torch.Tensor, state: State) -> Step:
        """One step of :meth:`GlimpseAgent.forward` on P·B rows, candidate-major: rows
        ``p·B … p·B + B − 1`` belong to candidate p."""

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.unflatten(0, (self.size, -1))

        out = self.map(_step, split(images), split(loc), tuple(map(split, state)), in_dims=0)
        return Step(
            out.logits.flatten(0, 1),
            out.loc_mean.flatten(0, 1),
            out.baseline.flatten(0, 1),
            tuple(s.flatten(0, 1) for s in out.state),
        )


def _step(agent: GlimpseAgent, images: torch.Tensor, loc: torch.Tensor, state: State) -> Step:
    """One forward step of ``agent`` (for :meth:`Population.map`)."""
    return agent(images, loc, state)


class Classification(NamedTuple):
    """What :func:`classify` returns; time-major, T = number of glimpses."""

    logits: torch.Tensor
    """Class logits (B, n) after the last glimpse."""
    log_probs: torch.Tensor
    """Log density (T-1, B) of each sampled location l_1 … l_{T-1}."""
    baselines: torch.Tensor
    """Baseline (T-1, B) at the steps that chose those locations."""
    locations: torch.Tensor
    """Where each glimpse looked (T, B, 2); l_0 is the centre."""


def classify(
    agent: GlimpseAgent,
    images: torch.Tensor,
    generator: torch.Generator | None,
    glimpses: int | None = None,
) -> Classification:
    """Take ``glimpses`` glimpses of each image, then classify it.

    The first glimpse looks at the centre. Later locations are sampled from N(μ, σ²) when a
    ``generator`` is given (training) and are the means μ otherwise (testing). Samples are
    detached: the sensor is not differentiable, so locations learn only through REINFORCE.
    """
    steps = agent.config.glimpses if glimpses is None else glimpses
    batch = images.shape[0]
    loc = images.new_zeros(batch, 2)
    state = agent.initial_state(batch)
    log_probs, baselines, locations = [], [], [loc]
    for t in range(steps):
        out = agent(images, loc, state)
        state = out.state
        if t == steps - 1:
            break
        if generator is None:
            loc = out.loc_mean.detach()
        else:
            noise = torch.randn(out.loc_mean.shape, generator=generator).to(images.device)
            loc = (out.loc_mean.detach() + agent.config.loc_std * noise).clamp(-1.0, 1.0)
        log_probs.append(gaussian_log_prob(loc, out.loc_mean, agent.config.loc_std))
        baselines.append(out.baseline)
        locations.append(loc)
    empty = images.new_zeros(0, batch)
    return Classification(
        out.logits,
        torch.stack(log_probs) if log_probs else empty,
        torch.stack(baselines) if baselines else empty,
        torch.stack(locations),
    )
