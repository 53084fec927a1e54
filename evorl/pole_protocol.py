"""The solve-and-count protocol of the pole-balancing benchmarks ("evaluations to solve").

Gomez, Schmidhuber & Miikkulainen, "Accelerated Neural Evolution through Cooperatively Coevolved
Synapses", JMLR 9, 2008 (Section 6), after Wieland (1991), Gruau, Whitley & Pyeatt (1996) and
Stanley & Miikkulainen's NEAT (2002). As implemented here:

* **Evaluations** are training episodes: every individual of every generation plays
  ``eval.episodes`` (1) episode of at most 1,000 steps. A run's count is the trainer's
  ``env/evaluations`` at the end of the generation in which the solution was evaluated: whole
  generations, as a batched ask/tell optimizer spends them. The count up to the solving
  individual in population order (NEAT's count) is kept too (``evaluations_serial``).
* **Candidates** get the long test: ``test_steps`` = 100,000 steps from the standard start
  state with the plain balance reward. Long tests and the generalisation test are not counted
  as evaluations. Which individuals are candidates (``candidates``): ``"balanced"``, every
  individual whose training episode lasted the full 1,000 steps (the Markov tasks, where the
  literature's evaluations themselves ran up to 100,000 steps, so any individual could be the
  solution); ``"champion"``, only the generation's fittest, if it balanced the 1,000 steps (the
  non-Markov double pole with Gruau's damping fitness, as in NEAT and ESP: the damping fitness
  picks the champion, the 100,000-step test decides).
* **Solved** when a candidate balances all ``test_steps`` (the first in population order if
  several do). Its **generalisation** score (the 625 start states of Gruau et al. balanced for
  1,000 steps, :func:`evorl.envs.pole_vector.generalization_score`) is measured and reported;
  it is required only when ``min_generalization`` > 0.

Two drivers give the same per-run results bit for bit (tested):

* :func:`attach` makes one :class:`~evorl.trainer.Trainer` follow the protocol (what ``evorl
  evolve`` would use): its evaluator is wrapped by a :class:`ProtocolEvaluator`, which tests each
  generation's candidates, and a hook stops the run when one passes.
* :func:`run_lockstep` runs many seeds at once for a benchmark: each round evolves one
  generation of every run, all populations in one batch, and advances the long tests of all
  runs together, ``chunk`` steps per round, as one batch too. A run goes on evolving while its
  candidates are under test (up to ``lookahead`` generations with pending tests), and its
  generations are settled in order once their tests end: the first generation with a solution
  decides the result, and whatever was evolved after it is dropped. Each run's results are
  therefore those of the synchronous driver; only the batching and the wall time differ.

Example:
    >>> trainer = build_trainer(load_config("dpnv", ["--seed=3"]))
    >>> protocol = attach(trainer, PoleProtocol(candidates="champion"))
    >>> state = trainer.run()
    >>> protocol.solution.evaluations, protocol.solution.generalization  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch

from evorl import seeding
from evorl.config import ConfigError, EnvConfig, RunConfig
from evorl.controllers import Controller
from evorl.env_pool import make_pool
from evorl.evaluation import EvalResult, Evaluator
from evorl.evaluation.obs_norm import ObsNormalizer
from evorl.evaluation.rollout import run_episodes
from evorl.experiment import build_controller_for, build_optimizer
from evorl.rundir import BEST, save_checkpoint

if TYPE_CHECKING:
    from evorl.trainer import Trainer

TRAINING_STEPS = 1000
"""Episode length of an evaluation (the registered pole envs' time limit)."""
TEST_STEPS = 100_000
"""Steps of the long balance test from the standard start state (the literature's "solved")."""


@dataclass(frozen=True)
class PoleProtocol:
    """Settings of the solve-and-count protocol (see the module docstring)."""

    test_steps: int = TEST_STEPS
    """Steps a candidate must balance to count as a solution."""
    candidates: Literal["balanced", "champion"] = "balanced"
    """Which individuals are tested: every one that balanced its whole training episode, or only
    the generation's fittest (if it did)."""
    min_generalization: int = 0
    """Generalisation score (of 625) a solution must also reach; 0: measured, not required."""
    generalization: bool = True
    """Measure the solution's generalisation score."""

    def __post_init__(self) -> None:
        if self.test_steps < 1:
            raise ConfigError("pole protocol: test_steps must be >= 1")
        if self.candidates not in ("balanced", "champion"):
            raise ConfigError("pole protocol: candidates must be 'balanced' or 'champion'")
        if not 0 <= self.min_generalization <= 625:
            raise ConfigError("pole protocol: min_generalization must be in [0, 625]")


@dataclass
class Solution:
    """The first solution of a run."""

    generation: int
    """Generation (1-based) in which it was evaluated."""
    evaluations: int
    """Training episodes through the end of that generation (the benchmark's count)."""
    evaluations_serial: int
    """Training episodes up to and including the solution's own (NEAT's count)."""
    index: int
    """Row of the solution in that generation's population."""
    params: np.ndarray
    """Its flat parameters."""
    generalization: int | None
    """Start states of 625 balanced for 1,000 steps, if measured."""
    tested: int
    """Candidates given the long test up to that generation (this one included)."""


# --------------------------------------------------------------------------- tests of controllers


def _test_env_kwargs(env_cfg: EnvConfig) -> dict[str, Any]:
    kwargs = dict(env_cfg.kwargs)
    kwargs.pop("damping_fitness", None)
    kwargs.pop("render_mode", None)
    return kwargs


def pole_vector_env(env_cfg: EnvConfig, num_envs: int, steps: int) -> Any:
    """The run's pole env, vectorised, without damping reward, limited to ``steps`` steps.

    Raises:
        ConfigError: ``env_cfg`` is not an ``evorl/*Pole*`` env.
    """
    import gymnasium as gym

    import evorl.envs  # noqa: F401  (registers the pole envs)
    from evorl.envs.pole_vector import PoleBalancingVectorEnv

    spec = gym.registry.get(env_cfg.id)
    if spec is None or not str(spec.vector_entry_point).endswith(":PoleBalancingVectorEnv"):
        raise ConfigError(f"the pole protocol needs an evorl/*Pole* env, got '{env_cfg.id}'")
    env = gym.make_vec(
        env_cfg.id,
        num_envs,
        vectorization_mode="vector_entry_point",
        max_episode_steps=steps,
        **_test_env_kwargs(env_cfg),
    )
    assert isinstance(env, PoleBalancingVectorEnv)
    return env


def _as_input(obs: np.ndarray, keep: Any, normalizer: ObsNormalizer | None) -> torch.Tensor:
    """What the rollout feeds the controller: masked, normalised in float64, then float32."""
    x = np.asarray(obs, dtype=np.float64)
    if keep is not None:
        x = x[:, keep]
    if normalizer is not None:
        x = normalizer(x)
    return torch.from_numpy(x.astype(np.float32))


@dataclass
class _Entry:
    """One controller under the long test, resumable between chunks."""

    tag: Any
    params: np.ndarray
    y: np.ndarray
    state: tuple[torch.Tensor, ...]
    steps: int = 0
    failed: bool = False


class LongTest:
    """Controllers balancing from the start state for ``steps`` steps, advanced in chunks.

    Entries join at any time and all pending ones advance together, as one batch of a
    :class:`~evorl.envs.pole_vector.PoleBalancingVectorEnv` and of the controller's batched
    ``step``. Between chunks an entry keeps its physical state (float64) and its recurrent state,
    so a test advanced in chunks is bit-identical to one run straight through.

    Args:
        controller: Any controller of the runs' architecture (population mode only).
        env_cfg: The runs' env config.
        steps: Steps to balance (100,000).
        normalizer: Frozen observation normaliser, if the runs use one.
    """

    def __init__(
        self,
        controller: Controller,
        env_cfg: EnvConfig,
        steps: int,
        normalizer: ObsNormalizer | None = None,
    ) -> None:
        self.controller = controller
        self.env_cfg = env_cfg
        self.steps = steps
        self.normalizer = normalizer
        self.start = pole_vector_env(env_cfg, 1, 1).initial_state.copy()
        self.entries: list[_Entry] = []

    def add(self, params: np.ndarray, tag: Any = None) -> None:
        """Queue one controller (flat parameters) for the test."""
        params = np.asarray(params, np.float64)
        self.entries.append(_Entry(tag, params, self.start, self.controller.initial_state(1)))

    def discard(self, keep: Callable[[Any], bool]) -> None:
        """Drop the pending entries whose tag fails ``keep``."""
        self.entries = [e for e in self.entries if keep(e.tag)]

    def advance(self, max_steps: int | None = None) -> list[tuple[Any, bool, int]]:
        """Run every pending entry for up to ``max_steps`` more steps (default: to the end).

        Returns:
            ``(tag, passed, balanced_steps)`` of each entry that finished, in the order added.
        """
        if not self.entries:
            return []
        todo = max(self.steps - e.steps for e in self.entries)
        chunk = todo if max_steps is None else min(max_steps, todo)
        entries = self.entries
        env = pole_vector_env(self.env_cfg, len(entries), chunk)
        obs, _ = env.reset(options={"state": np.stack([e.y for e in entries])})
        flat = torch.as_tensor(np.stack([e.params for e in entries]), dtype=torch.float32)
        weights = self.controller.population_params(flat)
        state = tuple(torch.cat(parts) for parts in zip(*(e.state for e in entries), strict=True))
        done = np.zeros(len(entries), dtype=np.bool_)
        with torch.no_grad():
            while not done.all():
                action, state = self.controller.step(
                    _as_input(obs, self.env_cfg.observe, self.normalizer), state, weights
                )
                obs, _, terminated, truncated, _ = env.step(action.numpy())
                done = terminated | truncated
        balanced = env.balanced_steps
        finished, pending = [], []
        for i, e in enumerate(entries):
            e.steps += int(balanced[i])
            e.failed = bool(terminated[i])
            if e.steps >= self.steps or e.failed:
                finished.append((e.tag, e.steps >= self.steps, min(e.steps, self.steps)))
            else:
                e.y = env.state[:, i].copy()
                e.state = tuple(s[i : i + 1].clone() for s in state)
                pending.append(e)
        self.entries = pending
        return finished


def balance_steps(
    controller: Controller,
    params: np.ndarray,
    env_cfg: EnvConfig,
    steps: int,
    normalizer: ObsNormalizer | None = None,
) -> np.ndarray:
    """Steps each controller balances from the env's start state, up to ``steps``.

    Args:
        controller: The run's controller (population mode).
        params: ``(K, D)`` flat parameters.
        env_cfg: The run's env config (an ``evorl/*Pole*`` id).
        steps: Episode limit (100,000 for the standard test).
        normalizer: The run's frozen observation normaliser, if any.

    Returns:
        ``(K,)`` balanced steps; ``steps`` means passed.
    """
    test = LongTest(controller, env_cfg, steps, normalizer)
    for k, p in enumerate(np.atleast_2d(np.asarray(params))):
        test.add(p, k)
    out = dict((tag, n) for tag, _, n in test.advance())
    return np.array([out[k] for k in range(len(out))], dtype=np.int64)


def generalization(
    controller: Controller,
    params: np.ndarray,
    env_cfg: EnvConfig,
    normalizer: ObsNormalizer | None = None,
) -> int:
    """Gruau et al.'s generalisation score (0-625) of one controller on the run's pole task."""
    from evorl.envs.pole_vector import generalization_score, generalization_states

    probe = pole_vector_env(env_cfg, 1, TRAINING_STEPS)
    n = len(generalization_states(probe.num_poles))
    flat = torch.as_tensor(np.asarray(params), dtype=torch.float32).reshape(1, -1)
    weights = controller.population_params(flat.repeat(n, 1))

    def policy(obs: np.ndarray, state: Any) -> tuple[np.ndarray, Any]:
        action, state = controller.step(_as_input(obs, env_cfg.observe, normalizer), state, weights)
        return action.numpy(), state

    with torch.no_grad():
        return generalization_score(
            policy,
            controller.initial_state(n),
            num_poles=probe.num_poles,
            markov=probe.markov,
            scale_obs=_test_env_kwargs(env_cfg).get("scale_obs", True),
        )


def candidate_rows(lengths: np.ndarray, fitness: np.ndarray, limit: int, mode: str) -> np.ndarray:
    """Population rows to test: every one whose episodes all lasted ``limit`` steps, or only the
    fittest if it did (``mode="champion"``); ascending."""
    full = (np.asarray(lengths) >= limit).all(axis=1)
    if mode == "champion":
        best = int(np.argmax(fitness))
        return np.array([best] if full[best] else [], dtype=np.int64)
    return np.flatnonzero(full)


def _accept(
    protocol: PoleProtocol,
    controller: Controller,
    params: np.ndarray,
    env_cfg: EnvConfig,
    normalizer: ObsNormalizer | None,
) -> tuple[bool, int | None]:
    """Whether a candidate that passed the long test is a solution, and its score."""
    if not (protocol.generalization or protocol.min_generalization):
        return True, None
    score = generalization(controller, params, env_cfg, normalizer)
    return score >= protocol.min_generalization, score


# --------------------------------------------------------------------------- one run: a trainer


class ProtocolEvaluator:
    """Wraps a run's evaluator and tests each generation's candidates (see the module docstring).

    The trainer calls ``evaluate`` once per generation (``eval.test_every`` must be 0: the
    protocol replaces the trainer's own tests). After the wrapped evaluation the candidates get
    the long test; the first that passes (and generalises enough, if required) is kept in
    :attr:`found` for :class:`ProtocolHook`, which turns it into :attr:`solution`.
    """

    def __init__(
        self,
        inner: Evaluator,
        controller: Controller,
        env_cfg: EnvConfig,
        protocol: PoleProtocol,
    ) -> None:
        self.inner = inner
        self.controller = controller
        self.env_cfg = env_cfg
        self.protocol = protocol
        self.limit = env_cfg.max_episode_steps or TRAINING_STEPS
        self.tested = 0
        self.found: dict[str, Any] | None = None
        self.solution: Solution | None = None

    def evaluate(
        self,
        params: np.ndarray,
        seeds: np.ndarray,
        normalizer: ObsNormalizer | None = None,
        collect_obs: bool = False,
    ) -> EvalResult:
        """The wrapped evaluation, then the long test of this generation's candidates."""
        result = self.inner.evaluate(params, seeds, normalizer, collect_obs)
        if self.found is None and self.solution is None:
            self._test(np.asarray(params), result, normalizer)
        return result

    def _test(
        self, params: np.ndarray, result: EvalResult, normalizer: ObsNormalizer | None
    ) -> None:
        rows = candidate_rows(result.lengths, result.fitness, self.limit, self.protocol.candidates)
        if rows.size == 0:
            return
        self.tested += rows.size
        steps = balance_steps(
            self.controller, params[rows], self.env_cfg, self.protocol.test_steps, normalizer
        )
        for row in rows[steps >= self.protocol.test_steps]:
            ok, score = _accept(
                self.protocol, self.controller, params[row], self.env_cfg, normalizer
            )
            if ok:
                self.found = {
                    "index": int(row),
                    "params": params[row].copy(),
                    "score": score,
                    "generation_episodes": result.returns.size,
                    "episodes": result.returns.shape[1],
                }
                return

    def close(self) -> None:
        self.inner.close()


class ProtocolHook:
    """Trainer hook: once the evaluator has found a solution, record it and stop as solved."""

    def __init__(self, evaluator: ProtocolEvaluator) -> None:
        self.evaluator = evaluator

    def __call__(self, trainer: Trainer, row: dict[str, Any]) -> None:
        ev = self.evaluator
        if ev.found is None or ev.solution is not None:
            return
        found, st = ev.found, trainer.state
        before = st.evaluations - found["generation_episodes"]
        ev.solution = Solution(
            generation=st.generation,
            evaluations=st.evaluations,
            evaluations_serial=before + (found["index"] + 1) * found["episodes"],
            index=found["index"],
            params=found["params"],
            generalization=found["score"],
            tested=ev.tested,
        )
        st.solved = True
        st.stop_reason = "solved"
        st.champion_score = float(ev.protocol.test_steps)
        st.champion_generation = st.generation
        trainer.champion = found["params"].copy()
        if trainer.run_dir is not None:
            save_checkpoint(trainer.run_dir / BEST, trainer.policy_payload(trainer.champion))


def attach(trainer: Trainer, protocol: PoleProtocol | None = None) -> ProtocolEvaluator:
    """Make ``trainer`` follow the protocol: wrap its evaluator, add the stopping hook.

    Args:
        trainer: A freshly built trainer of an ``evorl/*Pole*`` env with ``eval.test_every: 0``.
        protocol: The settings; default :class:`PoleProtocol`.

    Returns:
        The wrapping evaluator; its ``solution`` is set once the run is solved.

    Raises:
        ConfigError: The trainer tests its centre (``eval.test_every`` > 0) or the env is not a
            pole-balancing env.
    """
    cfg = trainer.config
    if cfg.eval.test_every:
        raise ConfigError("the pole protocol replaces the trainer's tests: set eval.test_every=0")
    pole_vector_env(cfg.env, 1, 1)  # fails early on other envs
    evaluator = ProtocolEvaluator(
        trainer.evaluator, trainer.controller, cfg.env, protocol or PoleProtocol()
    )
    trainer.evaluator = evaluator
    trainer.hooks.append(ProtocolHook(evaluator))
    return evaluator


# --------------------------------------------------------------------------- many runs in lockstep


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
    optimizer: Any
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
        controller = build_controller_for(cfg)
        x0 = controller.get_flat().detach().numpy().astype(np.float64)
        runs.append(_Run(cfg, build_optimizer(cfg, x0, controller)))
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
        x = r.optimizer.ask()
        episodes = r.config.eval.episodes
        run_seeds = seeding.episode_seeds(
            r.config.seed, seeding.STREAM_TRAIN_EPISODES, r.generation, episodes
        )
        asked.append(x)
        individual.append(offset + np.repeat(np.arange(len(x)), episodes))
        seeds.append(np.tile(run_seeds, len(x)))
        offset += len(x)
    individual, seeds = np.concatenate(individual), np.concatenate(seeds)
    if len(individual) not in pools:
        pools[len(individual)] = make_pool(evolving[0][1].config.env, len(individual))
    params = torch.as_tensor(np.vstack(asked), dtype=torch.float32)
    out = run_episodes(controller, pools[len(individual)], params, individual, seeds)
    first = 0
    for (k, r), x in zip(evolving, asked, strict=True):
        episodes = r.config.eval.episodes
        size = len(x) * episodes
        returns = out.returns[first : first + size].reshape(len(x), episodes)
        lengths = out.lengths[first : first + size].reshape(len(x), episodes)
        first += size
        fitness = returns.mean(axis=1)
        if not np.isfinite(fitness).all():
            raise ConfigError(f"run {k}: non-finite fitness (the pole envs never give one)")
        r.optimizer.tell(x, fitness)
        r.generation += 1
        r.evaluations += size
        rows = candidate_rows(lengths, fitness, limit, protocol.candidates)
        if rows.size:
            r.gens[r.generation] = {
                "evaluations": r.evaluations,
                "restarts": _restarts(r.optimizer),
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
            r.config.seed, None, r.evaluations, r.generation, r.tested, _restarts(r.optimizer)
        )


def _restarts(optimizer: Any) -> int:
    return int(getattr(optimizer, "restarts", 0))
