"""Checks from outside our code: our series against reservoirpy's generators, and reservoirpy's
echo state network as a benchmark baseline. Skipped when reservoirpy (the ``bench`` extra) is
not installed."""

from __future__ import annotations

import numpy as np
import pytest

rpy_datasets = pytest.importorskip("reservoirpy.datasets")

from test_timeseries import mackey_glass_rk4  # noqa: E402  (the reference RK4 integration)

from evorl.tasks.timeseries import (  # noqa: E402
    EVOLINO_FREQS,
    MSO_FREQS,
    mackey_glass,
    make_task,
    superimposed_sines,
)


@pytest.mark.parametrize("k", range(2, 9))
def test_mso_series_equal_reservoirpys(k):
    theirs = rpy_datasets.mso(1000, freqs=list(MSO_FREQS[:k]), normalize=False)[:, 0]
    np.testing.assert_allclose(superimposed_sines(1000, MSO_FREQS[:k]), theirs, atol=1e-12)


def test_mso_frequency_sets_and_the_tasks_scaling_match_reservoirpys():
    ours = superimposed_sines(700, MSO_FREQS)
    np.testing.assert_allclose(ours, rpy_datasets.mso8(700, normalize=False)[:, 0], atol=1e-12)
    np.testing.assert_allclose(
        superimposed_sines(700, MSO_FREQS[:2]), rpy_datasets.mso2(700, normalize=False)[:, 0]
    )
    # reservoirpy's normalised series is an affine map of the task's (same split, same NRMSE)
    task = make_task("mso5")
    y = np.concatenate([task.inverse(task.train[:, 0]), task.test_target[0, :, 0]])
    theirs = rpy_datasets.mso(700, freqs=list(MSO_FREQS[:5]))[:, 0]
    np.testing.assert_allclose((2 * y - y.min() - y.max()) / (y.max() - y.min()), theirs)
    # Evolino's five sines are not MSO5: the fifth frequency differs (0.74 against 0.63)
    assert EVOLINO_FREQS[4] != MSO_FREQS[4]


def test_mackey_glass_agrees_with_reservoirpys_to_the_integrators_errors():
    """Same equation, parameters and history; only the integrators differ. Ours (Jaeger's Euler
    δ = 0.1) stays within 5e-3 of an RK4 reference over 50 time units, reservoirpy's scheme at
    its default step h = 1 within 5e-2; the two agree to within that step's error, where a
    different parameter or an off-by-one delay would put them O(0.1-1) apart."""
    reference = mackey_glass_rk4(50)
    ours = mackey_glass(50, tau=17.0, y0=1.2, discard=0)
    theirs = rpy_datasets.mackey_glass(
        51, tau=17, a=0.2, b=0.1, n=10, x0=1.2, h=1.0, history=np.full(17, 1.2)
    )[1:, 0]  # theirs[0] is x(0); ours starts at x(1)
    assert np.abs(ours - reference).max() < 5e-3
    assert np.abs(theirs - reference).max() < 5e-2
    assert np.abs(ours - theirs).max() < 5e-2


def test_mackey_glass_attractor_statistics_agree_with_reservoirpys_default_series():
    """Chaos separates any two integrations within a few hundred time units, so over the long
    series the comparison is of the attractor: reservoirpy's default series (h = 1, random
    history, transient dropped) and the task's series share mean, spread and median to 0.5 %."""
    ours = mackey_glass(20_000)
    theirs = rpy_datasets.mackey_glass(21_000, tau=17, seed=5)[1000:, 0]
    assert ours.mean() == pytest.approx(theirs.mean(), rel=5e-3)
    assert ours.std() == pytest.approx(theirs.std(), rel=5e-3)
    assert np.median(ours) == pytest.approx(np.median(theirs), rel=5e-3)


