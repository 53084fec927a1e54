"""Fast weight programmers: a slow net writes key-value associations into a fast weight matrix.

Schmidhuber, "Learning to control fast-weight memories: an alternative to dynamic recurrent
networks", Neural Computation 4(1), 1992 (the fast weight programmer, FWP: a slow net emits
patterns whose outer products change the weights of a fast net); Schlag, Irie & Schmidhuber,
"Linear Transformers are secretly fast weight programmers", ICML 2021 (the sum update is causal
linear attention; the delta rule with learned write strength, sec. 4.2; DPFP, sec. 5.4), checked
against their released code (github.com/IDSIA/lmtool-fwp and ischlag/fast-weight-transformers).

Per layer, with x the layer input and y(t-1) the layer's previous output, the slow net is one
affine map (the y(t-1) term only with ``config.slow_recurrent``)::

    [k, q, v, b] = x W_x [+ y(t-1) W_y] + b_slow            k, q: d_k   v: d_v   b: 1 (delta)
    φ̂(z) = φ(z) / (Σ_j φ(z)_j + ε)                           sum normalisation, ε = 1e-6
    fwp_sum:   W(t) = W(t-1) + v ⊗ φ̂(k)
    fwp_delta: v̄ = W(t-1) φ̂(k),  β = σ(b)
               W(t) = W(t-1) + β (v - v̄) ⊗ φ̂(k)
    y(t) = W(t) φ̂(q)

W is (d_v, d_φ): row i holds what value unit i reads at each feature (v ⊗ φ̂(k) = v φ̂(k)^T,
Schlag et al.'s orientation). The write comes before the read, so y(t) sees the association of
step t: unrolled from W = 0 the sum rule gives y(t) = Σ_{s<=t} v(s) (φ̂(k(s)) · φ̂(q(t))), row t
of causal linear attention (φ̂(Q) φ̂(K)^T ⊙ M) V with M lower-triangular ones. φ is
``config.feature_map``: "elu", 1 + ELU(z) (Katharopoulos et al. 2020), d_φ = d_k; or "dpfpν",
Schlag et al.'s DPFP, d_φ = 2ν d_k. Both rules sum-normalise φ, as Schlag et al. do in place
of the attention denominator ("crucial for stable training", their code says); it also keeps the
delta rule non-expansive: W(t) = W(t-1) (I - β φ̂ φ̂^T) + β v φ̂^T with ||φ̂||_2 <= Σ φ̂ <= 1.
ε guards DPFP's all-zero features (their code adds the same 1e-6 to the query's sum). The delta
rule writes only what the memory lacks: where W(t-1) already maps φ̂(k) to v, v - v̄ = 0 and W
is unchanged.

Outputs are ``y_L(t) W_out + b_out``; layer l > 0 reads y_{l-1}(t).

Flat parameter order: for each layer l: ``w_x{l}`` (in_l, P_l), ``w_y{l}`` (d_v, P_l) if
``slow_recurrent``, ``b{l}`` (P_l,), with P_l = 2 d_k + d_v (+ 1 for "fwp_delta") and blocks
k, q, v (, b) along the last axis; then ``w_out`` (d_v of the last layer, out_dim),
``b_out`` (out_dim,). d_v = ``hidden[l]``, d_k = ``key_size`` or d_v.
State: ``(y_0, W_0, y_1, W_1, ...)``, y_l (B, d_v), W_l (B, d_v, d_φ).
"""

from __future__ import annotations

import re

import numpy as np
import torch

from evorl.controllers.base import Controller, Params, State
from evorl.controllers.functional import linear, sigmoid
from evorl.controllers.init import init_param

NORM_EPS = 1e-6
"""ε of the sum normalisation φ̂(z) = φ(z) / (Σ φ(z) + ε)."""

RULES = {"fwp_sum": "sum", "fwp_delta": "delta"}


def elu_feature(z: torch.Tensor) -> torch.Tensor:
    """1 + ELU(z) (Katharopoulos et al. 2020), positive everywhere.

    Written with ``exp`` (batch-invariant bitwise, see :mod:`evorl.controllers.functional`); the
    clamp keeps the unused branch finite, so its gradient is not NaN.
    """
    return torch.where(z > 0, z + 1, torch.exp(torch.clamp(z, max=0.0)))


def dpfp_feature(z: torch.Tensor, nu: int) -> torch.Tensor:
    """DPFP-ν (Schlag et al. 2021, sec. 5.4): r = [relu(z), relu(-z)], products r_i r_{i-j}.

    Returns (..., 2ν d): for j = 1..ν the block r ⊙ roll(r, j).
    """
    r = torch.cat([torch.relu(z), torch.relu(-z)], dim=-1)
    return torch.cat([r * torch.roll(r, j, dims=-1) for j in range(1, nu + 1)], dim=-1)


def feature_map(name: str, z: torch.Tensor) -> torch.Tensor:
    """φ̂(z): the feature map ``name`` ("elu", "dpfp1".."dpfp3"), sum-normalised."""
    phi = elu_feature(z) if name == "elu" else dpfp_feature(z, int(name[len("dpfp") :]))
    return phi / (phi.sum(dim=-1, keepdim=True) + NORM_EPS)


def layer_of(name: str) -> int:
    """The layer number l at the end of a parameter name such as ``w_x{l}``."""
    return int(re.search(r"\d+$", name).group())


