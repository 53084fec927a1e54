"""The controller interface: recurrent state as data, flat parameters, one code path per cell.

A :class:`Controller` is a ``torch.nn.Module`` whose cells are written once and run in two modes:

* **Gradient mode** (``params=None``): the module's own parameters, ordinary autograd; a batch of
  B observations shares one set of weights.
* **Population mode** (``params=controller.population_params(flat)``): ``flat`` holds one
  individual per row, shape (B, D); every parameter becomes a (B, *shape) *view* of it and row b
  of the observations and state is driven by row b of ``flat``. A whole population advances one
  time step in one forward pass, and an evaluator swaps individuals in by writing rows of
  ``flat`` in place.

Recurrent state is passed in and out, never kept in the module (Stable-Baselines3's
``predict(obs, state, episode_start)``, CleanRL's LSTM masking): a tuple of batch-first tensors,
``()`` for feed-forward controllers.

The flat vector concatenates the parameters in registration order (``named_parameters()``
order), each flattened row-major; every cell module documents its own order. Two optional
layers wrap any cell that takes them (:attr:`Controller.io_layers`), defined here once:
``config.embed`` = E puts ``w_embed`` (obs_dim, E) first in the flat order, and the first layer
reads ``obs @ w_embed`` (E features) in place of the observation; ``config.readout_hidden`` = M
puts ``w_mid`` (H_L, M) and ``b_mid`` (M,) before ``w_out`` (M, out_dim), and the outputs are
``ReLU(h_L w_mid + b_mid) w_out + b_out``.
"""

from __future__ import annotations

from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch

from evorl.controllers.config import ControllerConfig
from evorl.controllers.functional import linear
from evorl.controllers.heads import make_head
from evorl.controllers.init import init_param, make_generator

State = tuple[torch.Tensor, ...]
"""Recurrent state: every tensor batch-first (B, ...); ``()`` for feed-forward controllers."""

StateSize = int | tuple[int, ...]
"""Shape of one state tensor after the batch axis: n for a (B, n) vector, a tuple for (B, *shape)
(the fast-weight matrix or Hebbian trace of :mod:`evorl.controllers.fast_weights`)."""

Params = dict[str, torch.Tensor]

READOUT = ("w_mid", "b_mid", "w_out", "b_out")
"""The readout's parameters (``w_mid``, ``b_mid`` only with ``config.readout_hidden``)."""

Unit = tuple[str, int] | None
"""How a parameter's entries map to hidden units: ``("cols" | "rows", layer)`` or None."""


def _rows(layer: int | None) -> Unit:
    return None if layer is None else ("rows", layer)


def cols(layer: int) -> Unit:
    """Entries belong to the unit of their last index (modulo layer ``layer``'s width)."""
    return ("cols", layer)


