"""Learning curves of a run directory as a PNG (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path

from evorl.config import ConfigError
from evorl.logger import read_metrics


def plot_run(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Fitness (mean, max, best) and test score against generations and env steps."""
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
