"""The sequence tasks produce what their definitions say; ``evorl fit`` runs end to end."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import evorl.commands.cli
from evorl.logger import read_metrics
from evorl.tasks.sequences import (
    EMBEDDED_REBER_REGEX,
    REBER_SYMBOLS,
    TASKS,
    TM_SYMBOLS,
    balanced,
    embedded_reber_accepts,
    make_task,
    run_parentheses_machine,
)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize("name", list(TASKS))
def test_batches_are_shaped_padded_and_seeded(name):
    task = make_task(name)
    a, b = task.sample(6, rng(3)), task.sample(6, rng(3))
    steps = a.inputs.shape[0]
    assert a.inputs.shape == (steps, 6, task.input_dim)
    assert a.targets.shape == a.mask.shape == (steps, 6, task.output_dim)
    assert a.mask.dtype == bool and a.mask.any() and a.lengths.max() == steps
    for col, length in enumerate(a.lengths):
        assert not a.mask[length:, col].any() and not a.inputs[length:, col].any()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(task.sample(6, rng(4)).inputs, a.inputs) or name.startswith(
        ("osc", "sine")
    )


@pytest.mark.parametrize("delay", [2, 3, 4])
def test_xor_targets_are_the_xor_delayed_by_tau(delay):
    batch = make_task("xor", delay=delay, length=30).sample(5, rng())
    x = batch.inputs.astype(int)
    lag = delay - 1  # the paper's τ counts the step from input to unit output
    early = x[: x.shape[0] - lag]
    np.testing.assert_array_equal(batch.targets[lag:, :, 0], early[..., 0] ^ early[..., 1])
    assert not batch.mask[:lag].any() and batch.mask[lag:].all()


def test_sequence_recognition_fires_after_the_first_b_following_an_a():
    batch = make_task("recognition", lines=3, length=40).sample(8, rng())
    for col in range(8):
        symbols = "".join("abx"[i] for i in batch.inputs[:, col].argmax(-1))
        expected, pending = [], False
        for s in symbols:
            expected.append(float(pending and s == "b"))
            pending = (pending and s != "b") or s == "a"
        np.testing.assert_array_equal(batch.targets[:, col, 0], expected)
    assert batch.targets.sum() > 0 and (batch.inputs.sum(-1) == 1).all()


def test_delayed_nonmatch_compares_with_the_last_cued_bit():
    batch = make_task("nonmatch", length=50).sample(8, rng())
    pattern, cue = batch.inputs[..., 0], batch.inputs[..., 1]
    for col in range(8):
        stored = None
        for t in range(49):
            scored = batch.mask[t + 1, col, 0]
            assert scored == (stored is not None and not cue[t, col])
            if scored:
                assert batch.targets[t + 1, col, 0] == float(pattern[t, col] != stored)
            if cue[t, col]:
                stored = pattern[t, col]


def test_parentheses_machine_decides_balance_for_every_short_string():
    for n in range(9):
        for chars in itertools.product("()", repeat=n):
            s = "".join(chars)
            _, actions = run_parentheses_machine(s)
            assert actions[-1][2] == 1 and sum(a[2] for a in actions) == 1
            assert actions[-1][3] == int(balanced(s)), s


def test_parentheses_targets_are_the_machine_actions_delayed():
    task = make_task("parentheses", delay=2)
    batch, strings = task.sample(6, rng(1)), rng(1)  # the same draws, string by string
    for col, length in enumerate(batch.lengths):
        reads, actions = run_parentheses_machine(task.string(strings))
        assert [TM_SYMBOLS[i] for i in batch.inputs[: length - 1, col].argmax(-1)] == reads
        np.testing.assert_array_equal(batch.targets[1:length, col], actions)
        assert batch.mask[length - 1, col].tolist() == [False, False, True, True]


@pytest.mark.parametrize(("name", "expected"), [("osc01", "0101010101"), ("osc0011", "0011001100")])
def test_oscillation_targets(name, expected):
    batch = make_task(name, length=12).sample(2, rng())
    # targets[t] is d(t + 1); d(0) = 0 is the initial state.
    assert "0" + "".join(str(int(v)) for v in batch.targets[:9, 0, 0]) == expected
    assert not batch.inputs.any()


def test_sine_has_period_25_in_the_units_range():
    d = make_task("sine").sample(1, rng()).targets[:, 0, 0]
    np.testing.assert_allclose(d[25:], d[:-25], atol=1e-12)
    assert 0.1 <= d.min() < d.max() <= 0.9


def test_embedded_reber_strings_belong_to_the_grammar_and_targets_are_next_symbols():
    task = make_task("reber")
    for _ in range(200):
        s = task.string(rng(_))
        assert embedded_reber_accepts(s) and EMBEDDED_REBER_REGEX.match(s), s
        assert s[1] == s[-2]
    assert not embedded_reber_accepts("BTBTXSEPE") and not EMBEDDED_REBER_REGEX.match("BTBTXSEPE")
    batch = task.sample(32, rng())
    for col, length in enumerate(batch.lengths):
        s = "".join(REBER_SYMBOLS[i] for i in batch.inputs[:length, col].argmax(-1))
        for t in range(length - 1):  # the symbol that came next is always among the allowed ones
            assert batch.targets[t, col, REBER_SYMBOLS.index(s[t + 1])] == 1.0
        assert batch.targets[length - 3, col, REBER_SYMBOLS.index(s[1])] == 1.0
        assert batch.targets[length - 3, col].sum() == 1.0  # after the inner E: only the branch
    assert task.correct(batch.targets, batch).all()
    wrong = batch.targets.copy()
    wrong[0, 0] = 1.0 - wrong[0, 0]
    assert not task.correct(wrong, batch)[0] and task.correct(wrong, batch)[1:].all()


@pytest.mark.parametrize("length", [100, 500])
def test_adding_targets_are_the_scaled_sum_of_the_marked_values(length):
    batch = make_task("adding", length=length).sample(64, rng())
    values, markers = batch.inputs[..., 0], batch.inputs[..., 1]
    assert ((batch.lengths >= length) & (batch.lengths <= length + length // 10)).all()
    for col, n in enumerate(batch.lengths):
        marked = np.flatnonzero(markers[:n, col] == 1.0)
        assert len(marked) in (1, 2) and marked.max() < length // 2
        assert markers[0, col] == -1.0 and markers[n - 1, col] == -1.0
        assert batch.mask[:, col, 0].sum() == 1 and batch.mask[n - 1, col, 0]
        expected = 0.5 + values[marked, col].sum() / 4.0
        assert batch.targets[n - 1, col, 0] == pytest.approx(expected)


def test_temporal_order_class_is_the_order_of_x_and_y():
    batch = make_task("temporal_order").sample(64, rng())
    for col, n in enumerate(batch.lengths):
        s = "".join("abcdXYBE"[i] for i in batch.inputs[:n, col].argmax(-1))
        assert s[0] == "E" and s[-1] == "B" and 100 <= n <= 110
        xy = [(i, c) for i, c in enumerate(s) if c in "XY"]
        assert len(xy) == 2 and 10 <= xy[0][0] <= 20 and 50 <= xy[1][0] <= 60
        label = int("".join("0" if c == "X" else "1" for _, c in xy), 2)
        assert batch.targets[n - 1, col].tolist() == [float(k == label) for k in range(4)]


def test_make_task_rejects_unknown_names_and_options():
    with pytest.raises(KeyError, match="unknown task"):
        make_task("nope")
    with pytest.raises(ValueError, match="no option 'lenght'"):
        make_task("adding", lenght=5)


@pytest.fixture
def fit_cli():
    """``evorl.commands.cli.main``, which has ``fit`` among its extension commands."""
    assert "evorl.commands.fit" in evorl.commands.cli.COMMANDS
    return evorl.commands.cli.main


def test_evorl_fit_prints_and_plots_the_learning_curve(fit_cli, capsys, tmp_path):
    png, js = tmp_path / "curve.png", tmp_path / "curve.json"
    argv = [
        "fit",
        "reber",
        "--max_sequences=64",
        "--eval_every=32",
        "--test_size=8",
        "--controller.hidden=[4]",
        "--plot",
        str(png),
        "--json",
        str(js),
    ]
    assert fit_cli(argv) == 0
    out = capsys.readouterr().out
    assert "test loss" in out and "stopped (budget) at 64 sequences" in out
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert [r["sequences"] for r in json.loads(js.read_text())["curve"]] == [0, 32, 64]
    assert fit_cli([*argv, "--quiet"]) == 0  # only the final line
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and "stopped (budget)" in out[0] and "learning curve" in out[1]


def test_evorl_fit_keeps_a_run_directory_that_resumes_exactly(fit_cli, capsys, tmp_path):
    """``--run-dir``: metrics, checkpoints and best.pt as any run; a resumed fit equals an
    uninterrupted one, row for row."""
    common = ["fit", "reber", "--quiet", "--eval_every=32", "--test_size=8",
              "--controller.hidden=[4]", "--checkpoint_every=2"]  # fmt: skip
    full, part = tmp_path / "full", tmp_path / "part"
    assert fit_cli([*common, "--max_sequences=128", "--run-dir", str(full)]) == 0
    assert fit_cli([*common, "--max_sequences=64", "--run-dir", str(part)]) == 0
    assert fit_cli(["resume", str(part), "--max_sequences=128", "--quiet"]) == 0
    capsys.readouterr()

    def rows(run):
        return [{k: v for k, v in r.items() if not k.startswith(("time/", "perf/"))}
                for r in read_metrics(run)]  # fmt: skip

    assert rows(part) == rows(full) and len(rows(full)) == 1 + 128 // 16
    assert (full / "best.pt").is_file()


def test_evorl_fit_gradcheck_and_errors(fit_cli, capsys):
    assert fit_cli(["fit", "xor", "--gradcheck"]) == 0
    assert "PASS" in capsys.readouterr().out
    assert fit_cli(["fit", "xor", "--task.delay=0"]) == 2
    assert fit_cli(["fit", "xor", "--controller", "lstm"]) == 2
    err = capsys.readouterr().err
    assert "delay" in err and "--algo bptt" in err


def test_evorl_fit_help_lists_the_tasks(fit_cli, capsys):
    with pytest.raises(SystemExit):
        fit_cli(["fit", "--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in TASKS)