class Controller(torch.nn.Module):
    """Base class of all cells; owns the flat-vector mapping, state handling and action head.

    A cell implements :meth:`build` — register its parameters with :meth:`add_param` in their
    flat order, set ``state_sizes`` (the shape of each state tensor after the batch axis: an int
    for a vector, a tuple for a matrix) — and :meth:`forward`; every cell is constructed as
    ``Cell(config, obs_dim, action_space, seed=None)`` and initialised from ``seed``.

    Example:
        >>> import gymnasium as gym
        >>> from evorl.controllers import ControllerConfig, build_controller
        >>> cfg = ControllerConfig(kind="gru", hidden=(8,))
        >>> ctrl = build_controller(cfg, 4, gym.spaces.Discrete(2), seed=0)
        >>> flat = ctrl.get_flat().repeat(16, 1)            # a population of 16 copies
        >>> params = ctrl.population_params(flat)
        >>> state = ctrl.initial_state(16)
        >>> action, state = ctrl.step(torch.zeros(16, 4), state, params)
        >>> action.shape
        torch.Size([16])
    """

    state_sizes: tuple[StateSize, ...] = ()

    io_layers: bool = False
    """Whether the cell takes ``config.embed`` and ``config.readout_hidden``: it builds its
    first layer on :attr:`in_dim`, reads ``self.embed(obs, p)`` and outputs through
    :meth:`readout` (its others, e.g. a fused path of its own, would skip them)."""

    def __init__(
        self,
        config: ControllerConfig,
        obs_dim: int,
        action_space: gym.spaces.Space,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if isinstance(obs_dim, bool) or not isinstance(obs_dim, int | np.integer) or obs_dim < 1:
            raise ValueError(f"obs_dim={obs_dim!r} must be a positive int")
        self.config = config
        self.obs_dim = int(obs_dim)
        self.head = make_head(action_space, config.continuous_action)
        self.out_dim: int = self.head.out_dim
        self._specs: list[tuple[str, str, int]] = []  # (name, init role, gate blocks), flat order
        self._units: dict[str, Unit] = {}  # how each parameter's entries belong to hidden units
        if (config.embed or config.readout_hidden) and not self.io_layers:
            raise ValueError(
                f"controller.kind={config.kind!r} takes no embed / readout_hidden layers"
            )
        self.in_dim = config.embed or self.obs_dim
        """Width of what the first layer reads: the embedding's, else the observation's."""
        if config.embed:
            self.add_param("w_embed", (self.obs_dim, config.embed), "input")
        self.build()
        if not any(p.is_meta for p in self.parameters()):  # a meta controller only counts
            self.initialize(seed)

    def build(self) -> None:
        """Register the cell's parameters (:meth:`add_param`, in flat order) and set
        ``state_sizes``; ``self.config``, ``obs_dim`` and ``out_dim`` are set."""
        raise NotImplementedError

    # ----------------------------------------------------------------- parameters
    def add_param(
        self,
        name: str,
        shape: tuple[int, ...],
        role: str,
        blocks: int = 1,
        unit: Unit = None,
    ) -> None:
        """Register a parameter (appended to the flat order) with its initialisation role.

        ``unit`` says which hidden unit each entry belongs to (see :meth:`unit_index`):
        ``("cols", l)``: the last index modulo layer l's width (gate blocks side by side);
        ``("rows", l)``: the first index; ``None``: no unit (shared).
        """
        self.register_parameter(name, torch.nn.Parameter(torch.empty(shape)))
        self._specs.append((name, role, blocks))
        self._units[name] = unit

    def add_readout(self, in_dim: int, layer: int | None = None) -> None:
        """Register the linear readout ``w_out`` (in_dim, out_dim) and ``b_out`` (out_dim,);
        ``layer``: the hidden layer it reads (its rows belong to that layer's units). With
        ``config.readout_hidden`` = M, first the ReLU layer ``w_mid`` (in_dim, M) (rows: that
        layer's units) and ``b_mid`` (M,), which ``w_out`` (M, out_dim) then reads (shared)."""
        width = self.config.readout_hidden
        if width:
            self.add_param("w_mid", (in_dim, width), "input", unit=_rows(layer))
            self.add_param("b_mid", (width,), "bias")
            in_dim, layer = width, None
        self.add_param("w_out", (in_dim, self.out_dim), "input", unit=_rows(layer))
        self.add_param("b_out", (self.out_dim,), "bias")

    def unit_index(self, readout: bool = True) -> np.ndarray:
        """The hidden unit of every flat parameter: ESP's partition into subpopulations.

        A hidden neuron's genes are its incoming weights (for gated cells the columns of all
        its gates), biases and peepholes, and, with ``readout``, its outgoing readout row;
        ``b_out`` is shared (-1). Units of layer l are numbered after those of layers < l.
        With ``readout=False`` the readout genes are marked -2 (left out of the search).

        Raises:
            ValueError: The controller has no hidden units.
        """
        if not any(spec is not None for name, spec in self._units.items() if name != "w_out"):
            raise ValueError("esp needs hidden units to split into subpopulations")
        first = np.concatenate([[0], np.cumsum(self.config.hidden)])
        parts = []
        for name, _, _ in self._specs:
            shape, spec = tuple(getattr(self, name).shape), self._units[name]
            if name in READOUT and not readout:
                parts.append(np.full(int(np.prod(shape)), -2))
            elif spec is None:
                parts.append(np.full(int(np.prod(shape)), -1))
            elif spec[0] == "rows":
                rows = first[spec[1]] + np.arange(shape[0])
                parts.append(np.repeat(rows, int(np.prod(shape[1:]))))
            else:
                cols = np.arange(shape[-1]) % self.config.hidden[spec[1]] + first[spec[1]]
                parts.append(np.broadcast_to(cols, shape).reshape(-1))
        return np.concatenate(parts).astype(np.int64)

    def embed(self, obs: torch.Tensor, p: Params) -> torch.Tensor:
        """What the first layer reads: ``obs @ w_embed`` with ``config.embed``, else ``obs``."""
        return linear(obs, p["w_embed"]) if self.config.embed else obs

    def readout(self, h: torch.Tensor, p: Params) -> torch.Tensor:
        """Raw outputs from the last hidden layer (through the ReLU layer of
        ``config.readout_hidden`` when there is one)."""
        if self.config.readout_hidden:
            h = torch.relu(linear(h, p["w_mid"], p["b_mid"]))
        return linear(h, p["w_out"], p["b_out"])

    def _paired_layers(
        self, obs: torch.Tensor, state: State, p: Params, cell: Callable[..., tuple]
    ) -> tuple[torch.Tensor, State]:
        """The forward pass of a stack whose layers each keep two state tensors (an output and
        a memory: LSTM's cell, a fast-weight matrix, a Hebbian trace), ``state`` ordered
        ``(h0, m0, h1, m1, ...)``; ``cell(layer, x, h, m, p) -> (h', m')``."""
        x, new_state = self.embed(obs, p), []
        for layer in range(len(self.config.hidden)):
            x, memory = cell(layer, x, state[2 * layer], state[2 * layer + 1], p)
            new_state += [x, memory]
        return self.readout(x, p), tuple(new_state)

    def initialize(self, seed: int | None = None) -> None:
        """(Re-)initialise all parameters from ``seed`` with a private generator."""
        self._init_parameters(make_generator(seed))

    def _init_parameters(self, gen: torch.Generator) -> None:
        """Default: each parameter by its registered role; cells override for special cases."""
        for name, role, blocks in self._specs:
            init_param(getattr(self, name), role, self.config, gen, blocks)

    def _params(self, params: Params | None) -> Params:
        if params is not None:
            return params
        return {name: getattr(self, name) for name, _, _ in self._specs}

    @property
    def num_params(self) -> int:
        """D, the length of the flat parameter vector."""
        return sum(getattr(self, name).numel() for name, _, _ in self._specs)

    def get_flat(self) -> torch.Tensor:
        """A (D,) copy of all parameters in the documented flat order."""
        return torch.cat([getattr(self, n).detach().reshape(-1) for n, _, _ in self._specs])

    @torch.no_grad()
    def set_flat(self, flat: torch.Tensor | np.ndarray) -> None:
        """Load all parameters from a (D,) vector (cast to the parameters' dtype and device)."""
        flat = torch.as_tensor(flat)
        if flat.shape != (self.num_params,):
            raise ValueError(f"flat must have shape ({self.num_params},), got {tuple(flat.shape)}")
        offset = 0
        for name, _, _ in self._specs:
            p = getattr(self, name)
            p.copy_(flat[offset : offset + p.numel()].view(p.shape))
            offset += p.numel()

    def population_params(self, flat: torch.Tensor) -> Params:
        """Per-parameter views of a population matrix ``flat`` (B, D), each (B, *shape).

        No copy is made: writing a row of ``flat`` in place changes what the next forward pass
        with these params sees. A cell may add derived views of its own (the LSTM adds one
        spanning its adjacent input and recurrent weights).
        """
        if (
            not isinstance(flat, torch.Tensor)
            or flat.dim() != 2
            or flat.shape[1] != self.num_params
        ):
            shape = tuple(flat.shape) if isinstance(flat, torch.Tensor) else type(flat).__name__
            raise ValueError(f"flat must be a tensor of shape (B, {self.num_params}), got {shape}")
        return {
            name: flat.narrow(1, offset, shape.numel()).unflatten(1, shape)
            for name, offset, shape in self.flat_layout()
        }

    def flat_layout(self) -> list[tuple[str, int, torch.Size]]:
        """(name, offset, shape) of every parameter in the flat vector, in flat order."""
        layout, offset = [], 0
        for name, _, _ in self._specs:
            shape = getattr(self, name).shape
            layout.append((name, offset, shape))
            offset += shape.numel()
        return layout

    # ----------------------------------------------------------------- state
    def initial_state(
        self, batch: int, *, dtype: torch.dtype = torch.float32, device: torch.device | None = None
    ) -> State:
        """Zero state for ``batch`` rows (on the parameters' device unless ``device`` is given)."""
        if device is None:
            device = next(iter(self.parameters())).device
        return tuple(
            torch.zeros(batch, *((n,) if isinstance(n, int) else n), dtype=dtype, device=device)
            for n in self.state_sizes
        )

    @property
    def hidden_state_index(self) -> int | None:
        """Index in the state of the top layer's hidden vector (B, H), e.g. for a value head.

        Default: the last state tensor (Elman, GRU, fully recurrent); None without state.
        """
        return len(self.state_sizes) - 1 if self.state_sizes else None

    def reset_state(self, state: State, mask: torch.Tensor) -> State:
        """New state with rows where ``mask`` (B,) is True set to the initial (zero) state."""
        out = []
        for s in state:
            m = mask.to(device=s.device, dtype=torch.bool).view(-1, *([1] * (s.dim() - 1)))
            out.append(torch.where(m, s.new_zeros(()), s))
        return tuple(out)

    # ----------------------------------------------------------------- running
    def forward(
        self, obs: torch.Tensor, state: State, params: Params | None = None
    ) -> tuple[torch.Tensor, State]:
        """One time step: obs (B, obs_dim) -> raw outputs (B, out_dim) and the next state."""
        raise NotImplementedError

    def act(self, outputs: torch.Tensor) -> torch.Tensor:
        """Action head: argmax (Discrete) or tanh-scale / clip into the Box bounds."""
        return self.head.forward(outputs)

    def step(
        self, obs: torch.Tensor, state: State, params: Params | None = None
    ) -> tuple[torch.Tensor, State]:
        """``act(forward(obs, state, params))`` for acting in an environment (no autograd).

        Calls ``forward`` directly (no module hooks): this runs once per time step of a
        population's evaluation, where the call machinery costs as much as a tensor operation.
        """
        if torch.is_grad_enabled():
            with torch.no_grad():
                return self.step(obs, state, params)
        outputs, state = self.forward(obs, state, params)
        return self.act(outputs), state

    def unroll(
        self,
        obs_seq: torch.Tensor,
        state: State,
        episode_start: torch.Tensor | None = None,
        params: Params | None = None,
    ) -> tuple[torch.Tensor, State]:
        """Run a sequence (T, B, obs_dim) -> outputs (T, B, out_dim) and the final state.

        Where ``episode_start[t, b]`` is True, row b's state is reset before step t (CleanRL /
        Stable-Baselines3 masking), so one tensor can hold several episodes back to back.
        Differentiable end to end (backpropagation through time).
        """
        if obs_seq.dim() != 3:
            raise ValueError(f"obs_seq must be (T, B, obs_dim), got {tuple(obs_seq.shape)}")
        outputs = []
        for t in range(obs_seq.shape[0]):
            if episode_start is not None:
                state = self.reset_state(state, episode_start[t])
            out, state = self(obs_seq[t], state, params)
            outputs.append(out)
        return torch.stack(outputs), state

    def extra_repr(self) -> str:
        return (
            f"kind={self.config.kind!r}, obs_dim={self.obs_dim}, out_dim={self.out_dim}, "
            f"hidden={self.config.hidden}, num_params={self.num_params}"
        )
