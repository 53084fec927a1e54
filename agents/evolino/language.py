"""aⁿbⁿcⁿ next-symbol prediction with Evolino and its baselines (no output feedback).

Schmidhuber, Wierstra, Gagliolo & Gomez 2007, sec. 5.1 (after Gers & Schmidhuber, IEEE TNN
12(6), 2001): the network reads S aⁿbⁿcⁿ one symbol at a time and predicts the set of legal next
symbols (:class:`evorl.tasks.timeseries.AnBnCn`). For Evolino the readout is solved by least
squares on the 0/1 targets of the training strings (n = 1 … 10, state reset at each string);
fitness = number of training strings predicted right at every step, plus a tie-break in
(0, 1] that grows as the readout's mean squared error falls.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from evorl.agents.evolino.esn import ESN
from evorl.agents.evolino.glstm import GradientLSTM
from evorl.agents.evolino.model import Callback, Evolino, FitResult
from evorl.agents.evolino.network import DTYPE, Params, Runner
from evorl.agents.evolino.readout import add_bias, solve_readout
from evorl.agents.evolino.rpy_esn import RpyESN
from evorl.tasks.timeseries import AnBnCn
from evorl.training import Budget, search


def _accepted(
    outputs: torch.Tensor, targets: torch.Tensor, string_id: torch.Tensor, n_strings: int
) -> torch.Tensor:
    """Strings (per network) with every step right: outputs (B, T, k), targets (T, k)."""
    wrong = ((outputs > 0.5) != (targets > 0.5)).any(-1).to(DTYPE)  # (B, T)
    errors = torch.zeros(outputs.shape[0], n_strings, dtype=DTYPE).index_add_(1, string_id, wrong)
    return (errors == 0).sum(1)


def language_fitness(
    net: Runner, params: Params, batch: int, task: AnBnCn, ridge: float = 0.0
) -> tuple[np.ndarray, torch.Tensor]:
    """Fitness (B,) and least-squares readouts (B, F + 1, 4) on the training strings."""
    inputs, targets, starts = task.batch(task.train_ns)
    feats, _, _ = net.teacher_force(
        params,
        torch.as_tensor(inputs, dtype=net.dtype)[:, None],
        net.initial_state(batch),
        resets=starts,
    )
    phi = add_bias(feats.transpose(0, 1)).to(DTYPE)
    target = torch.as_tensor(targets, dtype=DTYPE)
    readout = solve_readout(phi, target.expand(batch, -1, -1), ridge)
    outputs = phi @ readout
    mse = ((outputs - target) ** 2).mean(dim=(1, 2))
    string_id = torch.as_tensor(np.cumsum(starts) - 1)
    accepted = _accepted(outputs, target, string_id, len(task.train_ns))
    tie = 1.0 / (1.0 + 10.0 * torch.sqrt(torch.nan_to_num(mse, nan=1e6)))
    return (accepted + tie).numpy(), readout


def fit_evolino(model: Evolino, task: AnBnCn, callback: Callback | None = None) -> FitResult:
    """Evolve ``model`` (in_dim = out_dim = 4) on the training strings."""
    opt, c, net = model.make_optimizer(), model.config, model.search_net
    best, history, start = [-np.inf], [], time.perf_counter()

    def fitness(genomes: np.ndarray, _: np.ndarray) -> np.ndarray:
        f = language_fitness(net, net.params(model.flat(genomes)), len(genomes), task, c.ridge)[0]
        if f.max() > best[0]:
            best[0], model.genome = float(f.max()), genomes[f.argmax()]
        return f

    def hook(trainer, row) -> None:
        history.append(best[0])
        if callback is not None:
            callback(row["step"], best[0])

    budget = Budget(iterations=c.generations, wall_time=c.time_limit)
    gen = search(opt, fitness, budget, [hook]).state.iteration
    final, readout = language_fitness(
        model.net, model.net.params(model.flat(model.genome)), 1, task, c.ridge
    )
    model.readout = readout[0]
    seconds, fitness = time.perf_counter() - start, float(final[0])
    return FitResult(fitness, gen, gen * opt.popsize, seconds, history, fitness)


@torch.no_grad()
def classify(
    net: Runner, params: Params, readout: torch.Tensor, strings: list[np.ndarray]
) -> list[np.ndarray]:
    """Outputs for each input string, all strings run side by side from the initial state."""
    length = max(len(s) for s in strings)
    padded = np.zeros((length, len(strings), strings[0].shape[1]))
    for b, s in enumerate(strings):
        padded[: len(s), b] = s
    feats, _, _ = net.teacher_force(
        params, torch.as_tensor(padded, dtype=net.dtype), net.initial_state(len(strings))
    )
    out = (add_bias(feats).to(DTYPE) @ readout.to(DTYPE)).numpy()  # (T, B, k)
    return [out[: len(s), b] for b, s in enumerate(strings)]


def evolino_classifier(model: Evolino):
    """``classify(strings)`` with the fitted Evolino network, for ``AnBnCn.generalization``."""

    def run(strings: list[np.ndarray]) -> list[np.ndarray]:
        params = model.net.params(model.flat(model.genome).expand(len(strings), -1))
        return classify(model.net, params, model.readout, strings)

    return run


def fit_esn(esn: ESN, task: AnBnCn) -> dict[str, float]:
    """Readouts of the candidate reservoirs on the training strings; keeps the best."""
    fitness, readouts = language_fitness(
        esn.net, {"w": esn.net.w}, esn.net.batch, task, esn.config.ridge
    )
    best = int(np.argmax(fitness))
    esn.w, esn.readout = esn.net.w[best], readouts[best]
    esn.spectral_radius = esn.config.spectral_radii[best]
    return {"fitness": float(fitness[best]), "spectral_radius": esn.spectral_radius}


def esn_classifier(esn: ESN):
    """``classify(strings)`` with the fitted ESN."""

    def run(strings: list[np.ndarray]) -> list[np.ndarray]:
        return classify(esn.net, {"w": esn.w.expand(len(strings), -1, -1)}, esn.readout, strings)

    return run


def fit_rpy_esn(esn: RpyESN, task: AnBnCn) -> dict:
    """reservoirpy's readouts on the training strings (each from the zero state); keeps the
    preset and ridge term that accept the most strings."""
    pairs = [task.string(n) for n in task.train_ns]
    return esn.fit_strings([i for i, _ in pairs], [t for _, t in pairs], task.accepted)


def rpy_esn_classifier(esn: RpyESN):
    """``classify(strings)`` with the fitted reservoirpy ESN."""
    return esn.classify


def fit_glstm(model: GradientLSTM, task: AnBnCn) -> dict[str, float]:
    """Adam on the mean squared error over the training strings (full batch, padded)."""
    c, net = model.config, model.net
    strings = [task.string(n) for n in task.train_ns]
    length = max(len(i) for i, _ in strings)
    x = torch.zeros(length, len(strings), 4, dtype=model.dtype)
    y, mask = torch.zeros_like(x), torch.zeros(length, len(strings), 1, dtype=model.dtype)
    for b, (i, t) in enumerate(strings):
        x[: len(i), b], y[: len(i), b], mask[: len(i), b] = (
            torch.as_tensor(i),
            torch.as_tensor(t),
            1.0,
        )
    opt, start, step = torch.optim.Adam(net.parameters(), lr=c.lr), time.perf_counter(), 0
    for step in range(1, c.updates + 1):  # noqa: B007
        out, _ = net.unroll(x, net.initial_state(len(strings), dtype=model.dtype))
        loss = ((out - y) ** 2 * mask).sum() / mask.sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), c.clip_norm)
        opt.step()
        if c.time_limit is not None and time.perf_counter() - start > c.time_limit:
            break
    return {"mse": float(loss.detach()), "updates": step}


def glstm_classifier(model: GradientLSTM):
    """``classify(strings)`` with the trained gradient LSTM."""

    @torch.no_grad()
    def run(strings: list[np.ndarray]) -> list[np.ndarray]:
        length = max(len(s) for s in strings)
        x = torch.zeros(length, len(strings), 4, dtype=model.dtype)
        for b, s in enumerate(strings):
            x[: len(s), b] = torch.as_tensor(s)
        out, _ = model.net.unroll(x, model.net.initial_state(len(strings), dtype=model.dtype))
        return [out[: len(s), b].double().numpy() for b, s in enumerate(strings)]

    return run
