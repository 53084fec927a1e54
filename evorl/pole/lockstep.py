"""Many runs of one pole task in lockstep: one batch per generation for all their populations.

For a benchmark of many seeds, :func:`run_lockstep` evolves one generation of every run per
round, all populations in one batch (each run an :class:`~evorl.training.EvolutionLearner`,
asked and told as the trainer would), and advances the long tests of all runs together,
``chunk`` steps per round, as one batch too. A run goes on evolving while its candidates are
under test (up to ``lookahead`` generations with pending tests), and its generations are settled
in order once their tests end: the first generation with a solution decides the result, and
whatever was evolved after it is dropped. Each run's results are therefore those of the
:class:`~evorl.pole.tester.PoleTester` on its own (tested bit for bit); only the batching and the
wall time differ.

Example:
    >>> results = run_lockstep(configs, PoleProtocol(candidates="champion"))  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from evorl.builder import controller_for, optimizer_for
from evorl.config import ConfigError, RunConfig
from evorl.env_pool import make_pool
from evorl.evaluation import EvalResult
from evorl.evaluation.rollout import run_episodes
from evorl.pole.longtest import TRAINING_STEPS, LongTest
from evorl.pole.tester import PoleProtocol, Solution, _accept, candidate_rows
from evorl.training import EvolutionLearner


@dataclass
class RunResult:
    """Outcome of one run of :func:`run_lockstep`."""

    seed: int
    solution: Solution | None
    evaluations: int
    """At the solution, else every evaluation the run spent."""
    generations: int
    """Generations evolved (including those run while a test was pending)."""
    tested: int = 0
    restarts: int = 0
    """Optimizer restarts up to the solution's generation (or to the end), if it restarts."""

    @property
    def solved(self) -> bool:
        return self.solution is not None


