"""Stochastic heads and a value head around an evorl :class:`~evorl.controllers.Controller`.

Evolution acts with the controller's deterministic head (:meth:`Controller.act`: argmax, or the
tanh-scaled / clipped output). Policy gradients need a distribution over actions; this module
builds it on the *same* raw outputs, so the controller trained by gradient is the controller
evolution uses — same flat parameter vector — and its deterministic action is the mode of the
distribution:

* ``Discrete(n)`` and ``MultiDiscrete(nvec)``: a categorical distribution per component with
  the controller's outputs for that component as logits (mode = argmax = ``act``);
  log-probability and entropy are summed over components.
* ``MultiBinary``: a Bernoulli per entry with the output as its logit (mode = ``output > 0`` =
  ``act``); log-probability and entropy summed.
* ``Box`` (any shape, flattened): a diagonal Gaussian whose mean is the deterministic action
  before the final clamp (``tanh`` heads: ``mid + half · tanh(out)``; ``clip`` heads: the linear
  output) and whose state-independent log standard deviation is learned. Samples are clipped to
  the bounds (and shaped as the space) only when sent to the environment; log-probabilities use
  the unclipped sample.

The layout of every space comes from :func:`evorl.spaces.action_components`.

The value head (Wierstra et al.'s history-dependent baseline) is a linear map of the
controller's top-layer hidden state after each step — the features the controller's own readout
sees — so the baseline depends on the same history the policy acts from (feed-forward
controllers: on the observation). Value head and log-std are kept outside the
controller (in this module) and never enter the flat vector.

References:
    Wierstra, Foerster, Peters & Schmidhuber, "Solving deep memory POMDPs with recurrent policy
    gradients", ICANN 2007; "Recurrent policy gradients", Logic Journal of the IGPL 18(5), 2010.

Example:
    >>> from evorl.controllers import ControllerConfig, build_controller
    >>> space = gym.spaces.Discrete(2)
    >>> controller = build_controller(ControllerConfig("lstm", (4,)), 3, space, seed=0)
    >>> policy = RecurrentPolicy(controller, space, PolicyConfig(), seed=0)
    >>> outputs, value, state = policy.step(torch.zeros(8, 3), policy.initial_state(8))
    >>> action = policy.sample(outputs, torch.Generator().manual_seed(0))
    >>> tuple(action.shape), tuple(value.shape)
    ((8,), (8,))
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch

from evorl.controllers import Controller, State
from evorl.controllers.init import make_generator
from evorl.gradient.config import PolicyConfig
from evorl.gradient.fast_lstm import FastLSTM, supports
from evorl.spaces import action_components

LOG_2PI = math.log(2.0 * math.pi)


class RecurrentPolicy(torch.nn.Module):
    """A controller plus an action distribution (categorical, Bernoulli or Gaussian) and a
    value head.

    Args:
        controller: The evorl controller (trained in place; its flat vector is the policy).
        action_space: The env's ``Discrete``, ``MultiDiscrete``, ``MultiBinary`` or ``Box``
            action space.
        config: Head settings.
        seed: Seeds the value head's orthogonal initialisation (a private generator).
    """

    def __init__(
        self,
        controller: Controller,
        action_space: gym.spaces.Space,
        config: PolicyConfig,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.controller = controller
        self.config = config
        self.layout = action_components(action_space)
        self.discrete = self.layout.kind != "box"
        sizes = controller.state_sizes
        self.use_state = config.value_from == "state" and bool(sizes)
        self._top = controller.hidden_state_index  # the top layer's hidden vector (B, H)
        self.value_head = torch.nn.Linear(
            sizes[self._top] if self.use_state else controller.obs_dim, 1
        )
        gen = make_generator(seed)
        with torch.no_grad():
            torch.nn.init.orthogonal_(self.value_head.weight, generator=gen)
            self.value_head.bias.zero_()
        if self.discrete:
            self.log_std = None
        else:
            dim = controller.out_dim
            self.log_std = torch.nn.Parameter(torch.full((dim,), float(config.log_std_init)))
        self.fast = FastLSTM(controller) if supports(controller) else None

    # ----------------------------------------------------------------- recurrent core
    def initial_state(self, batch: int, dtype: torch.dtype | None = None) -> State:
        """Zero recurrent state for ``batch`` rows, in the parameters' dtype."""
        dtype = dtype or self.value_head.weight.dtype
        return self.controller.initial_state(batch, dtype=dtype)

    def _value(self, obs: torch.Tensor, top: torch.Tensor | None) -> torch.Tensor:
        return self.value_head(top if self.use_state else obs).squeeze(-1)

    def step(self, obs: torch.Tensor, state: State) -> tuple[torch.Tensor, torch.Tensor, State]:
        """One time step: raw outputs (B, out), value (B,) and the next state."""
        outputs, state = self.controller(obs, state)
        return outputs, self._value(obs, state[self._top] if self.use_state else None), state

    def unroll(
        self,
        obs_seq: torch.Tensor,
        state: State,
        episode_start: torch.Tensor | None = None,
        window: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run (T, B, obs) -> outputs (T, B, out) and values (T, B), differentiably.

        As :meth:`Controller.unroll`: where ``episode_start[t, b]`` the state of row b is reset
        before step t. With ``window`` the state is detached every ``window`` steps (truncated
        backpropagation through time; the forward pass is unchanged). LSTM controllers run on
        ``torch.nn.LSTM``'s kernel (:mod:`evorl.gradient.fast_lstm`), the others step by step.
        """
        if self.fast is not None and (window is None or episode_start is None):
            if window is None:
                top = self.fast.top_hidden(obs_seq, state, episode_start)
            else:
                parts = []
                for t in range(0, obs_seq.shape[0], window):
                    part, state = self.fast.run(obs_seq[t : t + window], state)
                    parts.append(part)
                    state = tuple(s.detach() for s in state)
                top = torch.cat(parts)
            c = self.controller
            outputs = c.readout(top.flatten(0, 1), c._params(None)).unflatten(0, top.shape[:2])
            return outputs, self._value(obs_seq, top)
        outputs, values = [], []
        for t in range(obs_seq.shape[0]):
            if window is not None and t > 0 and t % window == 0:
                state = tuple(s.detach() for s in state)
            if episode_start is not None:
                state = self.controller.reset_state(state, episode_start[t])
            out, value, state = self.step(obs_seq[t], state)
            outputs.append(out)
            values.append(value)
        return torch.stack(outputs), torch.stack(values)

    # ----------------------------------------------------------------- distributions
    def mean(self, outputs: torch.Tensor) -> torch.Tensor:
        """Gaussian mean: the deterministic action before its final clamp (flat)."""
        return self.controller.head.squash(outputs)

    def _logits(self, outputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.split(outputs, self.layout.sizes, dim=-1)

    def sample(self, outputs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """An action per row: category indices (B,) or (B, k) from 0, Bernoulli 0/1 (B, n)
        floats, or an unclipped flat Gaussian sample (B, k)."""
        kind = self.layout.kind
        if kind == "categorical":
            picks = [
                torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)
                for logits in self._logits(outputs)
            ]
            action = torch.cat(picks, dim=-1)
            return action.squeeze(-1) if not self.layout.shape else action
        if kind == "bernoulli":
            u = torch.rand(outputs.shape, generator=generator, dtype=outputs.dtype)
            return (u < torch.sigmoid(outputs)).to(outputs.dtype)
        noise = torch.randn(outputs.shape, generator=generator, dtype=outputs.dtype)
        return self.mean(outputs) + self.log_std.exp() * noise

    def log_prob(self, outputs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """log π(action | history) for outputs (..., out) and actions as :meth:`sample` gives,
        summed over components."""
        kind = self.layout.kind
        if kind == "categorical":
            index = actions.long() if self.layout.shape else actions.long().unsqueeze(-1)
            total = outputs.new_zeros(outputs.shape[:-1])
            for i, logits in enumerate(self._logits(outputs)):
                logp = torch.log_softmax(logits, dim=-1)
                total = total + logp.gather(-1, index[..., i : i + 1]).squeeze(-1)
            return total
        if kind == "bernoulli":
            bce = torch.nn.functional.binary_cross_entropy_with_logits
            return -bce(outputs, actions.to(outputs.dtype), reduction="none").sum(-1)
        z = (actions - self.mean(outputs)) * torch.exp(-self.log_std)
        return (-0.5 * z * z - self.log_std - 0.5 * LOG_2PI).sum(-1)

    def entropy(self, outputs: torch.Tensor) -> torch.Tensor:
        """Entropy of the action distribution per row (...,), summed over components."""
        kind = self.layout.kind
        if kind == "categorical":
            total = outputs.new_zeros(outputs.shape[:-1])
            for logits in self._logits(outputs):
                logp = torch.log_softmax(logits, dim=-1)
                total = total - (logp.exp() * logp).sum(-1)
            return total
        if kind == "bernoulli":
            p = torch.sigmoid(outputs)
            bce = torch.nn.functional.binary_cross_entropy_with_logits
            return bce(outputs, p, reduction="none").sum(-1)
        per_dim = self.log_std + 0.5 * (1.0 + LOG_2PI)
        return per_dim.sum().expand(outputs.shape[:-1])

    def env_action(self, actions: torch.Tensor) -> np.ndarray:
        """Actions as the env takes them: ``start + index`` per component, 0/1 as int8 in the
        space's shape, or the sample clipped to the box and shaped as the space."""
        kind = self.layout.kind
        if kind == "categorical":
            start = np.asarray(self.layout.start, np.int64)
            return actions.numpy().astype(np.int64) + (start if self.layout.shape else start[0])
        if kind == "bernoulli":
            return actions.numpy().astype(np.int8).reshape(len(actions), *self.layout.shape)
        return self.controller.head.clamp(actions).numpy()


def optimizer_step(
    policy: RecurrentPolicy,
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    max_grad_norm: float | None,
) -> float:
    """Backpropagate ``loss``, clip the global gradient norm, take one Adam step.

    Returns:
        The gradient's global norm before clipping.
    """
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for p in policy.parameters() if p.grad is not None]
    limit = max_grad_norm if max_grad_norm is not None else math.inf
    norm = torch.nn.utils.clip_grad_norm_(params, limit)
    optimizer.step()
    return float(norm)
