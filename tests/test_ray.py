"""The Ray evaluator on real Ray instances (never ``local_mode``): exact, fault tolerant, tidy.

Three groups, each sharing one Ray instance because starting Ray costs seconds:

* ``TestLocalInstance`` (one 2-CPU instance): Ray on 1 and 2 workers equals the local vectorised
  evaluator bit for bit; a worker killed mid-generation (SIGKILL or ``ray.kill``) loses nothing.
* ``TestCluster`` (``ray.cluster_utils.Cluster``: a CPU-less head and two 1-CPU nodes on this
  machine, joined through ``eval.ray_address``): a node removed mid-run leaves a real ``Trainer``
  run's metrics unchanged; losing every node ends evaluation with a one-line ``TrainingError``.
* an evaluator that starts its own Ray shuts it down on ``close()``, and no ``raylet`` or
  ``gcs_server`` outlives the tests that started them.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import ray
from ray.cluster_utils import Cluster

from evorl.builder import build_trainer, controller_for
from evorl.config import (
    ConfigError,
    ControllerConfig,
    EnvConfig,
    EvalConfig,
    RunConfig,
    StopConfig,
    load_config,
)
from evorl.errors import TrainingError
from evorl.evaluation import ObsNormalizer, VectorEvaluator, make_evaluator
from evorl.evaluation.ray_evaluator import RayEvaluator, plan_chunks
from evorl.optimizers import make_optimizer

pytestmark = pytest.mark.ray

MB = 2**20
DAEMONS = ("raylet", "gcs_server")

CASES = {
    # partially observable CartPole (positions only) needs the LSTM's memory; Pendulum is continuous
    "cartpole-nv-lstm": (EnvConfig("CartPole-v1", observe=(0, 2)), ControllerConfig("lstm", (8,))),
    "pendulum-gru": (EnvConfig("Pendulum-v1", max_episode_steps=80), ControllerConfig("gru", (6,))),
}


def ray_config(env: EnvConfig, ctrl: ControllerConfig, workers: int, **eval_kw) -> RunConfig:
    evaluation = EvalConfig(evaluator="ray", workers=workers, **eval_kw)
    return RunConfig(env=env, controller=ctrl, eval=evaluation, stop=StopConfig(generations=1))


def population(config: RunConfig, size: int, seed: int = 0):
    """The run's controller and ``size`` perturbed parameter vectors (float64, as asked)."""
    controller = controller_for(config.env, config.controller, config.seed)[0]
    rng = np.random.default_rng(seed)
    x0 = controller.get_flat().numpy().astype(np.float64)
    return controller, x0 + 0.7 * rng.standard_normal((size, controller.num_params))


def normalizer(dim: int) -> ObsNormalizer:
    rng = np.random.default_rng(1)
    return ObsNormalizer(rng.normal(0, 0.1, dim), rng.uniform(0.5, 2.0, dim), 5.0)


def assert_same(result, reference) -> None:
    assert np.array_equal(result.returns, reference.returns)
    assert np.array_equal(result.lengths, reference.lengths)
    assert np.array_equal(result.fitness, reference.fitness)
    if reference.obs_sums is not None:
        for key in ("count", "total", "squares"):
            assert np.array_equal(getattr(result.obs_sums, key), getattr(reference.obs_sums, key))


def ray_daemons() -> set[int]:
    """Live ``raylet`` / ``gcs_server`` processes started (transitively) by this test process.

    Read from /proc (Linux); elsewhere the set is empty and the shutdown checks are skipped.
    """
    if not os.path.isdir("/proc"):
        return set()
    procs = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        procs[int(entry)] = (name, state, int(ppid))
    ours, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, (_, _, ppid) in procs.items() if ppid in frontier} - ours
        ours |= frontier
    return {p for p in ours if procs[p][0] in DAEMONS and procs[p][1] not in "ZX"}