@dataclass
class _Run:
    config: RunConfig
    learner: EvolutionLearner
    generation: int = 0
    evaluations: int = 0
    evolving: bool = True
    tested: int = 0
    result: RunResult | None = None
    gens: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Per generation with candidates: counts, candidate rows and test outcomes."""

    def budget_spent(self) -> bool:
        stop = self.config.stop
        return (stop.generations is not None and self.generation >= stop.generations) or (
            stop.evaluations is not None and self.evaluations >= stop.evaluations
        )


def _check_lockstep(configs: Sequence[RunConfig]) -> None:
    first = configs[0]
    for cfg in configs:
        if cfg.env != first.env or cfg.controller != first.controller:
            raise ConfigError("run_lockstep: every run needs the same env and controller")
        if cfg.eval.test_every or cfg.eval.obs_norm:
            raise ConfigError("run_lockstep: set eval.test_every=0 and eval.obs_norm=false")
        if cfg.stop.generations is None and cfg.stop.evaluations is None:
            raise ConfigError("run_lockstep: set stop.generations or stop.evaluations")


def run_lockstep(
    configs: Sequence[RunConfig],
    protocol: PoleProtocol | None = None,
    chunk: int = 1000,
    progress: Callable[[str], None] | None = None,
    lookahead: int = 8,
    on_result: Callable[[RunResult], None] | None = None,
) -> list[RunResult]:
    """Run many configs (typically seeds) of one pole task under the protocol, batched.

    Args:
        configs: Runs that differ only in seed and optimizer settings (same env and controller),
            with ``eval.test_every: 0``, no observation normalisation and a generation or
            evaluation budget (``stop.target`` and ``stop.wall_time`` are ignored).
        protocol: The settings; default :class:`PoleProtocol`.
        chunk: Long-test steps advanced per round.
        progress: Called with a one-line status after every generation.
        lookahead: Most generations with candidates still under test that a run may have
            before it waits (1: evolve only when nothing is pending). Does not change results,
            only how long a run whose candidates keep failing late holds up the others.
        on_result: Called with each run's result as soon as it is settled.

    Returns:
        One :class:`RunResult` per config, in order; identical to what :func:`attach` gives
        each run on its own.
    """
    protocol = protocol or PoleProtocol()
    if lookahead < 1:
        raise ValueError("run_lockstep: lookahead must be >= 1")
    _check_lockstep(configs)
    env_cfg = configs[0].env
    limit = env_cfg.max_episode_steps or TRAINING_STEPS
    runs = []
    for cfg in configs:
        controller, _ = controller_for(cfg.env, cfg.controller, cfg.seed)
        x0 = controller.get_flat().detach().numpy().astype(np.float64)
        optimizer = optimizer_for(cfg.optimizer, cfg.seed, x0, controller)
        runs.append(_Run(cfg, EvolutionLearner(optimizer, None, cfg.seed, cfg.eval.episodes)))
    test = LongTest(controller, env_cfg, protocol.test_steps)
    pools: dict[int, Any] = {}
    start = time.perf_counter()
    while any(r.result is None for r in runs):
        evolving = [(k, r) for k, r in enumerate(runs) if r.evolving and len(r.gens) < lookahead]
        if evolving:
            _generation(evolving, controller, pools, test, protocol, limit)
        for r in runs:
            if r.evolving and r.budget_spent():
                r.evolving = False
        for (k, gen, row), passed, _ in test.advance(chunk):
            runs[k].gens[gen]["outcome"][row] = passed
        for k, r in enumerate(runs):
            if r.result is None:
                _resolve(k, r, test, protocol, controller, env_cfg)
                if r.result is not None and on_result is not None:
                    on_result(r.result)
        if progress is not None:
            solved = sum(r.result is not None and r.result.solved for r in runs)
            pending = sum(r.result is None and bool(r.gens) for r in runs)
            progress(
                f"{solved}/{len(runs)} solved, {len(evolving)} evolved, {pending} with tests "
                f"pending, {len(test.entries)} under test, {time.perf_counter() - start:.0f} s"
            )
    return [r.result for r in runs]


def _generation(evolving, controller, pools, test, protocol, limit) -> None:
    """One generation of every evolving run, all populations in one batch."""
    asked, individual, seeds = [], [], []
    offset = 0
    for _, r in evolving:
        a = r.learner.ask(r.generation)
        asked.append(a)
        individual.append(offset + np.repeat(np.arange(len(a.candidates)), len(a.seeds)))
        seeds.append(np.tile(a.seeds, len(a.candidates)))
        offset += len(a.candidates)
    individual, seeds = np.concatenate(individual), np.concatenate(seeds)
    if len(individual) not in pools:
        pools[len(individual)] = make_pool(evolving[0][1].config.env, len(individual))
    params = torch.as_tensor(np.vstack([a.candidates for a in asked]), dtype=torch.float32)
    out = run_episodes(controller, pools[len(individual)], params, individual, seeds)
    first = 0
    for (k, r), a in zip(evolving, asked, strict=True):
        x, episodes = a.candidates, len(a.seeds)
        size = len(x) * episodes
        returns = out.returns[first : first + size].reshape(len(x), episodes)
        lengths = out.lengths[first : first + size].reshape(len(x), episodes)
        first += size
        fitness = r.learner.tell(a, EvalResult(returns, lengths)).extra[2]
        r.generation += 1
        r.evaluations += size
        rows = candidate_rows(lengths, fitness, limit, protocol.candidates)
        if rows.size:
            r.gens[r.generation] = {
                "evaluations": r.evaluations,
                "restarts": _restarts(r.learner.optimizer),
                "size": size,
                "episodes": episodes,
                "params": {int(i): x[i].copy() for i in rows},
                "outcome": {},
            }
            for i in rows:
                test.add(x[i], (k, r.generation, int(i)))


def _resolve(k, r, test, protocol, controller, env_cfg) -> None:
    """Settle run ``r`` as far as its finished tests allow (earliest generation first)."""
    for gen in sorted(r.gens):
        info = r.gens[gen]
        if len(info["outcome"]) < len(info["params"]):
            return  # a candidate of this generation is still under test
        r.tested += len(info["params"])
        for row in sorted(info["params"]):
            if not info["outcome"][row]:
                continue
            ok, score = _accept(protocol, controller, info["params"][row], env_cfg, None)
            if not ok:
                continue
            before = info["evaluations"] - info["size"]
            solution = Solution(
                generation=gen,
                evaluations=info["evaluations"],
                evaluations_serial=before + (row + 1) * info["episodes"],
                index=row,
                params=info["params"][row],
                generalization=score,
                tested=r.tested,
            )
            r.result = RunResult(
                r.config.seed,
                solution,
                solution.evaluations,
                r.generation,
                r.tested,
                info["restarts"],
            )
            r.evolving = False
            test.discard(lambda tag, k=k: tag[0] != k)
            return
        del r.gens[gen]
    if not r.evolving:
        r.result = RunResult(
            r.config.seed,
            None,
            r.evaluations,
            r.generation,
            r.tested,
            _restarts(r.learner.optimizer),
        )


def _restarts(optimizer: Any) -> int:
    return int(getattr(optimizer, "restarts", 0))
