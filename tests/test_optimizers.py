"""Tests of evorl.optimizers: every registered optimizer optimises, resumes exactly, is seeded.

Registry-driven (every name in OPTIMIZERS), plus unit tests of the shaping functions (values
computed by hand), the steppers, CoSyNE's permutation, xNES's matrix exponential (against
torch.linalg.matrix_exp) and the pycma adapter's restarts and global-RNG hygiene.
"""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
import torch

from evorl.optimizers import (
    OPTIMIZERS,
    Adam,
    ClipUp,
    Optimizer,
    SettingInfo,
    centered_ranks,
    make_optimizer,
    nes_utilities,
    nes_utility_shaping,
    normalize,
    optimizer_settings,
    rank_weights,
)
from evorl.optimizers.cosyne import permute_marked
from evorl.optimizers.xnes import expm_symmetric

NAMES = list(OPTIMIZERS)

# (sigma, popsize, settings) per optimizer for the convergence tests: a fixed budget of 100
# generations, so each gets a step size and population suited to these small problems.
TUNING: dict[str, tuple[float, int, dict]] = {
    "cmaes": (1.0, 16, {}),
    "sep-cmaes": (1.0, 16, {}),
    "pgpe": (0.5, 20, {"max_speed": 0.1}),
    "snes": (1.0, 16, {}),
    "xnes": (1.0, 16, {}),
    "openai-es": (0.5, 20, {"learning_rate": 0.05}),
    "cosyne": (0.3, 24, {"mutation_probability": 0.2}),
    "esp": (0.3, 40, {"subpop_size": 10, "units": 5, "credit": "max"}),
}

SHIFT = np.array([1.3, -0.7, 2.1, -1.6, 0.4])


def sphere(x: np.ndarray) -> np.ndarray:
    return -np.sum(x * x, axis=-1)


def rastrigin(x: np.ndarray) -> np.ndarray:
    """Shifted Rastrigin with amplitude 1 (local optima on a unit lattice around SHIFT)."""
    y = x - SHIFT
    return -np.sum(y * y + (1 - np.cos(2 * np.pi * y)), axis=-1)


def tuned(name: str, x0: np.ndarray, seed: int) -> Optimizer:
    sigma, popsize, settings = TUNING[name]
    return make_optimizer(name, x0, sigma=sigma, popsize=popsize, seed=seed, **settings)


def run(opt: Optimizer, fn, generations: int) -> None:
    for _ in range(generations):
        x = opt.ask()
        opt.tell(x, fn(x))


def same_rng_state(a: tuple, b: tuple) -> bool:
    return all(
        np.array_equal(u, v) if isinstance(u, np.ndarray) else u == v
        for u, v in zip(a, b, strict=True)
    )


def test_tuning_covers_the_registry():
    assert set(TUNING) == set(OPTIMIZERS)
    assert set(NAMES) == {
        "cmaes",
        "sep-cmaes",
        "pgpe",
        "snes",
        "xnes",
        "openai-es",
        "cosyne",
        "esp",
    }


# --------------------------------------------------------------------------- optimisation


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("name", NAMES)
def test_sphere_distance_shrinks_tenfold(name, seed):
    x0 = np.ones(10)
    opt = tuned(name, x0, seed)
    run(opt, sphere, 100)
    assert np.linalg.norm(opt.center) < 0.1 * np.linalg.norm(x0)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("name", NAMES)
def test_shifted_rastrigin_loss_shrinks_fivefold(name, seed):
    x0 = np.zeros(5)
    opt = tuned(name, x0, seed)
    run(opt, rastrigin, 100)
    assert -rastrigin(opt.center) < 0.2 * -rastrigin(x0)


@pytest.mark.parametrize("name", NAMES)
def test_higher_fitness_is_better(name):
    """Maximising -|x|^2 approaches 0 and maximising +|x|^2 moves away (guards pycma's flip)."""
    x0 = np.full(5, 2.0)
    toward = make_optimizer(name, x0, sigma=0.3, popsize=None, seed=4)
    away = make_optimizer(name, x0, sigma=0.3, popsize=None, seed=4)
    run(toward, sphere, 15)
    run(away, lambda x: -sphere(x), 15)
    assert np.linalg.norm(toward.center) < np.linalg.norm(x0) < np.linalg.norm(away.center)


