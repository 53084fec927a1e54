"""Evolino's noise on the teacher-forced inputs (``EvolinoConfig.teacher_noise``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from evorl.agents.evolino import Evolino, EvolinoConfig
from evorl.agents.evolino.network import fit_and_validate
from evorl.agents.evolino.polish import free_run_loss
from evorl.agents.evolino.readout import add_bias
from evorl.seeding import STREAM_TEACHER_NOISE, stream
from evorl.tasks.timeseries import make_task

F64 = torch.float64
CONFIG = EvolinoConfig(hidden=3, dtype="float64", valid=50, readout_cells=True, seed=5)


def _model(**changes) -> Evolino:
    model = Evolino(dataclasses.replace(CONFIG, **changes), 1)
    model.clip = 10.0
    return model


def _reference(model: Evolino, genome: np.ndarray, train: np.ndarray, washout: int):
    """Fitness and readout by a plain loop: teacher-force step by step with the noisy inputs
    before the validation segment and clean ones after, solve the readout by numpy's least
    squares on clean targets, run free over the validation segment."""
    net, valid = model.net, model.config.valid
    params = net.params(model.flat(genome[None]))
    noise = model.input_noise(train)
    noise = np.zeros_like(train) if noise is None else noise
    fit_end = len(train) - 1 - valid
    state, feats = net.initial_state(1), []
    for t in range(fit_end + 1):
        u = torch.as_tensor(train[t] + (noise[t] if t < fit_end else 0.0))[None]
        state = net.step(u, state, params)
        if washout <= t < fit_end:
            feats.append(net.phi(state, u)[0].numpy())
    phi = add_bias(torch.as_tensor(np.array(feats))).numpy()
    w = np.linalg.lstsq(phi, train[washout + 1 : fit_end + 1], rcond=None)[0]
    u, sq = torch.as_tensor(train[fit_end])[None], []
    for k in range(valid):
        y = np.clip(add_bias(net.phi(state, u)).numpy() @ w, -model.clip, model.clip)
        sq.append((y[0] - train[fit_end + 1 + k]) ** 2)
        u = torch.as_tensor(y)
        state = net.step(u, state, params)
    return -np.log(np.sqrt(np.mean(sq) / train.var(ddof=1)) + 1e-12), w


def test_no_noise_leaves_fitness_and_readout_bit_identical():
    train = make_task("sines3").train
    model = _model()
    genomes = model.make_optimizer().ask()[:4]
    assert model.input_noise(train) is None
    fitness, readouts = model.evaluate(genomes, train, 100)
    c = model.config
    nrmse, plain = fit_and_validate(  # the call as it was before the option existed
        model.net,
        model.net.params(model.flat(genomes)),
        4,
        torch.as_tensor(train),
        100,
        c.valid,
        clip=model.clip,
    )
    assert torch.equal(readouts, plain)
    np.testing.assert_array_equal(fitness, -np.log(np.minimum(nrmse, 1e6) + 1e-12))


def test_noise_is_the_stated_gaussian_deterministic_per_seed():
    series = make_task("sines3").train * 7.0
    noise = _model(teacher_noise=0.01).input_noise(series)
    draws = np.random.default_rng(stream(5, STREAM_TEACHER_NOISE)).standard_normal(series.shape)
    np.testing.assert_array_equal(noise, 0.01 * series.std(axis=0) * draws)
    assert noise.std() == pytest.approx(0.01 * series.std(), rel=0.15)
    np.testing.assert_array_equal(noise, _model(teacher_noise=0.01).input_noise(series))
    assert not np.array_equal(noise, _model(teacher_noise=0.01, seed=6).input_noise(series))


@pytest.mark.parametrize("teacher_noise", [0.0, 0.05])
def test_fitness_and_readout_match_a_plain_loop_over_noisy_inputs(teacher_noise):
    train = make_task("sines3").train
    model = _model(teacher_noise=teacher_noise)
    genomes = model.make_optimizer().ask()[:2]
    fitness, readouts = model.evaluate(genomes, train, 100)
    for genome, f, w in zip(genomes, fitness, readouts, strict=True):
        f_ref, w_ref = _reference(model, genome, train, 100)
        np.testing.assert_allclose(w.numpy(), w_ref, rtol=1e-6, atol=1e-8)
        assert f == pytest.approx(f_ref, rel=1e-6)
    if teacher_noise:
        clean = _model().evaluate(genomes, train, 100)[1]
        assert not torch.allclose(readouts, clean)


def test_the_polish_loss_sees_the_same_noise():
    train = make_task("sines3").train
    noisy, clean = _model(teacher_noise=0.05), _model()
    genome = torch.as_tensor(noisy.make_optimizer().ask()[0])
    x = torch.as_tensor(train)
    loss = free_run_loss(noisy, genome, x, 100, 20)
    assert loss == free_run_loss(noisy, genome, x, 100, 20)
    assert loss != free_run_loss(clean, genome, x, 100, 20)


def test_negative_noise_is_refused():
    with pytest.raises(ValueError, match="teacher_noise"):
        EvolinoConfig(teacher_noise=-0.1)