def wait_gone(pids: set[int], timeout: float = 15.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while (alive := pids & ray_daemons()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


needs_proc = pytest.mark.skipif(not os.path.isdir("/proc"), reason="process check reads /proc")


@pytest.mark.parametrize(("popsize", "workers"), [(1, 1), (7, 2), (32, 2), (64, 3), (5, 8)])
def test_chunks_cover_the_population_in_order_largest_first(popsize, workers):
    chunks = plan_chunks(popsize, workers)
    assert chunks[0][0] == 0 and chunks[-1][1] == popsize
    assert all(a[1] == b[0] for a, b in itertools.pairwise(chunks))
    sizes = [stop - first for first, stop in chunks]
    assert sizes == sorted(sizes, reverse=True) and min(sizes) >= 1
    assert sizes[0] == -(-popsize // (2 * workers))  # a quarter of the population on 2 workers


# ---------------------------------------------------------------------------- one local instance


@pytest.fixture(scope="class")
def local_ray():
    assert not ray.is_initialized()
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * MB)
    yield
    daemons = ray_daemons()
    ray.shutdown()
    assert not wait_gone(daemons)


@pytest.mark.usefixtures("local_ray")
class TestLocalInstance:
    @pytest.mark.parametrize("case", sorted(CASES))
    def test_same_fitness_and_obs_sums_as_local_on_1_and_2_workers(self, case):
        env, ctrl = CASES[case]
        config = ray_config(env, ctrl, workers=1)
        controller, params = population(config, size=7)  # 7 rows: unequal chunks on 2 workers
        seeds = np.array([5, 6, 7])
        norm = normalizer(controller.obs_dim)
        local = VectorEvaluator(env, controller)
        reference = local.evaluate(params, seeds, norm, collect_obs=True)
        single = local.evaluate(params[3:4], seeds)
        for workers in (1, 2):
            evaluator = make_evaluator(ray_config(env, ctrl, workers), controller)
            assert isinstance(evaluator, RayEvaluator)
            try:
                result = evaluator.evaluate(params, seeds, norm, collect_obs=True)
                assert_same(result, reference)
                # fewer rows than workers: one chunk
                assert_same(evaluator.evaluate(params[3:4], seeds), single)
                assert result.timings["ray/actors"] == workers
                assert result.timings["ray/failures"] == 0
                assert result.timings["time/overhead"] >= 0.0
            finally:
                evaluator.close()
            assert ray.is_initialized()  # not the evaluator's instance: left running
        local.close()

    @pytest.mark.slow
    @pytest.mark.parametrize("how", ["sigkill", "ray.kill"])
    def test_worker_killed_mid_generation_loses_nothing(self, how, caplog):
        env, ctrl = CASES["pendulum-gru"]
        config = ray_config(env, ctrl, workers=2)
        controller, params = population(config, size=8, seed=3)
        seeds = np.array([11, 12])
        reference = VectorEvaluator(env, controller).evaluate(params, seeds, collect_obs=True)
        evaluator = RayEvaluator(config, controller)

        def kill(ev: RayEvaluator) -> None:  # runs right after the chunks are submitted
            victim = ev.workers[0]
            if how == "sigkill":
                os.kill(victim.pid, signal.SIGKILL)
            else:
                ray.kill(victim.handle, no_restart=True)
            ev.on_submit = None

        try:
            evaluator.on_submit = kill
            result = evaluator.evaluate(params, seeds, collect_obs=True)
            assert_same(result, reference)
            assert result.timings["ray/failures"] == 1
            assert "lost" in caplog.text
            deadline = time.monotonic() + 150  # the replacement joins when it is up (slow here)
            while time.monotonic() < deadline:
                result = evaluator.evaluate(params, seeds, collect_obs=True)
                assert_same(result, reference)
                if result.timings["ray/actors"] == 2:
                    break
                time.sleep(0.2)
            assert result.timings["ray/actors"] == 2
            assert evaluator.failures == 1
        finally:
            evaluator.close()

    def test_seeds_instead_of_rows_give_the_same_fitness_and_send_less(self):
        """Seed-only communication: for the ES family the workers rebuild their rows from
        (centre, scale, seeds), and every result equals the local evaluator's on the matrix."""
        env, ctrl = CASES["pendulum-gru"]
        config = ray_config(env, ctrl, workers=2)
        controller = controller_for(config.env, config.controller, config.seed)[0]
        x0 = controller.get_flat().numpy().astype(np.float64)
        seeds, norm = np.array([3, 4]), normalizer(controller.obs_dim)
        local = VectorEvaluator(env, controller)
        evaluator = RayEvaluator(config, controller)
        try:
            for name in ("pgpe", "openai-es", "snes"):
                opt = make_optimizer(name, x0, sigma=0.5, popsize=10, seed=1)
                matrix = opt.ask()
                population = opt.seeded_population()
                reference = local.evaluate(matrix, seeds, norm, collect_obs=True)
                by_rows = evaluator.evaluate(matrix, seeds, norm, collect_obs=True)
                by_seeds = evaluator.evaluate(population, seeds, norm, collect_obs=True)
                assert_same(by_rows, reference)
                assert_same(by_seeds, reference)
                rows_bytes = matrix.astype(np.float32).nbytes
                assert by_rows.timings["ray/bytes_sent"] >= rows_bytes
                assert by_seeds.timings["ray/bytes_sent"] < rows_bytes  # no rows travelled
        finally:
            evaluator.close()
            local.close()

    def test_es_run_on_ray_equals_the_local_run(self):
        """A PGPE run through the learner (which hands the evaluator the seeded population):
        the same metrics as with the local evaluator, chunks handed out as workers free up."""
        base = [
            "--optimizer.name=pgpe",
            "--optimizer.popsize=10",
            "--eval.episodes=2",
            "--eval.obs_norm=true",
            "--eval.test_every=2",
            "--eval.test_episodes=2",
            "--stop.generations=3",
            "--stop.target=null",
            "--env.max_episode_steps=60",
        ]
        local_rows, _ = trainer_rows(load_config("pendulum", base))
        ray_run = load_config("pendulum", [*base, "--eval.evaluator=ray", "--eval.workers=2"])
        rows, evaluator = trainer_rows(ray_run)
        assert [comparable(r) for r in rows] == [comparable(r) for r in local_rows]
        dim = evaluator.controller.num_params
        assert all(r["ray/bytes_sent"] < 10 * dim * 4 for r in rows)  # seeds, not rows
        assert all(r["ray/chunks"] > 2 for r in rows)  # finer than one chunk per worker

    def test_worker_disagreeing_with_the_driver_is_refused(self):
        env, ctrl = CASES["cartpole-nv-lstm"]
        other_cfg = ray_config(env, ControllerConfig("lstm", (3,)), 1)
        other = controller_for(other_cfg.env, other_cfg.controller, other_cfg.seed)[0]
        with pytest.raises(ConfigError, match="same evorl"):
            RayEvaluator(ray_config(env, ctrl, workers=1), other)

    @pytest.mark.slow
    def test_bench_script_quick(self, capsys, monkeypatch):
        """``scripts/bench_ray.py``'s rows, tiny sizes, on this module's Ray instance."""
        # importable by name: the capacity probe's processes import it to run its function
        monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "scripts"))
        bench = importlib.import_module("bench_ray")
        # --kill-worker, at once (a quick generation is over before half of it has passed)
        args = argparse.Namespace(quick=True, generations=1, kill_worker=True, kill_delay=0.0)
        rows = bench.bench_task("CartPole-v1 LSTM(16)", args, worker_counts=(2,))  # 2 CPUs here
        assert [r["workers"] for r in rows] == [0, 2]
        assert all(r["exact"] for r in rows)
        killed = rows[1]["killed_worker"]
        assert killed["failures"] == 1 and killed["exact"]
        assert rows[1]["capacity"] > 0 and "speedup_vs_capacity" not in rows[1]  # no 1 worker
        assert rows[1]["capacity_workload"] > 0  # the task's own work, in 2 processes
        bench.print_table(rows)
        byte_rows = bench.bench_seed_bytes(args, workers=2)
        assert [r["optimizer"] for r in byte_rows] == ["pgpe", "openai-es", "snes"]
        assert all(r["exact"] and r["bytes_seeds"] < r["bytes_rows"] for r in byte_rows)
        bench.print_bytes(byte_rows)
        out = capsys.readouterr().out
        assert "ray x2" in out and "seeds (after)" in out and "SIGKILLed" in out