@pytest.mark.parametrize("name", NAMES)
def test_protocol_shapes_and_dtypes(name):
    opt = make_optimizer(name, np.arange(6.0), sigma=0.2, popsize=None, seed=0)
    assert isinstance(opt, Optimizer)
    assert opt.name == name and opt.dim == 6
    x = opt.ask()
    assert x.shape == (opt.popsize, 6) and x.dtype == np.float64
    center = opt.center
    assert center.shape == (6,) and center.dtype == np.float64
    center[:] = 99.0  # a copy: the caller cannot corrupt the optimizer
    assert not np.any(opt.center == 99.0)
    metrics = opt.tell(x, sphere(x))
    assert metrics and all(k.startswith("opt/") for k in metrics)
    assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())


@pytest.mark.parametrize("name", ["sep-cmaes", "pgpe", "snes", "openai-es", "cosyne"])
def test_diagonal_methods_handle_ten_thousand_parameters(name):
    """O(d) methods run at d = 10,000 (their speed: scripts/bench_optimizers.py)."""
    x0 = np.zeros(10_000)
    opt = make_optimizer(name, x0, sigma=0.1, popsize=16, seed=1)
    run(opt, sphere, 2)
    assert opt.center.shape == (10_000,) and np.all(np.isfinite(opt.center))


def test_sep_cmaes_improves_at_d2000():
    x0 = np.ones(2000)
    opt = make_optimizer("sep-cmaes", x0, sigma=0.2, popsize=None, seed=1)
    run(opt, sphere, 30)
    assert sphere(opt.center) > sphere(x0)


# --------------------------------------------------------------------------- determinism, state


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_asks_different_seed_different(name):
    def asks(seed) -> list[np.ndarray]:
        opt = make_optimizer(name, np.ones(5), sigma=0.3, popsize=None, seed=seed)
        out = []
        for _ in range(3):
            x = opt.ask()
            out.append(x)
            opt.tell(x, sphere(x))
        return out

    def child() -> np.random.SeedSequence:  # a spawned SeedSequence works as a seed too
        return np.random.SeedSequence(11, spawn_key=(1,))

    a, b, c = asks(11), asks(11), asks(12)
    assert all(np.array_equal(u, v) for u, v in zip(a, b, strict=True))
    assert all(np.array_equal(u, v) for u, v in zip(asks(child()), asks(child()), strict=True))
    assert not np.array_equal(a[0], c[0])


def _trajectory(opt: Optimizer, generations: int) -> list[np.ndarray]:
    out = []
    for _ in range(generations):
        x = opt.ask()
        out.append(x)
        opt.tell(x, rastrigin(x))
    return [*out, opt.center]


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_round_trip_resumes_exactly(name):
    x0 = np.zeros(5)
    opt = make_optimizer(name, x0, sigma=0.5, popsize=None, seed=5)
    _trajectory(opt, 4)
    state = opt.state_dict()
    blob = pickle.dumps(state)
    original = _trajectory(opt, 4)  # the original keeps going after the snapshot

    for saved in (pickle.loads(blob), state):  # the in-memory dict must be a snapshot too
        fresh = make_optimizer(name, x0, sigma=0.5, popsize=None, seed=999)
        fresh.load_state_dict(saved)
        resumed = _trajectory(fresh, 4)
        assert all(np.array_equal(u, v) for u, v in zip(original, resumed, strict=True))


@pytest.mark.parametrize("name", NAMES)
def test_state_saved_between_ask_and_tell(name):
    x0 = np.zeros(5)
    opt = make_optimizer(name, x0, sigma=0.5, popsize=None, seed=6)
    x = opt.ask()
    state = pickle.loads(pickle.dumps(opt.state_dict()))
    opt.tell(x, rastrigin(x))
    fresh = make_optimizer(name, x0, sigma=0.5, popsize=None, seed=7)
    fresh.load_state_dict(state)
    fresh.tell(x, rastrigin(x))
    assert np.array_equal(opt.ask(), fresh.ask())


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_of_another_kind_is_refused(name):
    other = "snes" if name != "snes" else "pgpe"
    state = make_optimizer(other, np.zeros(4), sigma=0.1, popsize=None, seed=1).state_dict()
    opt = make_optimizer(name, np.zeros(4), sigma=0.1, popsize=None, seed=1)
    with pytest.raises(ValueError, match="state_dict is for optimizer"):
        opt.load_state_dict(state)


