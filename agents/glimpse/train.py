"""Training the glimpse agent on digits with the hybrid loss of Mnih et al. (2014), Sec. 3.2.

The action network is trained by cross-entropy on the label (the supervised part); the locations
by REINFORCE (Williams 1992) with reward 1 for a correct classification and 0 otherwise, minus a
learned baseline:

    L = CE(logits_T, y) − 1/B Σ_b Σ_t log π(l_t | h_{t-1}) (R_b − b_{t-1})  +  MSE(b, R)

Where gradients stop: sampled locations are constants (the sensor is not differentiable), the
advantage ``R − b`` is a constant in the REINFORCE term, and the location and baseline networks
read a detached core state, so REINFORCE trains the location network, the regression trains the
baseline, and the cross-entropy alone trains the glimpse and core networks (see
:meth:`GlimpseAgent.forward <evorl.agents.glimpse.agent.GlimpseAgent.forward>` for why).

:func:`fit` is the shared loop (fresh canvases every epoch, Adam, cosine learning-rate decay,
global-norm clipping); the fully connected and convolutional baselines use it with plain
cross-entropy, so every model meets the same data and budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from evorl import seeding
from evorl.agents.glimpse.agent import Classification, GlimpseAgent, classify
from evorl.agents.glimpse.data import Digits, make_canvases
from evorl.device import resolve

BatchLoss = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]
Predict = Callable[[nn.Module, torch.Tensor], torch.Tensor]

STREAM_TEST_CANVASES = seeding.STREAM_TEST_CANVASES
STREAM_TRAIN_CANVASES = seeding.STREAM_TRAIN_CANVASES
STREAM_BATCHES = seeding.STREAM_BATCHES


@dataclass(frozen=True)
class FitConfig:
    """Data and budget of one supervised run (glimpse agent or baseline)."""

    task: str = "translated"
    """Canvas task: "mnist", "translated" or "cluttered" (see :mod:`.data`)."""
    epochs: int = 20
    """Passes over the training digits, each on freshly placed canvases."""
    batch_size: int = 64
    """Images per gradient step."""
    lr: float = 1e-3
    """Adam's initial learning rate (cosine decay to zero over the run)."""
    clip: float = 5.0
    """Global gradient-norm clip."""
    seed: int = 0
    """Seeds canvases, batch order and location noise (weights are seeded by the model)."""
    canvas: int = 60
    """Canvas side of the translated and cluttered tasks."""
    clutter: int = 4
    """Clutter pieces per canvas (cluttered task)."""
    device: str = "cpu"
    """Where the model trains and is tested (``cpu``, ``cuda``, ``cuda:N``, ``auto``); the
    canvases are made and the location noise drawn on the CPU, and the model comes back to the
    CPU at the end."""

    def to_dict(self) -> dict[str, object]:
        """The fields as a plain dict."""
        return asdict(self)


def hybrid_loss(out: Classification, labels: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Cross-entropy + REINFORCE with baseline + baseline regression (module docstring)."""
    ce = F.cross_entropy(out.logits, labels)
    reward = (out.logits.detach().argmax(-1) == labels).float()
    advantage = reward - out.baselines.detach()
    reinforce = -(out.log_probs * advantage).sum(0).mean()
    baseline = F.mse_loss(out.baselines, reward.expand_as(out.baselines))
    metrics = {"ce": ce.item(), "reward": reward.mean().item()}
    return ce + reinforce + baseline, metrics


def glimpse_batch_loss(
    agent: nn.Module, images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator
) -> torch.Tensor:
    """Hybrid loss of one minibatch, locations sampled with ``gen``."""
    return hybrid_loss(classify(agent, images, gen), labels)[0]


def glimpse_predict(agent: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Logits with deterministic (mean) locations."""
    return classify(agent, images, None).logits


def ce_batch_loss(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, _: torch.Generator
) -> torch.Tensor:
    """Plain cross-entropy, for the baselines."""
    return F.cross_entropy(model(images), labels)


def plain_predict(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Logits of a feed-forward baseline."""
    return model(images)


@torch.no_grad()
def test_error(model: nn.Module, predict: Predict, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` misclassified, in batches of 500."""
    model.eval()
    wrong = 0
    device = next(model.parameters()).device
    for start in range(0, len(images), 500):
        x = torch.from_numpy(images[start : start + 500]).to(device)
        y = torch.from_numpy(labels[start : start + 500]).to(device)
        wrong += int((predict(model, x).argmax(-1) != y).sum())
    model.train()
    return wrong / len(images)


def test_canvases(digits: Digits, cfg: FitConfig) -> np.ndarray:
    """The fixed test canvases of ``cfg`` (same for every model trained with the same seed)."""
    seed = seeding.int_seed(cfg.seed, STREAM_TEST_CANVASES)
    return make_canvases(digits.test_images, cfg.task, seed, cfg.canvas, cfg.clutter)


def fit(
    model: nn.Module,
    batch_loss: BatchLoss,
    predict: Predict,
    digits: Digits,
    cfg: FitConfig,
    log: Callable[[dict], None] | None = None,
) -> list[dict]:
    """Train ``model`` for ``cfg.epochs`` epochs; returns one record per epoch.

    Each record holds ``epoch``, ``loss`` (mean over the epoch), ``test_error`` and ``seconds``
    (wall time so far); ``log`` is called with each record as it is made.
    """
    steps_per_epoch = math.ceil(len(digits.train_images) / cfg.batch_size)
    device = resolve(cfg.device)
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs * steps_per_epoch)
    rng = np.random.default_rng(seeding.stream(cfg.seed, STREAM_BATCHES))
    gen = torch.Generator().manual_seed(seeding.int_seed(cfg.seed, STREAM_BATCHES))
    test_x = test_canvases(digits, cfg)
    labels = torch.from_numpy(digits.train_labels).to(device)
    history, start = [], time.perf_counter()
    for epoch in range(cfg.epochs):
        seed = seeding.int_seed(cfg.seed, STREAM_TRAIN_CANVASES, epoch)
        x = torch.from_numpy(
            make_canvases(digits.train_images, cfg.task, seed, cfg.canvas, cfg.clutter)
        ).to(device)
        order = torch.from_numpy(rng.permutation(len(x))).to(device)
        losses = []
        for batch in order.split(cfg.batch_size):
            loss = batch_loss(model, x[batch], labels[batch], gen)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            sched.step()
            losses.append(loss.item())
        record = {
            "epoch": epoch + 1,
            "loss": float(np.mean(losses)),
            "test_error": test_error(model, predict, test_x, digits.test_labels),
            "seconds": time.perf_counter() - start,
        }
        history.append(record)
        if log is not None:
            log(record)
    model.to("cpu")  # what callers save, draw and play with
    return history


def fit_glimpse(
    agent: GlimpseAgent, digits: Digits, cfg: FitConfig, log: Callable[[dict], None] | None = None
) -> list[dict]:
    """:func:`fit` with the hybrid loss and mean-location testing."""
    return fit(agent, glimpse_batch_loss, glimpse_predict, digits, cfg, log)
