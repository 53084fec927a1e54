"""Adaptive weight noise: stochastic variational inference / minimum description length training.

Graves, "Practical variational inference for neural networks", NIPS 2011; RNNLIB's ``mdl``
options. Every weight w_i of a net gets a Gaussian posterior N(mu_i, sigma_i^2); the net is run
with sampled weights w = mu + sigma * eps, eps ~ N(0, I), and trained on the description length

    L(mu, sigma) = L^E + L^C
    L^E = E_w[ -ln p(data | w) ]                 Monte Carlo over ``samples`` draws
    L^C = mdlWeight * sum_i KL( N(mu_i, sigma_i^2) || N(mu_hat, sigma_hat^2) )

with the *adaptive prior* one Gaussian over all weights whose parameters minimise L^C given the
posterior (Graves 2011, section 5.1 and RNNLIB's Trainer::mdl_calculate_prior_params)::

    mu_hat      = mean_i mu_i
    sigma_hat^2 = mean_i [ sigma_i^2 + (mu_i - mu_hat)^2 ]
    KL_i        = ln(sigma_hat / sigma_i) + (sigma_i^2 + (mu_i - mu_hat)^2 - sigma_hat^2)
                  / (2 sigma_hat^2)

Because the prior is optimal, L^C's derivatives through mu_hat and sigma_hat vanish, and
autograd through them gives exactly the paper's and RNNLIB's partial derivatives
dL^C/dmu_i = (mu_i - mu_hat) / sigma_hat^2 and dL^C/dsigma_i = sigma_i / sigma_hat^2 - 1 / sigma_i
(scaled by mdlWeight; checked in the tests).

Choices against RNNLIB:

* Parameters are the means (the net's own weights) and **log sigma** (RNNLIB keeps sigma and
  takes its absolute value after each update); log sigma needs no such fix-up.
* The derivative of L^E with respect to sigma is the exact pathwise one, ``eps * dL/dw``, for the
  drawn noise (what the finite-difference test checks). RNNLIB instead uses Graves' biased
  Gauss-Newton estimate ``sigma * (dL/dw)^2`` (the paper's diagonal-Fisher approximation of
  the curvature); both estimate the same expected gradient.
* L^C is per training set: a minibatch of m sequences out of N adds ``m / N * L^C`` (RNNLIB's
  ``regularise(invTrainSeqs * seqsSinceWeightUpdate * mdlWeight)``), so one epoch adds L^C
  once; ``batch_fraction`` below.
* Evaluation uses the means (RNNLIB's test and validation errors are computed without noise).

RNNLIB options: ``mdl`` (wrap or not), ``mdlWeight`` (``mdl_weight``: 0 no regulariser, 1 the
true description length), ``mdlInitStdDev`` (``init_std``, 0.075), ``mdlSamples``
(``samples``: draws averaged per sequence), ``mdlSymmetricSampling`` (``symmetric``: every odd
draw is the antithetic -eps of the one before, which cancels the odd-order noise terms).

Example:
    >>> net = torch.nn.Linear(3, 2)
    >>> noisy = AdaptiveWeightNoise(net, samples=2, symmetric=True, seed=0)
    >>> x, y = torch.randn(5, 3), torch.randn(5, 2)
    >>> loss = noisy.mdl_loss(lambda model: ((model(x) - y) ** 2).sum(), batch_fraction=0.1)
    >>> loss.backward()
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.func import functional_call

from evorl.controllers.init import make_generator

Noise = list[torch.Tensor]
Model = Callable[..., Any]


class AdaptiveWeightNoise(torch.nn.Module):
    """A diagonal Gaussian posterior over all parameters of ``net`` (the means stay in ``net``).

    Args:
        net: Any module (a :class:`~evorl.labelling.bidirectional.SequenceNet`, a
            :class:`~evorl.labelling.mdlstm.HierarchicalMDLSTM`, an evorl controller, ...).
        init_std: Initial sigma of every weight (``mdlInitStdDev``).
        samples: Monte Carlo draws per loss evaluation (``mdlSamples``).
        symmetric: Antithetic pairs (``mdlSymmetricSampling``).
        mdl_weight: Factor on L^C (``mdlWeight``).
        seed: Seeds the private noise generator.
    """

    def __init__(
        self,
        net: torch.nn.Module,
        *,
        init_std: float = 0.075,
        samples: int = 1,
        symmetric: bool = False,
        mdl_weight: float = 1.0,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if not init_std > 0:
            raise ValueError("init_std (mdlInitStdDev) must be > 0")
        if samples < 1:
            raise ValueError("samples (mdlSamples) must be >= 1")
        if not mdl_weight >= 0:
            raise ValueError("mdl_weight (mdlWeight) must be >= 0")
        self.net = net
        self.names = [name for name, _ in net.named_parameters()]
        self.log_std = torch.nn.ParameterList(
            torch.nn.Parameter(torch.full_like(p.detach(), math.log(init_std)))
            for p in net.parameters()
        )
        self.samples, self.symmetric, self.mdl_weight = int(samples), bool(symmetric), mdl_weight
        self.gen = make_generator(seed)

    def means(self) -> list[torch.Tensor]:
        return list(self.net.parameters())

    def draw(self) -> Noise:
        """One standard normal tensor per parameter, from the private generator."""
        return [
            torch.randn(p.shape, generator=self.gen, dtype=p.dtype).to(p.device)
            for p in self.means()
        ]

    def draws(self) -> list[Noise]:
        """``samples`` noise draws; with ``symmetric`` each odd one negates the one before."""
        out: list[Noise] = []
        for s in range(self.samples):
            out.append([-e for e in out[-1]] if self.symmetric and s % 2 else self.draw())
        return out

    def model(self, noise: Noise) -> Model:
        """``net`` as a function with weights mu + exp(log sigma) * noise (differentiable)."""
        weights = {
            name: mu + rho.exp() * eps
            for name, mu, rho, eps in zip(
                self.names, self.means(), self.log_std, noise, strict=True
            )
        }
        return lambda *args, **kwargs: functional_call(self.net, weights, args, kwargs)

    def prior(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The adaptive prior's (mu_hat, sigma_hat^2) for the current posterior."""
        mu = torch.cat([p.reshape(-1) for p in self.means()])
        var = torch.cat([(2 * r).exp().reshape(-1) for r in self.log_std])
        mu_hat = mu.mean()
        return mu_hat, (var + (mu - mu_hat) ** 2).mean()

    def complexity(self) -> torch.Tensor:
        """L^C: mdlWeight times the KL divergence of the posterior from the adaptive prior, nats."""
        mu_hat, var_hat = self.prior()
        mu = torch.cat([p.reshape(-1) for p in self.means()])
        var = torch.cat([(2 * r).exp().reshape(-1) for r in self.log_std])
        kl = 0.5 * (var_hat.log() - var.log()) + (var + (mu - mu_hat) ** 2 - var_hat) / (
            2 * var_hat
        )
        return self.mdl_weight * kl.sum()

    def expected_loss(
        self, loss_fn: Callable[[Model], torch.Tensor], noises: list[Noise] | None = None
    ) -> torch.Tensor:
        """L^E: the mean of ``loss_fn(model)`` over ``samples`` draws (or the given ``noises``)."""
        noises = self.draws() if noises is None else noises
        return torch.stack([loss_fn(self.model(eps)) for eps in noises]).mean()

    def mdl_loss(
        self,
        loss_fn: Callable[[Model], torch.Tensor],
        batch_fraction: float,
        noises: list[Noise] | None = None,
    ) -> torch.Tensor:
        """L^E + batch_fraction * L^C for one update.

        Args:
            loss_fn: Takes the sampled model (called like ``net``) and returns the batch's
                summed -ln p (e.g. ``ctc_loss(..., reduction="sum")``).
            batch_fraction: Sequences in the batch over sequences in the training set.
            noises: Fixed draws (tests, antithetic bookkeeping); default: fresh ones.
        """
        return self.expected_loss(loss_fn, noises) + batch_fraction * self.complexity()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The net with its mean weights (evaluation)."""
        return self.net(*args, **kwargs)