# --------------------------------------------------------------------------- input errors


@pytest.mark.parametrize("name", NAMES)
def test_non_finite_fitness_is_rejected(name):
    opt = make_optimizer(name, np.zeros(4), sigma=0.1, popsize=None, seed=1)
    x = opt.ask()
    f = sphere(x)
    f[1], f[3] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"fitness contains NaN/inf at indices \[1, 3\]"):
        opt.tell(x, f)


@pytest.mark.parametrize("name", NAMES)
def test_wrong_shapes_are_rejected(name):
    opt = make_optimizer(name, np.zeros(4), sigma=0.1, popsize=None, seed=1)
    x = opt.ask()
    with pytest.raises(ValueError, match="candidates must have the shape"):
        opt.tell(x[:-1], sphere(x[:-1]))
    with pytest.raises(ValueError, match="candidates must have the shape"):
        opt.tell(x[:, :-1], sphere(x))
    with pytest.raises(ValueError, match="fitness must have shape"):
        opt.tell(x, sphere(x)[:-1])


@pytest.mark.parametrize("name", NAMES)
def test_tell_without_ask_is_an_error(name):
    opt = make_optimizer(name, np.zeros(4), sigma=0.1, popsize=None, seed=1)
    x = opt.ask()
    opt.tell(x, sphere(x))
    with pytest.raises(RuntimeError, match="without a pending ask"):
        opt.tell(x, sphere(x))


def test_unknown_optimizer_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adamw'; known: cmaes, sep-cmaes"):
        make_optimizer("adamw", np.zeros(3), sigma=0.1, popsize=None, seed=0)


def test_unknown_setting_lists_the_known_ones():
    with pytest.raises(
        ValueError, match=r"unknown setting 'foo' for optimizer 'pgpe'; known: center_learning"
    ):
        make_optimizer("pgpe", np.zeros(3), sigma=0.1, popsize=None, seed=0, foo=1)