def feature_size(name: str, key_size: int) -> int:
    """d_φ, the width of φ(k) for keys of width ``key_size``."""
    return key_size if name == "elu" else 2 * int(name[len("dpfp") :]) * key_size


class FastWeightController(Controller):
    """Fast weight programmer layers (sum or delta-rule update by ``config.kind``), linear readout.

    Example:
        >>> import gymnasium as gym
        >>> from evorl.controllers import ControllerConfig, build_controller
        >>> cfg = ControllerConfig(kind="fwp_delta", hidden=(8,), key_size=4)
        >>> ctrl = build_controller(cfg, 3, gym.spaces.Discrete(2), seed=0)
        >>> [tuple(s.shape) for s in ctrl.initial_state(5)]
        [(5, 8), (5, 8, 4)]
    """

    def build(self) -> None:
        config = self.config
        self.rule = RULES[config.kind]
        self.keys = tuple(config.key_size or width for width in config.hidden)
        in_dim, sizes = self.obs_dim, []
        for layer, (width, d_k) in enumerate(zip(config.hidden, self.keys, strict=True)):
            slow = 2 * d_k + width + (self.rule == "delta")
            self.add_param(f"w_x{layer}", (in_dim, slow), "custom")
            if config.slow_recurrent:
                self.add_param(f"w_y{layer}", (width, slow), "custom")
            self.add_param(f"b{layer}", (slow,), "bias")
            sizes += [width, (width, feature_size(config.feature_map, d_k))]
            in_dim = width
        self.add_readout(in_dim)
        self.state_sizes = tuple(sizes)

    @torch.no_grad()
    def _init_parameters(self, gen: torch.Generator) -> None:
        # Slow matrices: the input role on each block (k, q, v, b) on its own, so Xavier-normal
        # scales with the block's width; everything else by its registered role.
        for name, role, blocks in self._specs:
            p = getattr(self, name)
            if role != "custom":
                init_param(p, role, self.config, gen, blocks)
                continue
            start = 0
            for width in self._blocks(layer_of(name)):
                init_param(p[:, start : start + width], "input", self.config, gen)
                start += width

    def _blocks(self, layer: int) -> tuple[int, ...]:
        """Widths of the slow net's output blocks k, q, v (, b) in layer ``layer``."""
        d_k, width = self.keys[layer], self.config.hidden[layer]
        return (d_k, d_k, width) + ((1,) if self.rule == "delta" else ())

    @property
    def hidden_state_index(self) -> int:
        """y of the last layer (its W follows it)."""
        return len(self.state_sizes) - 2

    def _layer(
        self, layer: int, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, p: Params
    ) -> tuple[torch.Tensor, torch.Tensor]:
        slow = linear(x, p[f"w_x{layer}"], p[f"b{layer}"])
        if self.config.slow_recurrent:
            slow = slow + linear(y, p[f"w_y{layer}"])
        k, q, v, *beta = slow.split(self._blocks(layer), dim=-1)
        k = feature_map(self.config.feature_map, k)
        q = feature_map(self.config.feature_map, q)
        if self.rule == "delta":
            v_bar = torch.bmm(w, k.unsqueeze(2)).squeeze(2)
            v = sigmoid(beta[0]) * (v - v_bar)
        w = w + v.unsqueeze(2) * k.unsqueeze(1)
        return torch.bmm(w, q.unsqueeze(2)).squeeze(2), w

    def forward(
        self, obs: torch.Tensor, state: State, params: Params | None = None
    ) -> tuple[torch.Tensor, State]:
        return self._paired_layers(obs, state, self._params(params), self._layer)

    def unit_index(self, readout: bool = True) -> np.ndarray:
        """ESP partition (the semantics of :meth:`Controller.unit_index`) of the flat vector.

        A unit is one neuron of the slow net, with key and query neuron j paired: address unit
        j owns columns j (its key) and d_k + j (its query) of the layer's slow weights and bias
        (the two meet in feature j of φ̂(k) · φ̂(q), so ESP should vary them together); value
        unit i owns column 2 d_k + i, and, in the last layer when ``readout``, readout row
        ``w_out[i]`` (value i is what output y_i reads); "fwp_delta" adds one unit for the β
        neuron. A layer has d_k + d_v (+ 1) units, numbered after the earlier layers';
        ``b_out`` is shared (-1); with ``readout=False`` the readout genes are -2.
        """
        owners, first = [], 0  # owners[l][c]: the unit of column c of layer l's slow weights
        for d_k, width in zip(self.keys, self.config.hidden, strict=True):
            address, value = np.arange(d_k), d_k + np.arange(width)
            beta = np.arange(d_k + width, d_k + width + (self.rule == "delta"))
            owners.append(first + np.concatenate([address, address, value, beta]))
            first = int(owners[-1].max()) + 1
        parts = []
        for name, _, shape in self.flat_layout():
            if name in ("w_out", "b_out"):
                if not readout:
                    parts.append(np.full(shape.numel(), -2))
                elif name == "w_out":
                    value_units = owners[-1][2 * self.keys[-1] :][: shape[0]]
                    parts.append(np.repeat(value_units, shape[1]))
                else:
                    parts.append(np.full(shape.numel(), -1))
                continue
            parts.append(np.broadcast_to(owners[layer_of(name)], shape).reshape(-1))
        return np.concatenate(parts).astype(np.int64)
