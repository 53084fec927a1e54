"""Learning curves of run directories as PNGs (matplotlib, headless).

:func:`plot_run` draws one run: its curves against the run's own iterations and against env
steps. :func:`plot_runs` puts several runs in one figure (one line per run, a legend of run names,
against env steps) so runs of different seeds, settings or algorithms compare at a glance. The
axes say what the run's kind measures, read from the ``kind:`` of its ``config.yaml`` (absent:
evolution):

=========  ==========================  ========================  ===================================
kind       x axes                      y axis                    curves
=========  ==========================  ========================  ===================================
evolution  generation, env steps       fitness (episode return)  population mean, generation's best,
                                                                 best so far, test score
gradient   update, env steps           return                    recent training episodes, best
                                                                 training episode, test score
fit        sequences, sequence steps   loss (log if it spans     training loss, test loss
                                       decades)
label      sequences, time steps       loss, error rate          training loss, validation error
=========  ==========================  ========================  ===================================

A comparison of several runs is drawn against env steps (fit runs: against sequences).

Example:
    >>> plot_runs(["runs/ppo-seed1", "runs/cmaes-seed1"], "ppo-vs-cmaes.png")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from evorl.errors import ConfigError
from evorl.logger import read_metrics

__all__ = ["KINDS", "Kind", "figure", "plot_run", "plot_runs"]


@dataclass(frozen=True)
class Kind:
    """How a kind of run is plotted."""

    panels: tuple[tuple[str, str], tuple[str, str]]
    """(metrics key, axis label) of the x axis of each panel of a one-run figure."""
    y_label: str
    curves: tuple[tuple[str, str], ...]
    """(metrics key, legend label) of the training curves; the first is the comparison's."""
    test: tuple[str, str]
    """(metrics key, legend label) of the test curve, drawn with markers."""
    log_y: bool = False
    compare: int = 1
    """Which panel's x axis a comparison of several runs uses (env steps; fit: sequences)."""


KINDS: dict[str, Kind] = {
    "evolution": Kind(
        (("step", "generation"), ("env/steps", "env steps")),
        "fitness (episode return)",
        (
            ("fitness/mean", "population mean"),
            ("fitness/max", "generation's best"),
            ("fitness/best", "best so far"),
        ),
        ("test/score", "test score"),
    ),
    "gradient": Kind(
        (("step", "update"), ("env/steps", "env steps")),
        "return",
        (
            ("fitness/mean", "training return (recent episodes)"),
            ("fitness/max", "best training episode"),
        ),
        ("test/score", "test score"),
    ),
    "fit": Kind(
        (("env/evaluations", "sequences"), ("env/steps", "sequence steps")),
        "loss",
        (("loss/train", "training loss"),),
        ("loss/test", "test loss"),
        log_y=True,
        compare=0,
    ),
    "label": Kind(
        (("env/evaluations", "sequences"), ("env/steps", "time steps")),
        "loss, error rate",
        (("loss/train", "training loss"),),
        ("valid/error", "validation error"),
        log_y=True,
        compare=0,
    ),
}
"""How each kind of run is plotted (an unknown kind is plotted as evolution)."""


@dataclass
class Run:
    """A run directory's name, kind and metrics rows."""

    name: str
    kind: str
    rows: list[dict[str, Any]]

    @property
    def style(self) -> Kind:
        return KINDS.get(self.kind, KINDS["evolution"])

    def series(self, x_key: str, y_key: str) -> tuple[list, list]:
        """(x, y) of the rows that have both values; the test before the first step (row 0,
        which has no counters yet) is at x = 0."""
        x, y = [], []
        for row in self.rows:
            at = row.get(x_key, 0 if row["step"] == 0 else None)
            if at is not None and row.get(y_key) is not None:
                x.append(at)
                y.append(row[y_key])
        return x, y