@pytest.mark.parametrize(
    ("name", "settings", "message"),
    [
        ("pgpe", {"momentum": "high"}, "must be float"),
        ("pgpe", {"ranking": "median"}, "must be one of"),
        ("pgpe", {"momentum": 1.5}, "momentum must be in"),
        ("cmaes", {"restarts": "sometimes"}, "must be one of"),
        ("cmaes", {"cma_options": {"seed": 3}}, "may not set 'seed'"),
        ("cmaes", {"cma_options": {"no_such_option": 3}}, "unknown pycma option"),
        ("cosyne", {"elite_fraction": 0.9}, "elite_fraction"),
    ],
)
def test_bad_setting_values_are_rejected(name, settings, message):
    with pytest.raises(ValueError, match=message):
        make_optimizer(name, np.zeros(3), sigma=0.1, popsize=None, seed=0, **settings)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sigma": 0.0}, "sigma must be"),
        ({"sigma": float("nan")}, "sigma must be"),
        ({"seed": -1}, "seed must be"),
        ({"popsize": 7, "name": "pgpe"}, "multiple of 2"),
        ({"popsize": 1}, "popsize must be"),
        ({"x0": np.zeros((2, 2))}, "1-D"),
        ({"x0": np.array([0.0, np.nan])}, "NaN"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    args = {"name": "snes", "x0": np.zeros(3), "sigma": 0.1, "popsize": None, "seed": 0}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        make_optimizer(args.pop("name"), args.pop("x0"), **args)


@pytest.mark.parametrize("name", NAMES)
def test_settings_are_documented_and_their_defaults_valid(name):
    info = optimizer_settings(name)
    assert info, name
    for key, item in info.items():
        assert isinstance(item, SettingInfo)
        assert item.doc, f"{name}.{key} has no docstring"
    opt = make_optimizer(
        name,
        np.zeros(4),
        sigma=0.1,
        popsize=None,
        seed=0,
        **{k: v.default for k, v in info.items()},
    )
    run(opt, sphere, 1)


def test_settings_accept_yaml_ints_for_floats():
    opt = make_optimizer("pgpe", np.zeros(3), sigma=0.1, popsize=None, seed=0, max_speed=1)
    assert isinstance(opt.settings.max_speed, float)


# --------------------------------------------------------------------------- shaping


def test_centered_ranks_by_hand():
    np.testing.assert_allclose(centered_ranks(np.array([3.0, 1.0, 2.0])), [0.5, -0.5, 0.0])
    np.testing.assert_allclose(
        centered_ranks(np.array([10.0, -4.0, 7.0, 0.0, 1.0])), [0.5, -0.5, 0.25, -0.25, 0.0]
    )
    np.testing.assert_array_equal(centered_ranks(np.array([5.0])), [0.0])


def test_ties_share_the_mean_weight_whatever_the_order():
    # best-first weights 0.5, 0, -0.5; the two 1.0s share ranks 2 and 3: (0 - 0.5) / 2
    np.testing.assert_allclose(centered_ranks(np.array([1.0, 1.0, 2.0])), [-0.25, -0.25, 0.5])
    np.testing.assert_array_equal(centered_ranks(np.full(4, 3.0)), np.zeros(4))
    np.testing.assert_allclose(nes_utility_shaping(np.full(6, -1.0)), np.zeros(6), atol=1e-15)


def test_nes_utilities_by_hand():
    # n = 4: raw_k = max(0, ln 3 - ln k) = [ln 3, ln 1.5, 0, 0]
    raw = np.array([math.log(3), math.log(1.5), 0.0, 0.0])
    expected = raw / (math.log(3) + math.log(1.5)) - 0.25
    np.testing.assert_allclose(nes_utilities(4), expected)
    assert nes_utilities(4)[0] == pytest.approx(0.4804, abs=1e-4)
    np.testing.assert_allclose(nes_utilities(1), [0.0], atol=1e-15)
    for n in (2, 5, 16, 101):
        u = nes_utilities(n)
        assert abs(u.sum()) < 1e-12 and np.all(np.diff(u) <= 0)
    # assigned by rank: the best candidate (index 2) gets u_1, the worst (index 0) u_4
    np.testing.assert_allclose(
        nes_utility_shaping(np.array([-3.0, 0.0, 5.0, -1.0])), expected[[3, 1, 0, 2]]
    )


def test_normalize_by_hand():
    np.testing.assert_allclose(
        normalize(np.array([1.0, 2.0, 3.0])), [-math.sqrt(1.5), 0, math.sqrt(1.5)]
    )
    np.testing.assert_array_equal(normalize(np.full(3, 1e6)), np.zeros(3))


def test_rank_weights_follow_a_permutation_of_the_candidates():
    rng = np.random.default_rng(0)
    f = rng.normal(size=9)
    w = rng.normal(size=9)
    perm = rng.permutation(9)
    np.testing.assert_array_equal(rank_weights(f[perm], w), rank_weights(f, w)[perm])


def test_shaping_rejects_nan():
    with pytest.raises(ValueError, match=r"NaN/inf at indices \[2\]"):
        centered_ranks(np.array([0.0, 1.0, np.nan]))


# --------------------------------------------------------------------------- building blocks


def test_clipup_normalises_and_clips():
    clip = ClipUp(2, step_size=0.05, max_speed=0.1, momentum=0.9)
    np.testing.assert_allclose(clip.step(np.array([30.0, 40.0])), [0.03, 0.04])
    for _ in range(50):  # a constant direction accelerates up to max_speed, no further
        v = clip.step(np.array([3.0, 4.0]))
    assert np.linalg.norm(v) == pytest.approx(0.1)
    np.testing.assert_allclose(clip.step(np.zeros(2)), 0.9 * v)  # zero gradient: momentum only


def test_adam_first_step_is_learning_rate_times_sign():
    adam = Adam(3, learning_rate=0.1)
    np.testing.assert_allclose(adam.step(np.array([2.0, -0.5, 1e3])), [0.1, -0.1, 0.1], rtol=1e-5)
    assert adam.t == 1


def test_expm_symmetric_matches_torch():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(6, 6))
    m = 0.3 * (a + a.T)
    reference = torch.linalg.matrix_exp(torch.from_numpy(m)).numpy()
    np.testing.assert_allclose(expm_symmetric(m), reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["pgpe", "openai-es"])
