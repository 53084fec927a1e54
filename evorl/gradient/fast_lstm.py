"""A fast training path for evorl's LSTM: the same cell, run by ``torch.nn.LSTM``'s kernel.

evorl's :class:`~evorl.controllers.LSTMController` with ``forget_gate=True, peepholes=False`` is
``torch.nn.LSTM`` (gate order i, f, g, o; our one bias is ``bias_ih`` with ``bias_hh = 0``). Its
Python cell is written for population inference; for backpropagation through time on a CPU,
``torch.nn.LSTM`` runs the same recurrence 5–10× faster. This module runs the controller's own
parameters through ``torch.nn.LSTM`` with :func:`torch.func.functional_call` — transposed views
of ``w_x``, ``w_h``, so gradients land on the controller's parameters — and gives the top layer's
hidden states, equal to the Python path's to float rounding (the tests check values and
gradients).

``torch.nn.LSTM`` cannot reset its state mid-sequence, so sequences with episode starts inside
are cut into segments at those starts; each segment starts from zeros (an episode start) or from
the sequence's initial state, and all segments run side by side, zero-padded at their ends.
"""

from __future__ import annotations

import torch
from torch.func import functional_call

from evorl.controllers import Controller, LSTMController, State


def supports(controller: Controller) -> bool:
    """Whether ``controller`` is the ``torch.nn.LSTM`` cell (forget gate, no peepholes) on
    the observation (no ``embed``)."""
    cfg = controller.config
    lstm = isinstance(controller, LSTMController) and cfg.forget_gate and not cfg.peepholes
    return lstm and not cfg.embed


class FastLSTM:
    """Runs an :class:`LSTMController`'s layers with ``torch.nn.LSTM`` (see module docstring)."""

    def __init__(self, controller: LSTMController) -> None:
        if not supports(controller):
            raise ValueError("FastLSTM needs an LSTM controller with forget gate, no peepholes")
        self.ctrl = controller
        dims = (controller.obs_dim, *controller.config.hidden)
        # Templates only: their own parameters are never used (not registered anywhere).
        self.layers = [torch.nn.LSTM(dims[i], dims[i + 1]) for i in range(len(dims) - 1)]

    def _params(self, layer: int) -> dict[str, torch.Tensor]:
        c = self.ctrl
        bias = getattr(c, f"b{layer}")
        return {
            "weight_ih_l0": getattr(c, f"w_x{layer}").T,
            "weight_hh_l0": getattr(c, f"w_h{layer}").T,
            "bias_ih_l0": bias,
            "bias_hh_l0": torch.zeros_like(bias),
        }

    def run(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """(T, B, obs) from ``state`` without resets -> top-layer h (T, B, H) and final state."""
        final = []
        for layer, module in enumerate(self.layers):
            h0, c0 = state[2 * layer][None], state[2 * layer + 1][None]
            x, (hn, cn) = functional_call(module, self._params(layer), (x, (h0, c0)))
            final += [hn[0], cn[0]]
        return x, tuple(final)

    def top_hidden(
        self, x: torch.Tensor, state: State, episode_start: torch.Tensor | None
    ) -> torch.Tensor:
        """Top-layer h (T, B, H) of ``x`` (T, B, obs), state reset where ``episode_start``."""
        if episode_start is None:
            return self.run(x, state)[0]
        state = self.ctrl.reset_state(state, episode_start[0])
        if not bool(episode_start[1:].any()):
            return self.run(x, state)[0]
        steps, batch = episode_start.shape
        bounds = episode_start.T.reshape(-1).clone()  # column-major: sequence by sequence
        bounds[::steps] = True
        seg = torch.cumsum(bounds.long(), 0) - 1  # segment of every (sequence, t)
        first = torch.nonzero(bounds).squeeze(1)
        pos = torch.arange(steps * batch) - first[seg]  # position inside the segment
        column = first // steps
        fresh = (first % steps != 0).view(-1, 1)  # starts mid-sequence: an episode start
        flat = x.transpose(0, 1).reshape(steps * batch, -1)
        padded = flat.new_zeros(int(pos.max()) + 1, len(first), flat.shape[1])
        padded[pos, seg] = flat
        init = tuple(torch.where(fresh, s.new_zeros(()), s[column]) for s in state)
        top = self.run(padded, init)[0]
        return top[pos, seg].reshape(batch, steps, -1).transpose(0, 1)
