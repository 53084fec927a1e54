"""Backpropagation through time, full and truncated, on any evorl controller via autograd.

Full BPTT unfolds the net over the whole sequence (Rumelhart, Hinton & Williams 1986; Werbos
1990) and follows the exact gradient of the summed loss — the number RTRL computes forward in
time (Williams & Zipser 1989), at O(n²) per step for n units but with memory that grows with the
sequence. Truncated BPTT (Williams & Peng 1990; BPTT(h; h)) cuts the sequence into windows of h
steps, updates the weights after each, and carries the recurrent state across windows detached,
so memory is bounded and no gradient flows further back than one window.

Also here: the loss shared by every algorithm (:func:`sequence_loss`), teacher forcing for the
fully recurrent net (:func:`run_sequence`, as Williams & Zipser section 2.2), gradient clipping
by global norm (Pascanu, Mikolov & Bengio 2013) and the LSTM gate biases: forget gate open
(Gers, Schmidhuber & Cummins 2000; Jozefowicz et al. 2015), input gate closed (Hochreiter &
Schmidhuber 1997). Orthogonal recurrent initialisation (Saxe et al. 2014) is the controllers'
own ``ControllerConfig(init="orthogonal")``.

Example:
    >>> import gymnasium as gym
    >>> from evorl.controllers import ControllerConfig, build_controller
    >>> space = gym.spaces.Box(-1, 1, (1,))
    >>> net = build_controller(ControllerConfig("lstm", (4,)), 2, space, seed=0)
    >>> x, d = torch.rand(10, 3, 2), torch.randint(0, 2, (10, 3, 1)).float()
    >>> mask = torch.ones_like(d, dtype=torch.bool)
    >>> opt = make_torch_optimizer("adam", net.parameters(), lr=1e-2)
    >>> loss = bptt_step(net, opt, x, d, mask, "bce", window=None, clip=1.0)
    >>> loss > 0
    True
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F

from evorl.controllers import Controller, FullyRecurrentController, LSTMController, State
from evorl.controllers.base import Params

LOSSES = ("sse", "bce", "ce")
"""``sse``: ½ Σ (y - d)² (Williams & Zipser's J); ``bce``: cross-entropy of logistic outputs;
``ce``: cross-entropy of a softmax over the outputs at each scored step (one-hot targets)."""


def sequence_loss(
    outputs: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor, kind: str
) -> torch.Tensor:
    """Loss summed over time steps and output units where ``mask``, averaged over sequences.

    Args:
        outputs: (T, B, k) raw controller outputs (logits for ``bce``).
        targets: (T, B, k).
        mask: (T, B, k) bool.
        kind: ``sse`` (½ squared error, the J_total of Williams & Zipser eq. 2.6), ``bce``, or
            ``ce`` (-Σ_k d_k ln softmax(y)_k at each step where any output is scored).
    """
    if kind == "sse":
        per = 0.5 * (outputs - targets) ** 2
    elif kind == "bce":
        per = F.binary_cross_entropy_with_logits(outputs, targets, reduction="none")
    elif kind == "ce":
        per = -targets * F.log_softmax(outputs, dim=-1)
        mask = mask.any(dim=-1, keepdim=True)
    else:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {kind!r}")
    return (per * mask).sum() / outputs.shape[1]


def predictions(outputs: torch.Tensor, kind: str) -> torch.Tensor:
    """Outputs in the targets' space: logistic of the logits for ``bce``, softmax for ``ce``,
    unchanged for ``sse``."""
    if kind == "ce":
        return torch.softmax(outputs, dim=-1)
    return torch.sigmoid(outputs) if kind == "bce" else outputs


def force_state(state: State, target: torch.Tensor, mask: torch.Tensor) -> State:
    """Teacher forcing: the output units' y_k(t) replaced by d_k(t) where a target exists.

    The targets are constants, so autograd sees no path through the forced units — exactly
    RTRL's p^k = 0 for them (Williams & Zipser eq. 2.19).
    """
    (y,) = state
    k = target.shape[1]
    forced = torch.where(mask, target.to(y.dtype), y[:, :k])
    return (torch.cat([forced, y[:, k:]], dim=1),)


def run_sequence(
    controller: Controller,
    inputs: torch.Tensor,
    state: State | None = None,
    *,
    targets: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    teacher_forcing: bool = False,
    forced_steps: int | None = None,
    params: Params | None = None,
) -> tuple[torch.Tensor, State]:
    """Unroll ``controller`` over (T, B, obs_dim) inputs, optionally teacher-forced.

    Args:
        controller: Any evorl controller; teacher forcing needs ``fully_recurrent``.
        inputs: (T, B, obs_dim).
        state: Start state; None for the zero state.
        targets: (T, B, out_dim), needed for teacher forcing.
        mask: (T, B, out_dim) bool, where targets exist.
        teacher_forcing: Feed ``targets[t - 1]`` in place of the outputs before step t.
        forced_steps: Force only with the first this many targets (free running afterwards).
        params: Population parameters (``controller.population_params``), or None.

    Returns:
        Outputs (T, B, out_dim) and the final state.
    """
    if state is None:
        state = controller.initial_state(inputs.shape[1], dtype=inputs.dtype)
    if not teacher_forcing:
        return controller.unroll(inputs, state, params=params)
    if not isinstance(controller, FullyRecurrentController):
        raise ValueError("teacher forcing needs the fully_recurrent controller (outputs are units)")
    outputs = []
    limit = inputs.shape[0] if forced_steps is None else forced_steps
    for t in range(inputs.shape[0]):
        if 0 < t <= limit:
            state = force_state(state, targets[t - 1], mask[t - 1])
        out, state = controller(inputs[t], state, params)
        outputs.append(out)
    return torch.stack(outputs), state


def make_torch_optimizer(
    name: str, params: Iterable[torch.nn.Parameter], lr: float, momentum: float = 0.0
) -> torch.optim.Optimizer:
    """``adam`` (Kingma & Ba 2015) or ``sgd`` (plain steepest descent, optional momentum)."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")