def test_antithetic_pairs_mirror_the_center(name):
    opt = make_optimizer(name, np.arange(4.0), sigma=0.3, popsize=8, seed=2)
    x = opt.ask()
    np.testing.assert_allclose(x[0::2] + x[1::2], np.tile(2 * opt.center, (4, 1)), atol=1e-12)


# (optimizer, settings, mirrored) of every optimizer whose candidates are centre + seeded noise
SEEDED = [
    ("openai-es", {}, True),
    ("openai-es", {"antithetic": False}, False),
    ("pgpe", {}, True),
    ("snes", {}, False),
]


def _by_hand(center, scale, seeds, mirrored):
    """The candidates as the seeded module documents them, written out row by row."""
    rows = []
    for seed in seeds:
        step = scale * np.random.default_rng(int(seed)).standard_normal(center.size)
        rows += [center + step, center - step] if mirrored else [center + step]
    return np.array(rows)


@pytest.mark.parametrize(("name", "settings", "mirrored"), SEEDED)
def test_seeded_population_rebuilds_the_asked_candidates_bit_for_bit(name, settings, mirrored):
    """Seed-only communication: the rows a worker rebuilds from (centre, scale, seeds) are
    the optimizer's own ask, bit for bit, for any subset and after pickling."""
    opt = make_optimizer(name, np.linspace(-1, 1, 7), sigma=0.3, popsize=8, seed=4, **settings)
    for _ in range(3):  # later generations too: per-parameter scales have moved by then
        x = opt.ask()
        pop = opt.seeded_population()
        assert pop is not None and pop.mirrored == mirrored and len(pop) == len(x)
        scale = opt.stdev if name == "pgpe" else opt.sigma  # the optimizer's own, not a copy
        reference = _by_hand(opt.center, scale, pop.seeds, mirrored)
        assert np.array_equal(reference, x)
        shipped = pickle.loads(pickle.dumps(pop))
        assert shipped._matrix is None and shipped._noise is None  # only the description
        for index in ([5, 6, 7], [1], [0, 3], list(range(8))):
            assert np.array_equal(shipped.rows(np.array(index)), x[index])
        assert np.array_equal(np.asarray(shipped, dtype=np.float32), x.astype(np.float32))
        opt.tell(x, sphere(x))
        assert opt.seeded_population() is None  # no pending ask


@pytest.mark.parametrize("name", [n for n in NAMES if n not in {s[0] for s in SEEDED}])
def test_other_optimizers_have_no_seeded_population(name):
    opt = tuned(name, np.zeros(5), seed=1)
    opt.ask()
    assert opt.seeded_population() is None


def test_permute_marked_only_moves_marked_entries_within_columns():
    rng = np.random.default_rng(1)
    block = rng.normal(size=(7, 50))
    marked = rng.random((7, 50)) < 0.5
    out = permute_marked(block, marked, rng.random((7, 50)))
    np.testing.assert_array_equal(out[~marked], block[~marked])
    for j in range(50):
        np.testing.assert_array_equal(
            np.sort(out[marked[:, j], j]), np.sort(block[marked[:, j], j])
        )
    assert not np.array_equal(out, block)


def test_cosyne_keeps_its_elite_and_centers_on_the_best():
    opt = make_optimizer("cosyne", np.zeros(6), sigma=0.5, popsize=16, seed=3)
    x = opt.ask()
    f = sphere(x)
    opt.tell(x, f)
    order = np.argsort(-f)
    np.testing.assert_array_equal(opt.center, x[order[0]])
    np.testing.assert_array_equal(opt.ask()[: opt.n_elite], x[order[: opt.n_elite]])


# --------------------------------------------------------------------------- pycma adapter