def test_reservoirpys_mackey_glass_is_consistent_only_at_step_one():
    """Why the series agreement above is taken at reservoirpy's step h = 1: in reservoirpy
    0.4.2 the delayed term of each step is not multiplied by h, so for h != 1 the scheme does
    not even keep the equilibrium y = 1 (ours keeps it at any step)."""
    at_one = rpy_datasets.mackey_glass(200, tau=17, h=1.0, x0=1.0, history=np.ones(17))[:, 0]
    finer = rpy_datasets.mackey_glass(200, tau=17, h=0.1, x0=1.0, history=np.ones(170))[:, 0]
    np.testing.assert_allclose(at_one, 1.0, atol=1e-12)
    assert abs(finer[-1] - 1.0) > 1.0
    np.testing.assert_allclose(mackey_glass(200, y0=1.0, delta=0.1, discard=0), 1.0, atol=1e-12)


# ------------------------------------------------------------------ reservoirpy's ESN as baseline


def _fitted(preset: str, units: int = 40):
    from evorl.agents.evolino.rpy_esn import RpyESN, RpyESNConfig

    task = make_task("sines3")
    esn = RpyESN(RpyESNConfig(presets=(preset,), units=units, ridges=(1e-8,), seed=2), 1)
    info = esn.fit(task.train, task.washout)
    return task, esn, info


@pytest.mark.parametrize("preset", ["mg-tutorial", "jaeger-haas"])
def test_rpy_esn_predicts_as_reservoirpys_own_model_does(preset):
    """Our wiring of reservoirpy's nodes (teacher forcing, output fed back) against reservoirpy's
    ESN model built from the same fitted nodes, run as its generation tutorial runs one:
    ``model.run`` on the context, then ``y = model(y)`` step by step."""
    from reservoirpy import ESN

    task, esn, _ = _fitted(preset)
    m = esn.model
    model = ESN(reservoir=m.reservoir, readout=m.readout, input_to_readout=m.preset.readout_input)
    x = m.to_net(task.train)
    m.reservoir.reset()
    one = m.from_net(model.run(x[:-1])[task.washout :])
    np.testing.assert_allclose(esn.one_step(task.train, task.washout), one, atol=1e-10)
    m.reservoir.reset()
    y = model.run(x)[-1]  # the prediction of the value after the context
    free = [y]
    for _ in range(49):
        y = model(y)
        free.append(y)
    ours = esn.forecast(task.train[None], 50)[0]
    np.testing.assert_allclose(ours, m.from_net(np.array(free)), atol=1e-9)


def test_rpy_esn_keeps_the_preset_with_the_lowest_validation_error():
    from evorl.agents.evolino.rpy_esn import RpyESN, RpyESNConfig

    task = make_task("sines2")
    cfg = RpyESNConfig(presets=("mg-tutorial", "mso-es2n"), units=30, ridges=(1e-8, 1e-4))
    esn = RpyESN(cfg, 1)
    info = esn.fit(task.train, task.washout)
    scores = info["valid_by_preset"]
    assert len(scores) == 4 and info["valid_nrmse"] == min(scores.values())
    assert scores[f"{info['preset']} ridge {info['ridge']:g}"] == info["valid_nrmse"]
    assert task.score(esn.forecast)[0] < 0.5  # two sines from 30 units: it forecasts


def test_quick_benchmark_runs_the_reservoirpy_baseline_on_every_kind_of_task(tmp_path):
    from evorl.agents.evolino.bench import format_table, run_benchmark

    rows = run_benchmark(
        ["sines2", "mackey-glass", "anbncn"], ["rpy-esn"], quick=True, out=tmp_path, plots=False
    )
    assert [(r.task, r.method) for r in rows] == [
        ("sines2", "rpy-esn"),
        ("mackey-glass", "rpy-esn"),
        ("anbncn", "rpy-esn"),
    ]
    assert all(np.isfinite(r.test) for r in rows) and rows[0].test < 0.5
    assert rows[2].metric == "max n" and rows[2].test >= 1  # n = 1 at least is learnt
    assert all(r.info["preset"] for r in rows)
    assert "rpy-esn" in format_table(rows)
