"""Learning curves of a run directory as a PNG (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

from evorl.config import ConfigError
from evorl.logger import read_metrics


def plot_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Fitness (mean, max, best) and test score against generations and env steps; for runs
    without a fitness (supervised fitting, labelling) the losses and test errors instead."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = Path(run_dir)
    if not (run_dir / "metrics.jsonl").is_file():
        raise ConfigError(f"no metrics.jsonl in {run_dir}")
    rows = read_metrics(run_dir)
    if not rows:
        raise ConfigError(f"{run_dir}/metrics.jsonl is empty")
    out = Path(out) if out is not None else run_dir / "learning_curve.png"
    if not any("fitness/mean" in r for r in rows):
        return _plot_losses(rows, out, run_dir.name)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for ax, xkey, xlabel in ((axes[0], "step", "generation"), (axes[1], "env/steps", "env steps")):
        x = [r[xkey] for r in rows]
        for key, style in (("fitness/mean", "-"), ("fitness/max", ":"), ("fitness/best", "--")):
            ax.plot(x, [r.get(key) for r in rows], style, label=key)
        tests = [(r[xkey], r["test/score"]) for r in rows if r.get("test/score") is not None]
        if tests:
            ax.plot(*zip(*tests, strict=True), "o-", label="test/score")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("return")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right")
    fig.suptitle(run_dir.name)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _is_rate(key: str) -> bool:
    """Errors that are fractions (label, sequence, classification errors; tests right)."""
    name = key.split("/")[-1]
    return key == "test/correct" or (
        name.endswith("Error") and not name.startswith(("ctc", "cross"))
    )


def _plot_losses(rows: list[dict], out: Path, title: str) -> Path:
    """Training (and test) loss, and every error rate a test logged, against iterations."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for key in ("loss/train", "loss/test"):
        points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
        if points:
            ax1.plot(*zip(*points, strict=True), "-" if key == "loss/train" else "o-", label=key)
    rates = sorted({k for r in rows for k in r if _is_rate(k)})
    for key in rates:
        points = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
        ax2.plot(*zip(*points, strict=True), "o-", ms=3, label=key)
    ax1.set_ylabel("loss")
    ax2.set_ylabel("fraction")
    for ax in (ax1, ax2):
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.suptitle(title)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