def test_cmaes_leaves_numpys_global_rng_alone(capsys):
    np.random.seed(1234)  # noqa: NPY002 (the global RNG is what this test guards)
    before = np.random.get_state()  # noqa: NPY002
    for name, dim in (("cmaes", 5), ("sep-cmaes", 400)):  # 400 >= 300 takes pycma's TPA path
        opt = make_optimizer(name, np.ones(dim), sigma=0.3, popsize=None, seed=1, restarts="bipop")
        run(opt, sphere, 5)
        run(opt, lambda x: np.zeros(len(x)), 3)  # flat: forces restarts
        pickle.loads(pickle.dumps(opt.state_dict()))
        assert opt.restarts >= 2
    assert same_rng_state(before, np.random.get_state())  # noqa: NPY002
    assert capsys.readouterr().out == ""  # pycma stays quiet


def test_ipop_restart_doubles_the_population():
    opt = make_optimizer("cmaes", np.zeros(5), sigma=0.5, popsize=None, seed=1, restarts="ipop")
    lam = opt.popsize
    flat = []
    for _ in range(3):
        x = opt.ask()
        flat.append(opt.tell(x, np.zeros(len(x))))  # flat fitness: pycma stops at once
    assert [m["opt/popsize"] for m in flat] == [2 * lam, 4 * lam, 8 * lam]
    assert opt.restarts == 3 and opt.popsize == 8 * lam
    assert opt.ask().shape == (8 * lam, 5)


def test_restarts_stop_at_max_restarts():
    opt = make_optimizer(
        "cmaes", np.zeros(3), sigma=0.5, popsize=6, seed=1, restarts="ipop", max_restarts=1
    )
    metrics = []
    for _ in range(2):
        x = opt.ask()
        metrics.append(opt.tell(x, np.zeros(len(x))))
    assert opt.restarts == 1 and opt.popsize == 12
    assert [m["opt/stopped"] for m in metrics] == [0.0, 1.0]


def test_bipop_alternates_large_and_small_regimes():
    opt = make_optimizer("cmaes", np.zeros(5), sigma=0.5, popsize=None, seed=2, restarts="bipop")
    lam = opt.popsize
    sizes = []
    for _ in range(6):
        x = opt.ask()
        opt.tell(x, np.zeros(len(x)))
        sizes.append(opt.popsize)
    large = [s for s in sizes if s in (2 * lam, 4 * lam, 8 * lam)]
    assert sizes[0] == 2 * lam  # the first restart is a large one
    assert len(large) < len(sizes)  # small runs are interleaved ...
    biggest_large = 0
    for s in sizes:
        if s in large:
            biggest_large = max(biggest_large, s)
        else:  # ... with lam <= popsize <= (last large popsize) / 2 (Hansen 2009)
            assert lam <= s <= biggest_large // 2


def test_cmaes_resumes_exactly_across_bipop_restarts():
    def make(seed: int) -> Optimizer:
        return make_optimizer(
            "cmaes", np.zeros(4), sigma=0.5, popsize=None, seed=seed, restarts="bipop"
        )

    def go(opt: Optimizer, generations: int) -> list[np.ndarray]:
        out = []
        for i in range(generations):  # every other generation is flat and forces a restart
            x = opt.ask()
            out.append(x)
            opt.tell(x, np.zeros(len(x)) if i % 2 == 0 else sphere(x))
        return out

    a = make(3)
    go(a, 5)
    state = pickle.dumps(a.state_dict())
    b = make(4)
    b.load_state_dict(pickle.loads(state))
    rest_a, rest_b = go(a, 8), go(b, 8)
    assert all(np.array_equal(u, v) for u, v in zip(rest_a, rest_b, strict=True))
    assert a.restarts == b.restarts >= 4
    assert b._evals["small"] > 8 and b._evals["large"] > 0  # both regimes ran


def test_cma_options_pass_through():
    opt = make_optimizer(
        "cmaes", np.zeros(4), sigma=0.5, popsize=None, seed=1, cma_options={"CMA_active": False}
    )
    run(opt, sphere, 3)
    assert opt._es.opts["CMA_active"] is False
