"""``evorl plot``: one run's curves labelled by its kind; several runs in one figure."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import pytest

from evorl.commands import main
from evorl.errors import ConfigError
from evorl.plotting import figure, plot_runs, read_run


def fake_run(path, kind: str | None, rows: int = 5, scale: float = 1.0):
    """A run directory with a config.yaml of ``kind`` (None: no ``kind:``) and metrics rows."""
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(f"name: {path.name}\n" + (f"kind: {kind}\n" if kind else ""))
    lines = [{"step": 0, "test/score": 0.0, "loss/test": 2.0}]
    for i in range(1, rows + 1):
        lines.append(
            {
                "step": i,
                "fitness/mean": scale * i,
                "fitness/max": scale * i + 1,
                "fitness/best": scale * i + 1,
                "loss/train": 1.0 / i,
                "env/steps": 100 * i,
                "env/evaluations": 10 * i,
                **({"test/score": scale * i, "loss/test": 1.0 / i} if i % 2 == 0 else {}),
            }
        )
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


@pytest.mark.parametrize(
    ("kind", "x_label", "y_label", "first_curve"),
    [
        (None, "generation", "fitness (episode return)", "population mean"),
        ("evolution", "generation", "fitness (episode return)", "population mean"),
        ("gradient", "update", "return", "training return (recent episodes)"),
        ("fit", "sequences", "loss", "training loss"),
    ],
)
def test_one_run_is_labelled_by_its_kind(tmp_path, kind, x_label, y_label, first_curve):
    fig = figure([read_run(fake_run(tmp_path / "run", kind))])
    left, right = fig.axes
    assert (left.get_xlabel(), left.get_ylabel()) == (x_label, y_label)
    assert right.get_xlabel() in ("env steps", "sequence steps")
    assert left.get_legend().get_texts()[0].get_text() == first_curve
    plt.close(fig)


def test_several_runs_one_line_per_run_against_env_steps(tmp_path):
    dirs = [
        fake_run(tmp_path / "cmaes-seed1", None),
        fake_run(tmp_path / "cmaes-seed2", "evolution", scale=2.0),
        fake_run(tmp_path / "ppo-seed1", "gradient", rows=7),
    ]
    fig = figure([read_run(d) for d in dirs])
    train, test = fig.axes
    for ax in (train, test):
        assert len(ax.get_lines()) == 3  # one line per run
        assert ax.get_xlabel() == "env steps"
    assert [t.get_text() for t in train.get_legend().get_texts()] == [d.name for d in dirs]
    assert list(train.get_lines()[2].get_xdata()) == [100 * i for i in range(1, 8)]
    assert list(test.get_lines()[1].get_ydata()) == [0.0, 4.0, 8.0]  # the start, steps 2 and 4
    plt.close(fig)


def test_fit_runs_compare_against_sequences_and_not_with_control_runs(tmp_path):
    a, b = fake_run(tmp_path / "a", "fit"), fake_run(tmp_path / "b", "fit")
    fig = figure([read_run(a), read_run(b)])
    assert fig.axes[0].get_xlabel() == "sequences" and fig.axes[0].get_ylabel() == "loss"
    plt.close(fig)
    with pytest.raises(ConfigError, match="fit"):
        figure([read_run(a), read_run(fake_run(tmp_path / "c", "gradient"))])


def test_runs_of_the_same_name_are_told_apart(tmp_path):
    a = fake_run(tmp_path / "x" / "run", None)
    b = fake_run(tmp_path / "y" / "run", None)
    fig = figure([read_run(a), read_run(b)])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["run (1)", "run (2)"]
    plt.close(fig)


def test_plot_command_takes_several_runs(tmp_path, capsys):
    dirs = [str(fake_run(tmp_path / f"run{i}", None)) for i in range(3)]
    out = tmp_path / "all.png"
    assert main(["plot", *dirs, "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["plot", dirs[0]]) == 0
    assert (tmp_path / "run0" / "learning_curve.png").is_file()
    assert main(["plot", dirs[0], str(tmp_path / "missing")]) == 2
    assert "no metrics.jsonl" in capsys.readouterr().err
    assert plot_runs([dirs[1]], tmp_path / "one.png").is_file()
