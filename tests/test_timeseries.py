"""Time-series tasks match their published definitions; protocols and metrics score correctly."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest

from evorl.tasks.timeseries import (
    EVOLINO_FREQS,
    MSO_FREQS,
    TASKS,
    AnBnCn,
    lorenz,
    mackey_glass,
    make_task,
    nrmse,
    superimposed_sines,
)


def test_sines_follow_the_formula_and_frequency_sets():
    t = np.arange(30)
    expected = np.sin(0.2 * t) + np.sin(0.311 * t) + np.sin(0.42 * t)
    np.testing.assert_allclose(superimposed_sines(30, EVOLINO_FREQS[:3]), expected, atol=1e-14)
    assert EVOLINO_FREQS == (0.2, 0.311, 0.42, 0.51, 0.74)
    assert MSO_FREQS == (0.2, 0.311, 0.42, 0.51, 0.63, 0.74, 0.85, 0.97)


@pytest.mark.parametrize(
    ("name", "freqs"),
    [("sines2", EVOLINO_FREQS[:2]), ("sines5", EVOLINO_FREQS), ("mso5", MSO_FREQS[:5])],
)
def test_sines_protocol_trains_on_400_and_tests_300_free_steps(name, freqs):
    task = make_task(name)
    y = superimposed_sines(700, freqs)
    k = len(freqs)
    assert task.train.shape == (400, 1) and task.washout == 100 and task.steps == 300
    np.testing.assert_allclose(task.inverse(task.train[:, 0]), y[:400], atol=1e-12)
    np.testing.assert_allclose(task.test_target[0, :, 0], y[400:], atol=1e-12)
    np.testing.assert_allclose(task.train[:, 0], y[:400] / k, atol=1e-12)  # network coordinates
    assert task.variance[0] == pytest.approx(y.var())


def _reference_mackey_glass(n: int, discard: int) -> np.ndarray:
    """Jaeger's eq. 23 written independently: Euler δ = 0.1 on a delay line, every 10th kept."""
    delta, delay = 0.1, 170
    line = deque([1.2] * (delay + 1), maxlen=delay + 1)  # line[0] = y(t - τ), line[-1] = y(t)
    out = []
    for i in range(1, (n + discard) * 10 + 1):
        y, y_tau = line[-1], line[0]
        line.append(y + delta * (0.2 * y_tau / (1.0 + y_tau**10) - 0.1 * y))
        if i % 10 == 0 and i // 10 > discard:
            out.append(line[-1])
    return np.array(out)


def test_mackey_glass_matches_an_independent_euler_loop():
    np.testing.assert_allclose(
        mackey_glass(1500, discard=200), _reference_mackey_glass(1500, 200), rtol=1e-12, atol=0
    )


def mackey_glass_rk4(time_units: int, h: float = 0.01) -> np.ndarray:
    """Mackey-Glass τ = 17 by RK4 with the delayed term interpolated linearly, constant history
    1.2: y at t = 1, 2, …, time_units (the reference of this file and test_reservoirpy.py)."""
    delay, steps = round(17 / h), round(time_units / h)
    y = np.full(delay + steps + 1, 1.2)

    def f(v, v_tau):
        return 0.2 * v_tau / (1.0 + v_tau**10) - 0.1 * v

    for i in range(delay, delay + steps):
        lag0, lag1 = y[i - delay], y[i - delay + 1]
        mid = 0.5 * (lag0 + lag1)
        k1 = f(y[i], lag0)
        k2 = f(y[i] + h / 2 * k1, mid)
        k3 = f(y[i] + h / 2 * k2, mid)
        k4 = f(y[i] + h * k3, lag1)
        y[i + 1] = y[i] + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y[delay :: round(1 / h)][1:]


def test_mackey_glass_euler_is_close_to_rk4_of_the_delay_equation():
    rk4 = mackey_glass_rk4(100)  # RK4 over 100 time units, h = 0.01
    assert np.abs(mackey_glass(100, discard=0) - rk4).max() < 0.02


