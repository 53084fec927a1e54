"""Benchmark figures: each method's prediction against the truth, free-running part shaded, and
each method's error at every free-running step."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evorl.tasks.timeseries import ForecastTask


def step_nrmse(task: ForecastTask, pred: np.ndarray) -> np.ndarray:
    """NRMSE at each free-running step over all test runs and components: (steps,).

    Args:
        task: The task (targets and variance).
        pred: Predictions (K, steps, d) in original coordinates.
    """
    err = (np.asarray(pred, np.float64) - task.test_target) ** 2 / np.asarray(task.variance)
    return np.sqrt(err.mean(axis=(0, 2)))


def plot_task(
    task: ForecastTask, predictions: dict[str, np.ndarray], path: Path, context: int = 200
) -> Path:
    """PNG of the first test run (the last ``context`` teacher-forced steps, then free running)
    above each method's NRMSE at every free-running step over all test runs (log scale).

    Args:
        task: The task (its first test run is drawn, component 0).
        predictions: Method → predictions (K, steps, d) in original coordinates.
        path: Output file.
        context: Teacher-forced steps shown before the free-running part.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ctx = task.inverse(task.test_context[0, -context:])[:, 0]
    steps = task.steps
    t_ctx, t_free = np.arange(-len(ctx), 0), np.arange(steps)
    fig, (ax, err_ax) = plt.subplots(
        2, 1, figsize=(11, 6), height_ratios=(3, 2), sharex=True, constrained_layout=True
    )
    ax.axvspan(-0.5, steps - 0.5, color="0.92", label="free running")
    ax.plot(t_ctx, ctx, color="0.35", lw=2.5, label="truth (teacher-forced input)")
    ax.plot(t_free, task.test_target[0, :, 0], color="0.35", lw=2.5, label="truth")
    for method, pred in predictions.items():
        (line,) = ax.plot(t_free, pred[0, :, 0], lw=1.1, label=method)
        err = step_nrmse(task, pred)
        err_ax.plot(t_free, np.where(err > 0, err, np.nan), lw=1.1, color=line.get_color())
    runs = task.test_target.shape[0]
    err_ax.axvspan(-0.5, steps - 0.5, color="0.92")
    err_ax.set_yscale("log")
    err_ax.set_ylabel(f"NRMSE per step\n({runs} test run{'s' if runs > 1 else ''})")
    err_ax.grid(True, which="major", alpha=0.3)
    err_ax.set_xlabel("time step (0 = first free-running prediction)")
    ax.set_title(f"{task.name}: {task.metric} protocol ({task.source})", fontsize=10)
    ax.legend(loc="upper left", fontsize=8, ncol=3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
