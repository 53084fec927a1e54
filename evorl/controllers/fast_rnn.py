"""Ba et al.'s fast weights RNN: a ReLU RNN that attends to its recent past through A(t).

Ba, Hinton, Mnih, Leibo & Ionescu, "Using fast weights to attend to the recent past",
NIPS 2016 (arXiv 1610.06258), sec. 3: the fast associative memory with layer normalisation
in the inner loop. Per layer, with x(t) the layer input and h(t) the layer's previous output::

    A(t)      = λ A(t-1) + η h(t) h(t)^T                   (A(0) = 0)
    h_0(t+1)  = f(W h(t) + C x(t) + b)                     (the preliminary vector)
    h_{s+1}(t+1) = f(LN[W h(t) + C x(t) + b + A(t) h_s(t+1)])   s = 0 .. S-1
    h(t+1)    = h_S(t+1)

(the paper's update of A and its layer-normalised inner loop; only the paper's first pages
could be read when this was written, so the equations were checked against public
reimplementations of it, which agree on them up to where A takes in h and whether h_0 is
normalised: here A(t) takes in h(t) before h(t+1) is computed, and h_0 is not normalised).

f is ReLU (always: ``config.activation`` is ignored, as in the paper's model); LN is layer
normalisation over the layer's R units with a learned gain g and bias β (Ba, Kiros & Hinton
2016), LN(z) = g ⊙ (z - mean(z)) / sqrt(var(z) + 1e-5) + β, var the biased variance, as
``torch.nn.functional.layer_norm``. λ (``config.fast_decay``), η (``config.fast_rate``) and
S (``config.fast_steps``) are fixed, not learned: the paper's λ = 0.95, η = 0.5, S = 1 are the
defaults. A(t) is symmetric, so A h and h^T A are the same. Unrolled from A = 0,
A(t) h = η Σ_{τ<=t} λ^{t-τ} h(τ) (h(τ) · h): attention to the past hidden vectors, weighted
by their scalar product with the current one (the paper's reading of the inner loop).

The state holds A(t) already updated with the h(t) it is stored beside, so the zero state
(h = 0, A = 0) is the start of a sequence and a step needs nothing else: a step reads
(h(t), A(t)), computes h(t+1), then A(t+1) = λ A(t) + η h(t+1) h(t+1)^T.

Outputs are ``h_L W_out + b_out``; layer l > 0 reads h_{l-1}(t+1). The learned input
embedding and the 100-unit ReLU layer before the softmax of the paper's associative-retrieval
net are the controller options ``embed`` and ``readout_hidden`` (the base class's, for every
cell that takes them): ``embed=100, readout_hidden=100`` is that net.

Flat parameter order: for each layer l: ``w_x{l}`` (in_l, R_l) (C^T), ``w_h{l}`` (R_l, R_l)
(W^T), ``b{l}`` (R_l,), ``ln_g{l}`` (R_l,), ``ln_b{l}`` (R_l,); then ``w_out`` (R_L, out_dim),
``b_out`` (out_dim,). State: ``(h_0, A_0, h_1, A_1, ...)``, h_l (B, R_l), A_l (B, R_l, R_l).
The "orthogonal" init sets W = 0.05 I (the paper's identity-scaled recurrent start, as for
its IRNN), C and W_out Xavier-normal, g = 1, b = β = b_out = 0; "uniform" draws every gene.
"""

from __future__ import annotations

import torch

from evorl.controllers.base import Controller, Params, State, cols
from evorl.controllers.functional import linear

LN_EPS = 1e-5
"""ε of the layer normalisation (``torch.nn.LayerNorm``'s default)."""

W_INIT = 0.05
"""The "orthogonal" init's W = 0.05 I."""


def layer_norm(z: torch.Tensor, gain: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """LN over the last axis with gain and bias of shape (R,) or, per individual, (B, R)."""
    centred = z - z.mean(dim=-1, keepdim=True)
    var = centred.square().mean(dim=-1, keepdim=True)
    return gain * centred * torch.rsqrt(var + LN_EPS) + bias


class FastRNNController(Controller):
    """Stacked fast-weights ReLU layers (Ba et al. 2016) and a linear readout.

    Example:
        >>> import gymnasium as gym
        >>> from evorl.controllers import ControllerConfig, build_controller
        >>> cfg = ControllerConfig(kind="fast_rnn", hidden=(20,))
        >>> ctrl = build_controller(cfg, 37, gym.spaces.Discrete(10), seed=0)
        >>> [tuple(s.shape) for s in ctrl.initial_state(5)], ctrl.num_params
        ([(5, 20), (5, 20, 20)], 1410)
    """

    io_layers = True

    def build(self) -> None:
        in_dim = self.in_dim
        for layer, width in enumerate(self.config.hidden):
            self.add_param(f"w_x{layer}", (in_dim, width), "input", unit=cols(layer))
            self.add_param(f"w_h{layer}", (width, width), "recurrent", unit=cols(layer))
            self.add_param(f"b{layer}", (width,), "bias", unit=cols(layer))
            self.add_param(f"ln_g{layer}", (width,), "bias", unit=cols(layer))
            self.add_param(f"ln_b{layer}", (width,), "bias", unit=cols(layer))
            in_dim = width
        self.add_readout(in_dim, layer=len(self.config.hidden) - 1)
        self.state_sizes = tuple(s for width in self.config.hidden for s in (width, (width, width)))

    @torch.no_grad()
    def _init_parameters(self, gen: torch.Generator) -> None:
        super()._init_parameters(gen)
        if self.config.init == "orthogonal":
            for layer, width in enumerate(self.config.hidden):
                getattr(self, f"w_h{layer}").copy_(W_INIT * torch.eye(width))
                getattr(self, f"ln_g{layer}").fill_(1.0)

    @property
    def hidden_state_index(self) -> int:
        """h of the last layer (its A follows it)."""
        return len(self.state_sizes) - 2

    def _layer(
        self, layer: int, x: torch.Tensor, h: torch.Tensor, a: torch.Tensor, p: Params
    ) -> tuple[torch.Tensor, torch.Tensor]:
        boundary = linear(x, p[f"w_x{layer}"], p[f"b{layer}"]) + linear(h, p[f"w_h{layer}"])
        h_s = torch.relu(boundary)
        for _ in range(self.config.fast_steps):
            attended = torch.bmm(a, h_s.unsqueeze(2)).squeeze(2)
            h_s = torch.relu(layer_norm(boundary + attended, p[f"ln_g{layer}"], p[f"ln_b{layer}"]))
        a = self.config.fast_decay * a + self.config.fast_rate * (
            h_s.unsqueeze(2) * h_s.unsqueeze(1)
        )
        return h_s, a

    def forward(
        self, obs: torch.Tensor, state: State, params: Params | None = None
    ) -> tuple[torch.Tensor, State]:
        return self._paired_layers(obs, state, self._params(params), self._layer)
