"""Populations of recurrent networks run in lockstep: teacher forcing and free-running generation.

:class:`Runner` holds the two loops shared by every network kind; a subclass supplies
``step(u, state, params)``, ``phi(state, u)`` (the readout features) and ``initial_state``.
:class:`LSTMPopulation` wraps an evorl :class:`~evorl.controllers.LSTMController` in population
mode: a (B, D) float64 parameter matrix is viewed per individual (``population_params``) and one
forward pass per time step advances all B networks. Evolino's readout is kept outside the
controller, on features φ(t) = [h(t), u(t)] (hidden state of the last layer, optionally the
input), so the controller's own ``w_out``/``b_out`` rows stay zero here; its teacher-forced
and free-running passes run all steps in one call each (:mod:`~evorl.agents.evolino.lstm_pass`).
:func:`fit_and_validate` is Evolino's fitness computation, shared with the echo state network
baseline.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import gymnasium as gym
import numpy as np
import torch

from evorl.agents.evolino import lstm_pass
from evorl.agents.evolino.lstm_pass import FreeRun, LSTMPass
from evorl.agents.evolino.readout import add_bias, apply_readout, solve_readout
from evorl.controllers import ControllerConfig, State, build_controller

DTYPE = torch.float64
Params = dict[str, torch.Tensor]
READOUT_CELLS = (False, True, "tanh")
"""Values of ``readout_cells``: no cell states, c(t), tanh(c(t))."""
FUSED_BATCH = 256
"""Largest batch whose passes without gradients run in one call each (see
:meth:`LSTMPopulation.whole_pass`); above it torch's per-step operations, each over the whole
batch. Kept from the numpy pass, not re-tuned for the compiled loops: they teacher-forced 400
networks 300 steps in 0.36 s in float64 (torch 0.93 s), and 200 networks 1,600 steps in float32
as fast as torch."""


class Runner:
    """Teacher forcing and free running for a batch of networks (see the module docstring)."""

    features: int
    """Width F of the readout features (without the bias)."""
    dtype: torch.dtype = DTYPE
    """Floating-point type of states and features (readouts are always solved in float64)."""

    def initial_state(self, batch: int) -> State:
        """Start state for ``batch`` networks."""
        raise NotImplementedError

    def step(self, u: torch.Tensor, state: State, params: Params) -> State:
        """Advance all networks by one input u (B, in)."""
        raise NotImplementedError

    def phi(self, state: State, u: torch.Tensor) -> torch.Tensor:
        """Readout features (B, F) from the state after input ``u`` (B, in)."""
        raise NotImplementedError

    def whole_pass(self, params: Params, inputs: torch.Tensor, state: State) -> State | None:
        """The states after every step, each (T, B, ...), in one call for inputs (T, B, in); or
        None, and :meth:`teacher_force` steps one at a time (the default)."""
        return None

    def teacher_force(
        self,
        params: Params,
        inputs: torch.Tensor,
        state: State,
        *,
        resets: np.ndarray | None = None,
        collect_from: int = 0,
        snapshots: tuple[int, ...] = (),
    ) -> tuple[torch.Tensor, State, list[State]]:
        """Drive the networks with given inputs (all steps in one :meth:`whole_pass` where the
        network offers one and nothing resets the state).

        Args:
            params: From :meth:`params`, batch B.
            inputs: (T, B, in), or (T, 1, in) broadcast to all B.
            state: Start state.
            resets: (T,) bool; the state is reset before step t where True.
            collect_from: First step whose features are returned.
            snapshots: Steps t after which the state is also returned (a copy).

        Returns:
            Features (T - collect_from, B, F), the final state, and the snapshot states.
        """
        batch = state[0].shape[0]
        states = None if resets is not None else self.whole_pass(params, inputs, state)
        if states is not None:
            u = inputs[collect_from:].expand(-1, batch, -1)
            feats = self.phi(tuple(s[collect_from:] for s in states), u)
            snaps = [tuple(s[t] for s in states) for t in snapshots]
            return feats, tuple(s[-1] for s in states), snaps
        feats, snaps, wanted = [], [], set(snapshots)
        for t in range(inputs.shape[0]):
            if resets is not None and resets[t]:
                state = self.initial_state(batch)
            u = inputs[t].expand(batch, -1)
            state = self.step(u, state, params)
            if t >= collect_from:
                feats.append(self.phi(state, u))
            if t in wanted:
                snaps.append(tuple(s.clone() for s in state))
        empty = torch.empty(0, batch, self.features, dtype=self.dtype)
        return (torch.stack(feats) if feats else empty), state, snaps

    def runs_final_state(self, params: Params, inputs: torch.Tensor) -> State:
        """The state after teacher-forcing each of B networks from the zero state through
        each of n input sequences (T, n, in): rows start-major, network-minor (run r of
        network b in row r·B + b, as :func:`_per_run` lays parameters out)."""
        runs, batch = inputs.shape[1], next(iter(params.values())).shape[0]
        rep, inputs = _per_run(params, runs), inputs.repeat_interleave(batch, dim=1)
        steps = inputs.shape[0]
        return self.teacher_force(
            rep, inputs, self.initial_state(runs * batch), collect_from=steps
        )[1]

    def free_run(
        self,
        params: Params,
        readout: torch.Tensor,
        state: State,
        last_input: torch.Tensor,
        steps: int,
        clip: float = 1e3,
    ) -> torch.Tensor:
        """Generate ``steps`` outputs, each fed back as the next input (in_dim == out_dim).

        The first output is the readout of the state after ``last_input`` (the prediction of
        the value following the context). Outputs are clipped to ±``clip`` so that a diverging
        network yields a large but finite error.

        Returns:
            (steps, B, out_dim).
        """
        u, outputs = last_input, []
        for k in range(steps):
            y = apply_readout(self.phi(state, u), readout).clamp(-clip, clip)
            outputs.append(y)
            if k + 1 < steps:
                state = self.step(y, state, params)
                u = y
        return torch.stack(outputs)


class LSTMPopulation(Runner):
    """B LSTM networks sharing one architecture, run together.

    Args:
        hidden: Memory cells per layer.
        in_dim: Input width (for generative prediction: the series dimension).
        out_dim: Output width.
        peepholes: Peephole connections (Gers & Schmidhuber 2000), as in Evolino's LSTM.
        forget_gate: Forget gates (Gers et al. 2000).
        readout_input: Include the input u(t) in the readout features.
        readout_cells: Include the cell states c(t) too (not in Evolino's paper); "tanh":
            include tanh(c(t)), bounded where a cell integrates without limit.
        dtype: float32 runs about twice as fast; float64 for final evaluation.
    """

    def __init__(
        self,
        hidden: tuple[int, ...],
        in_dim: int,
        out_dim: int,
        *,
        peepholes: bool = True,
        forget_gate: bool = True,
        readout_input: bool = True,
        readout_cells: bool | str = False,
        dtype: torch.dtype = DTYPE,
    ) -> None:
        if readout_cells not in READOUT_CELLS:
            raise ValueError(f"readout_cells must be False, True or 'tanh', got {readout_cells!r}")
        config = ControllerConfig(
            kind="lstm",
            hidden=hidden,
            peepholes=peepholes,
            forget_gate=forget_gate,
            init="uniform",
            continuous_action="clip",
        )
        space = gym.spaces.Box(-np.inf, np.inf, (out_dim,), dtype=np.float64)
        self.controller = build_controller(config, in_dim, space, seed=0)
        self.in_dim, self.out_dim = in_dim, out_dim
        self.readout_input, self.readout_cells = readout_input, readout_cells
        self.dtype = dtype
        self.features = hidden[-1] * (2 if readout_cells else 1) + (in_dim if readout_input else 0)

    def params(self, flat: torch.Tensor | np.ndarray) -> Params:
        """Per-individual parameter views of a (B, D) matrix (converted to ``dtype``)."""
        return self.controller.population_params(torch.as_tensor(flat, dtype=self.dtype))

    def initial_state(self, batch: int) -> State:
        """Zero state for ``batch`` networks."""
        return self.controller.initial_state(batch, dtype=self.dtype)

    def step(self, u: torch.Tensor, state: State, params: Params) -> State:
        return self.controller(u, state, params)[1]

    def phi(self, state: State, u: torch.Tensor) -> torch.Tensor:
        parts = [state[-2]]
        if self.readout_cells:
            parts.append(torch.tanh(state[-1]) if self.readout_cells == "tanh" else state[-1])
        if self.readout_input:
            parts.append(u)
        return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]

    def whole_pass(self, params: Params, inputs: torch.Tensor, state: State) -> State | None:
        """(h, c) after every step in one call (:class:`~evorl.agents.evolino.lstm_pass.LSTMPass`)
        for networks of one layer with forget gates, up to :data:`FUSED_BATCH` of them unless
        gradients are recorded; else None. For one network (the polish) that is about 15 times
        faster than autograd step by step."""
        fused = self._fused(params, state)
        if fused is None or inputs.requires_grad:
            return None
        weights, recorded = fused
        args = (inputs.expand(-1, state[0].shape[0], -1), *state, *weights)
        if recorded:
            return LSTMPass.apply(*args)
        return tuple(torch.from_numpy(s[1:]) for s in lstm_pass.run(*args))

    def free_run(
        self,
        params: Params,
        readout: torch.Tensor,
        state: State,
        last_input: torch.Tensor,
        steps: int,
        clip: float = 1e3,
    ) -> torch.Tensor:
        """As :meth:`Runner.free_run`; in one call
        (:class:`~evorl.agents.evolino.lstm_pass.FreeRun`) where :meth:`whole_pass` is."""
        fused = self._fused(params, state, readout)
        if fused is None or last_input.requires_grad:
            return super().free_run(params, readout, state, last_input, steps, clip)
        weights, recorded = fused
        layout = (READOUT_CELLS.index(self.readout_cells), self.readout_input)  # 0, 1, 2
        if recorded:
            return FreeRun.apply(last_input, *state, readout, *weights, steps, clip, layout)
        out = lstm_pass.free_run(last_input, *state, readout, weights, steps, clip, layout)
        return torch.from_numpy(out)

    def runs_final_state(self, params: Params, inputs: torch.Tensor) -> State:
        """As :meth:`Runner.runs_final_state`; without gradients, the n runs of a network
        advance as one matrix product per step with its weights, not one weight copy per run:
        6.5 s instead of 25 s for the Mackey-Glass row's final check (16 networks × 200 runs ×
        1,000 steps, one core). Rounding differs from a run alone in the last bits."""
        if self._records(params):
            return super().runs_final_state(params, inputs)
        runs, batch = inputs.shape[1], next(iter(params.values())).shape[0]
        grouped = {k: v.unsqueeze(1) if v.dim() == 2 else v for k, v in params.items()}
        state = tuple(
            s.unsqueeze(1).expand(-1, runs, -1).contiguous() for s in self.initial_state(batch)
        )
        for u in inputs:
            state = self.step(u.expand(batch, -1, -1), state, grouped)
        return tuple(s.transpose(0, 1).reshape(runs * batch, -1) for s in state)

    @staticmethod
    def _records(params: Params, *tensors: torch.Tensor | State) -> bool:
        """Whether autograd records operations on ``params`` or on the state/readout given."""
        flat = [t for v in tensors for t in (v if isinstance(v, tuple) else (v,))]
        return torch.is_grad_enabled() and any(t.requires_grad for t in (*params.values(), *flat))

    def _fused(
        self, params: Params, state: State, readout: torch.Tensor | None = None
    ) -> tuple[tuple[torch.Tensor, ...], bool] | None:
        """The weights w_x, w_h, b, p_i, p_f, p_o (zeros for no peepholes) that the passes of
        :mod:`~evorl.agents.evolino.lstm_pass` take and whether autograd records them, or None
        where those passes do not apply: more than one layer, no forget gate, or no gradients
        recorded on more than :data:`FUSED_BATCH` networks."""
        config, batch = self.controller.config, state[0].shape[0]
        if len(config.hidden) > 1 or not config.forget_gate:
            return None
        recorded = self._records(params, state, *(() if readout is None else (readout,)))
        if not recorded and batch > FUSED_BATCH:
            return None
        zero = torch.zeros_like(state[1])
        names = ("w_x0", "w_h0", "b0")
        weights = (*(params[k] for k in names), *(params.get(f"p_{g}0", zero) for g in "ifo"))
        return weights, recorded


@torch.no_grad()
def fit_and_validate(
    net: Runner,
    params: Params,
    batch: int,
    train: torch.Tensor,
    washout: int,
    valid: int,
    horizon: int | None = None,
    ridge: float = 0.0,
    clip: float = 1e3,
    fit_region_runs: bool = False,
    last_only: bool = False,
    restarts: int = 0,
    restart_context: int = 0,
    noise: torch.Tensor | np.ndarray | None = None,
) -> tuple[np.ndarray, torch.Tensor]:
    """Evolino's evaluation of B networks on a training series (T, d).

    Teacher-forced through the series; readouts solved on the features of steps washout …
    T-2-valid (targets x(t+1)); then, from the teacher-forced states, free runs of ``horizon``
    steps (default: all ``valid``) tile the last ``valid`` targets (a remainder shorter than
    ``horizon`` is dropped). ``fit_region_runs`` adds runs tiling the readout's own segment
    from the washout on (with ``valid`` = 0 only those: a free-running check of the fit, as in
    PyBrain's Evolino). ``restarts`` adds that many runs started as a test run starts
    (:func:`restart_errors`, ``restart_context`` steps of context each, at evenly spaced offsets).
    ``last_only`` scores only the last step of each run (like NRMSE84). ``noise`` (T, d) is added
    to the teacher-forced inputs before the validation segment (see :func:`free_run_errors`).
    All runs of all networks go in one batch.

    Returns:
        Validation NRMSE (B,) (normalised by the training series' variance; NaN → inf) and the
        readouts (B, F + 1, d).
    """
    horizon = horizon or valid
    if horizon < 1:
        raise ValueError("valid_horizon is needed when valid = 0")
    train = torch.as_tensor(train, dtype=net.dtype)
    length = train.shape[0]
    fit_end = length - 1 - valid  # inputs washout..fit_end-1 predict x(washout+1..fit_end)
    starts = list(range(fit_end, length - horizon, horizon))
    if fit_region_runs:
        starts = [s for s in range(washout, fit_end, horizon) if s + horizon < length] + starts
    if not starts or fit_end <= washout:
        raise ValueError(
            f"series of {length} steps too short for washout {washout}, "
            f"valid {valid}, horizon {horizon}"
        )
    readout = partial(solve_readout, ridge=ridge)
    sq, w = free_run_errors(
        net, params, batch, train, washout, fit_end, starts, horizon, readout, clip, noise
    )
    if restarts > 0:
        last = length - restart_context - horizon
        if restart_context < 1 or last < 0:
            raise ValueError(
                f"series of {length} steps too short for restart runs of {restart_context} "
                f"steps of context and {horizon} free"
            )
        offsets = np.linspace(0, last, restarts).round().astype(int).tolist()
        sq = torch.cat(
            [sq, restart_errors(net, params, w, train, offsets, restart_context, horizon, clip)],
            dim=1,
        )
    if last_only:
        sq = sq[-1:]
    nrmse = torch.sqrt(sq.mean(dim=(0, 1, 3)) / train.to(DTYPE).var(0).mean()).numpy()
    return np.nan_to_num(nrmse, nan=np.inf), w


def free_run_errors(
    net: Runner,
    params: Params,
    batch: int,
    train: torch.Tensor,
    washout: int,
    fit_end: int,
    starts: list[int],
    horizon: int,
    solver: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = solve_readout,
    clip: float = 1e3,
    noise: torch.Tensor | np.ndarray | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared free-running errors of B networks, their readouts solved on the teacher-forced
    features of steps ``washout`` … ``fit_end - 1`` (targets x(t+1)) by ``solver(Φ, Y)``.

    ``noise`` (T, d), if given, is added to the teacher-forced inputs x(t) of steps t <
    ``fit_end``, the same for every network; the targets stay clean, and so do the inputs from
    ``fit_end`` on. The readout then learns to map a slightly perturbed state back onto the
    series, as a free run needs (Jaeger's noise insertion for echo state networks that generate
    their own input, GMD Report 148, 2001). Free runs started inside that segment start from
    the perturbed states.

    Differentiable in ``params`` when called with gradients on and a differentiable solver
    (:func:`~evorl.agents.evolino.readout.solve_readout_qr`): Evolino's gradient polish.

    Returns:
        Squared errors (horizon, runs, B, d) in float64 and the readouts (B, F + 1, d).
    """
    train = train.to(net.dtype)
    inputs = train[: max(starts[-1], fit_end - 1) + 1]
    if noise is not None:
        noise = torch.as_tensor(noise, dtype=net.dtype)[:fit_end]
        inputs = torch.cat([inputs[:fit_end] + noise, inputs[fit_end:]])
    feats, _, snaps = net.teacher_force(
        params,
        inputs[:, None],
        net.initial_state(batch),
        collect_from=washout,
        snapshots=tuple(starts),
    )
    phi = add_bias(feats[: fit_end - washout].transpose(0, 1)).to(DTYPE)
    readout = solver(phi, train[washout + 1 : fit_end + 1].to(DTYPE).expand(batch, -1, -1))
    state = tuple(torch.cat([snap[i] for snap in snaps]) for i in range(len(snaps[0])))
    rep = _per_run(params, len(starts))
    return _free_run_errors(net, rep, readout, state, train, starts, horizon, clip), readout


def restart_errors(
    net: Runner,
    params: Params,
    readout: torch.Tensor,
    train: torch.Tensor,
    offsets: list[int],
    context: int,
    horizon: int,
    clip: float = 1e3,
) -> torch.Tensor:
    """Squared errors (horizon, runs, B, d) of B networks forecasting as a test run does: from
    the zero state, teacher-forced over ``train[r : r + context]`` for each offset r, then run
    free ``horizon`` steps. Free runs from one teacher-forced pass cannot see a network that
    responds to the same inputs in more than one way depending on where it starts (a memory
    cell that latches on some starts); these runs do.
    """
    train = train.to(net.dtype)
    inputs = torch.stack([train[r : r + context] for r in offsets], dim=1)  # (context, n, d)
    state = net.runs_final_state(params, inputs)
    starts = [r + context - 1 for r in offsets]  # the last context step, as in free_run_errors
    rep = _per_run(params, len(offsets))
    return _free_run_errors(net, rep, readout, state, train, starts, horizon, clip)


def _per_run(params: Params, runs: int) -> Params:
    """Parameters repeated for ``runs`` runs per network: rows start-major, network-minor."""
    return {k: v.repeat(runs, *([1] * (v.dim() - 1))) for k, v in params.items()}


def _free_run_errors(
    net: Runner,
    rep: Params,
    readout: torch.Tensor,
    state: State,
    train: torch.Tensor,
    starts: list[int],
    horizon: int,
    clip: float,
) -> torch.Tensor:
    """Squared errors (horizon, runs, B, d) of free runs, one batch: ``state`` holds each run's
    state after its input ``train[start]``, ``rep`` its parameters (:func:`_per_run`; rows
    start-major, network-minor)."""
    n, batch = len(starts), readout.shape[0]
    first = torch.cat([train[s].expand(batch, -1) for s in starts])
    out = net.free_run(rep, readout.to(net.dtype).repeat(n, 1, 1), state, first, horizon, clip)
    truth = torch.stack([train[s + 1 : s + 1 + horizon] for s in starts], dim=1)  # (h, n, d)
    return ((out.view(horizon, n, batch, -1) - truth[:, :, None]) ** 2).to(DTYPE)


@torch.no_grad()
def forecast(
    net: Runner,
    params: Params,
    readout: torch.Tensor,
    context: np.ndarray,
    steps: int,
    clip: float = 1e3,
) -> np.ndarray:
    """Teacher-force K contexts (K, W, d) with K networks, then run free: (K, steps, d)."""
    ctx = torch.as_tensor(context, dtype=net.dtype).transpose(0, 1)  # (W, K, d)
    k = ctx.shape[1]
    _, state, _ = net.teacher_force(params, ctx, net.initial_state(k))
    readout = readout.to(net.dtype).expand(k, -1, -1)
    out = net.free_run(params, readout, state, ctx[-1], steps, clip)
    return out.transpose(0, 1).to(DTYPE).numpy()


@torch.no_grad()
def one_step(
    net: Runner, params: Params, readout: torch.Tensor, series: np.ndarray, washout: int
) -> np.ndarray:
    """Teacher-forced one-step predictions of ``series[washout + 1:]`` by one network."""
    data = torch.as_tensor(series, dtype=net.dtype)[:-1, None]
    feats, _, _ = net.teacher_force(params, data, net.initial_state(1), collect_from=washout)
    return (add_bias(feats[:, 0]).to(DTYPE) @ readout.to(DTYPE)).numpy()