# ---------------------------------------------------------------------------- a 3-node cluster


@pytest.fixture(scope="class")
def cluster():
    assert not ray.is_initialized()
    head = {"num_cpus": 0, "include_dashboard": False, "object_store_memory": 100 * MB}
    cl = Cluster(initialize_head=True, head_node_args=head)
    for _ in range(2):
        cl.add_node(num_cpus=1, object_store_memory=100 * MB)
    yield cl
    daemons = ray_daemons()
    cl.shutdown()
    assert not wait_gone(daemons)


def trainer_rows(config: RunConfig, on_submit=None) -> tuple[list[dict], object]:
    trainer = build_trainer(config)
    rows: list[dict] = []
    trainer.hooks.append(lambda _trainer, row: rows.append(row))
    if on_submit is not None:
        trainer.learner.evaluator.on_submit = on_submit
    try:
        trainer.run()
    finally:
        trainer.close()
    return rows, trainer.learner.evaluator


def comparable(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith(("time/", "ray/", "perf/"))}


@pytest.mark.slow
@pytest.mark.usefixtures("cluster")
class TestCluster:
    def test_node_removed_mid_run_gives_the_same_run(self, cluster):
        base = [
            "--optimizer.popsize=8",
            "--eval.episodes=2",
            "--eval.obs_norm=true",
            "--eval.test_every=2",
            "--eval.test_episodes=3",
            "--stop.generations=4",
            "--stop.target=null",
        ]
        local_rows, _ = trainer_rows(load_config("pendulum", base))
        joined = [*base, "--eval.evaluator=ray", "--eval.workers=2"]
        config = load_config("pendulum", [*joined, f"--eval.ray_address={cluster.address}"])
        calls: list[int] = []

        def remove_second_node(ev: RayEvaluator) -> None:
            calls.append(1)
            if len(calls) == 1:  # generation 1: the two workers sit on the two nodes
                nodes = {w.node_id for w in ev.workers}
                assert nodes == {n.node_id for n in cluster.worker_nodes}
            if len(calls) == 2:  # generation 2, chunks in flight
                cluster.remove_node(list(cluster.worker_nodes)[-1])

        rows, evaluator = trainer_rows(config, remove_second_node)
        assert not ray.is_initialized()  # the evaluator joined the cluster, so it disconnected
        assert [comparable(r) for r in rows] == [comparable(r) for r in local_rows]
        assert evaluator.failures == 1
        assert sum(r["ray/failures"] for r in rows) == 1
        assert rows[0]["ray/actors"] == 2 and rows[-1]["ray/actors"] == 1
        assert {"time/eval", "time/overhead", "time/straggler_wait"} <= set(rows[-1])

    def test_losing_every_node_raises_training_error(self, cluster):
        if not cluster.worker_nodes:
            cluster.add_node(num_cpus=1, object_store_memory=100 * MB)
        env, ctrl = CASES["cartpole-nv-lstm"]
        config = ray_config(env, ctrl, workers=1, ray_address=cluster.address)
        controller, params = population(config, size=4)

        def remove_all(ev: RayEvaluator) -> None:
            for node in list(cluster.worker_nodes):
                cluster.remove_node(node)

        evaluator = RayEvaluator(config, controller)  # default timeout: slow start-up is fine
        evaluator.lost_timeout_s = 3.0  # but once every node is gone, give up quickly
        evaluator.on_submit = remove_all
        try:
            with pytest.raises(TrainingError, match="cluster looks gone") as info:
                for _ in range(3):  # a chunk may finish before its node goes; the next cannot
                    evaluator.evaluate(params, np.array([1, 2]))
            assert "\n" not in str(info.value)
        finally:
            evaluator.close()
        assert not ray.is_initialized()


# ---------------------------------------------------------------------------- shutdown


@needs_proc
def test_evaluator_started_ray_is_shut_down_cleanly():
    assert not ray.is_initialized()
    env, ctrl = CASES["cartpole-nv-lstm"]
    config = ray_config(env, ctrl, workers=2)
    controller, params = population(config, size=4)
    evaluator = RayEvaluator(config, controller)
    try:
        daemons = ray_daemons()
        assert {"raylet", "gcs_server"} <= {_name(p) for p in daemons}
        assert ray.cluster_resources()["CPU"] == 2  # num_cpus = eval.workers
        evaluator.evaluate(params, np.array([1]))
    finally:
        evaluator.close()
    assert not ray.is_initialized()
    assert not wait_gone(daemons)


@needs_proc
def test_no_ray_processes_leaked_by_this_module():
    assert not ray.is_initialized()
    assert not wait_gone(ray_daemons(), timeout=5.0)


def _name(pid: int) -> str:
    with open(f"/proc/{pid}/comm") as fh:
        return fh.read().strip()