def bptt_step(
    controller: Controller,
    optimizer: torch.optim.Optimizer,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    mask: torch.Tensor,
    loss: str,
    *,
    window: int | None = None,
    clip: float | None = None,
    teacher_forcing: bool = False,
) -> float:
    """Train on one batch of sequences by full (``window=None``) or truncated BPTT.

    Truncated: the sequence is cut into windows of ``window`` steps; after each window that
    holds a target the weights are updated, and the state goes on into the next window
    detached. A window as long as the sequence is full BPTT.

    Returns:
        The batch loss (sum over windows of :func:`sequence_loss`).
    """
    steps = inputs.shape[0]
    window = steps if window is None else int(window)
    if window < 1:
        raise ValueError("window must be >= 1")
    state = controller.initial_state(inputs.shape[1], dtype=inputs.dtype)
    total = 0.0
    for start in range(0, steps, window):
        stop = min(start + window, steps)
        if teacher_forcing and start > 0:
            state = force_state(state, targets[start - 1], mask[start - 1])
        piece = slice(start, stop)
        out, state = run_sequence(
            controller,
            inputs[piece],
            state,
            targets=targets[piece],
            mask=mask[piece],
            teacher_forcing=teacher_forcing,
        )
        state = tuple(s.detach() for s in state)
        if not mask[piece].any():
            continue  # no target in this window: nothing to learn, no optimiser step
        value = sequence_loss(out, targets[piece], mask[piece], loss)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(controller.parameters(), clip)
        optimizer.step()
        total += float(value.detach())
    return total


GATES = ("input", "forget")
"""The LSTM gates whose bias :func:`set_gate_bias` sets."""


@torch.no_grad()
def set_gate_bias(controller: Controller, gate: str, value: float) -> None:
    """Set every LSTM layer's ``input`` or ``forget`` gate bias to ``value``.

    Hochreiter & Schmidhuber (1997) started the input gates closed (negative biases), so that
    distractors do not fill the cells before the net has learned what to store; Gers et al.
    (2000) start the forget gate open (positive bias: remember first).

    Raises:
        ValueError: Not an LSTM, an unknown gate, or the forget gate switched off.
    """
    if gate not in GATES:
        raise ValueError(f"gate must be one of {', '.join(GATES)}, got {gate!r}")
    if not isinstance(controller, LSTMController):
        raise ValueError(f"{gate}_bias needs the lstm controller (set {gate}_bias=null for others)")
    if gate == "forget" and not controller.config.forget_gate:
        raise ValueError("forget_bias needs the lstm controller with forget_gate=True")
    block = GATES.index(gate)  # gate blocks: i, f, g, o (i, g, o without a forget gate)
    for layer, width in enumerate(controller.config.hidden):
        getattr(controller, f"b{layer}")[block * width : (block + 1) * width] = value


def set_forget_bias(controller: Controller, value: float) -> None:
    """Set every LSTM layer's forget-gate bias to ``value`` (Gers et al. 2000: remember first).

    Raises:
        ValueError: The controller is not an LSTM with a forget gate.
    """
    set_gate_bias(controller, "forget", value)