def test_mackey_glass_protocol_is_jaegers():
    task = make_task("mackey-glass")
    assert task.train.shape == (3000, 1) and task.metric == "NRMSE84"
    assert task.test_context.shape == (100, 1000, 1) and task.test_target.shape == (100, 84, 1)
    y = mackey_glass(3000 + 100 * 1084)
    np.testing.assert_allclose(task.train[:, 0], np.tanh(y[:3000] - 1.0), atol=1e-12)
    np.testing.assert_allclose(task.inverse(task.train[:, 0]), y[:3000], atol=1e-9)
    runs = y[3000:].reshape(100, 1084)
    np.testing.assert_allclose(task.test_target[:, :, 0], runs[:, 1000:])
    assert y.min() > 0.2 and y.max() < 1.45  # the τ = 17 attractor's range
    assert task.published == {"evolino": 1.9e-3, "esn": 2.8e-4}


def test_nrmse84_scores_only_the_84th_free_step():
    task = make_task("mackey-glass")
    truth = np.tanh(task.test_target - 1.0)

    def oracle(context, steps):
        assert context.shape == (100, 1000, 1) and steps == 84
        return truth.copy()

    assert task.score(oracle)[0] == pytest.approx(0.0, abs=1e-9)

    def off_by_one_before_the_end(context, steps):
        pred = truth.copy()
        pred[:, :-1] += 0.1  # errors before step 84 do not count
        return pred

    assert task.score(off_by_one_before_the_end)[0] == pytest.approx(0.0, abs=1e-9)


def test_nrmse_definition():
    pred, target = np.array([1.0, 2.0, 4.0]), np.array([1.0, 1.0, 1.0])
    assert nrmse(pred, target, 2.0) == pytest.approx(np.sqrt((0 + 1 + 9) / 3 / 2))
    assert nrmse(np.array([np.nan]), np.zeros(1), 1.0) == np.inf


def test_lorenz_matches_a_finer_independent_integration():
    s = lorenz(101, discard=100)  # samples every 0.02 time units

    def f(v):
        x, y, z = v
        return np.array([10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z])

    v, h, ref = s[0].copy(), 0.001, [s[0]]
    for i in range(1, 2001):  # 2 time units, ten times finer than the generator's dt
        k1 = f(v)
        k2 = f(v + h / 2 * k1)
        k3 = f(v + h / 2 * k2)
        v = v + h / 6 * (k1 + 2 * k2 + 2 * k3 + f(v + h * k3))
        if i % 20 == 0:
            ref.append(v)
    assert np.abs(s - np.array(ref)).max() < 1e-3 * np.abs(s).max()


def test_anbncn_strings_and_generalization():
    inputs, targets = AnBnCn.string(2)  # S a a b b c c
    np.testing.assert_array_equal(inputs.argmax(1), [0, 1, 1, 2, 2, 3, 3])
    legal = [
        [1, 0, 0, 0],
        [1, 1, 0, 0],
        [1, 1, 0, 0],
        [0, 1, 0, 0],
        [0, 0, 1, 0],
        [0, 0, 1, 0],
        [0, 0, 0, 1],
    ]
    np.testing.assert_array_equal(targets, legal)
    task = AnBnCn()

    def oracle(strings):
        return [AnBnCn.string((len(s) - 1) // 3)[1] for s in strings]

    assert task.generalization(oracle, 30) == 30

    def fails_from_7(strings):
        outs = oracle(strings)
        return [o if len(o) < 22 else 1 - o for o in outs]

    assert task.generalization(fails_from_7, 30) == 6
    batch_in, _, starts = task.batch((1, 2))
    assert batch_in.shape == (11, 4) and starts.nonzero()[0].tolist() == [0, 4]


def test_every_task_name_builds():
    for name in TASKS:
        if name != "anbncn" and name not in ("mackey-glass", "lorenz"):  # slow ones tested above
            assert make_task(name).train.shape == (400, 1)
    with pytest.raises(ValueError, match="unknown time-series task"):
        make_task("sines9")