def read_run(run_dir: str | Path, name: str | None = None) -> Run:
    """A run directory's metrics and kind (``config.yaml``'s ``kind:``; absent: evolution)."""
    run_dir = Path(run_dir)
    if not (run_dir / "metrics.jsonl").is_file():
        raise ConfigError(f"no metrics.jsonl in {run_dir}")
    rows = read_metrics(run_dir)
    if not rows:
        raise ConfigError(f"{run_dir}/metrics.jsonl is empty")
    kind = "evolution"
    config = run_dir / "config.yaml"
    if config.is_file():
        data = yaml.safe_load(config.read_text())
        kind = str(data.get("kind", "evolution")) if isinstance(data, dict) else kind
    return Run(name or run_dir.resolve().name, kind, rows)


def figure(runs: list[Run]) -> Any:
    """The matplotlib figure of one run (two panels) or of several (one line per run)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    if len(runs) == 1:
        _one_run(axes, runs[0])
        fig.suptitle(f"{runs[0].name} ({runs[0].kind})")
    else:
        _compare(axes, runs)
    return fig


def _one_run(axes: Any, run: Run) -> None:
    style = run.style
    for ax, (x_key, x_label) in zip(axes, style.panels, strict=True):
        for (key, label), line in zip(style.curves, ("-", ":", "--"), strict=False):
            x, y = run.series(x_key, key)
            if y:
                ax.plot(x, y, line, label=label)
        x, y = run.series(x_key, style.test[0])
        if y:
            ax.plot(x, y, "o-", markersize=3, label=style.test[1])
        _axis(ax, x_label, style.y_label, style.log_y)
    axes[0].legend(loc="best", fontsize=8)


def _compare(axes: Any, runs: list[Run]) -> None:
    kinds = sorted({run.kind if run.kind in KINDS else "evolution" for run in runs})
    if "fit" in kinds and len(kinds) > 1:
        raise ConfigError("cannot plot supervised (fit) runs with control runs in one figure")
    style = KINDS[kinds[0]]
    y_label = style.y_label if len(kinds) == 1 else "episode return"
    names = _unique([run.name for run in runs])
    curves = " / ".join(dict.fromkeys(run.style.curves[0][1] for run in runs))
    for ax, title, test in (
        (axes[0], f"training: {curves}", False),
        (axes[1], style.test[1], True),
    ):
        for run, name in zip(runs, names, strict=True):
            key = run.style.test[0] if test else run.style.curves[0][0]
            x, y = run.series(run.style.panels[run.style.compare][0], key)
            ax.plot(x, y, "o-" if test else "-", markersize=3, label=name)
        _axis(ax, style.panels[style.compare][1], y_label, style.log_y)
        ax.set_title(title, fontsize=10)
    axes[0].legend(loc="best", fontsize=8)


def _axis(ax: Any, x_label: str, y_label: str, log_y: bool) -> None:
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    values = [float(v) for line in ax.get_lines() for v in line.get_ydata()]
    if log_y and values and min(values) > 0 and max(values) / min(values) > 20:
        ax.set_yscale("log")  # losses that fall by orders of magnitude
    ax.grid(alpha=0.3)


def _unique(names: list[str]) -> list[str]:
    """Run names, numbered where two runs share one."""
    return [
        f"{n} ({names[:i].count(n) + 1})" if names.count(n) > 1 else n for i, n in enumerate(names)
    ]


def plot_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """One run's curves against its iterations and its env steps (default
    ``RUN_DIR/learning_curve.png``)."""
    run = read_run(run_dir)
    return _save(figure([run]), Path(out) if out else Path(run_dir) / "learning_curve.png")


def plot_runs(run_dirs: list[str | Path], out: str | Path | None = None) -> Path:
    """Several runs in one figure against env steps (sequences for fit runs), one line per run
    and a legend of run names: the training curve and the test curve side by side (default
    ``learning_curves.png`` in the working directory)."""
    if len(run_dirs) == 1:
        return plot_run(run_dirs[0], out)
    runs = [read_run(d) for d in run_dirs]
    return _save(figure(runs), Path(out) if out else Path("learning_curves.png"))


def _save(fig: Any, out: Path) -> Path:
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
