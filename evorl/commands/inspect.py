"""``evorl eval`` (test a trained policy, render it), ``evorl plot`` and ``evorl list``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from evorl.errors import ConfigError


def register(sub: Any) -> None:
    """Add ``eval``, ``plot`` and ``list``."""
    p = sub.add_parser(
        "eval",
        help="test a trained controller; optionally render a video",
        description="Run test episodes of a run's best controller (any kind of run with an "
        "env); --video writes a GIF or MP4.",
    )
    p.add_argument("run_dir")
    p.add_argument("--episodes", type=int, default=20, help="test episodes (default 20)")
    p.add_argument("--seed", type=int, default=10_000, help="first reset seed (default 10000)")
    p.add_argument(
        "--checkpoint",
        choices=("best", "latest"),
        default="best",
        help="best tested controller or the latest centre / weights (default best)",
    )
    p.add_argument(
        "--video",
        default=None,
        metavar="FILE",
        help="render one episode to FILE: .gif, or .mp4 (needs the video extra)",
    )
    p.add_argument(
        "--pole-tests",
        action="store_true",
        help="pole-balancing runs: also the 100,000-step balance test from the standard start "
        "and Gruau et al.'s generalisation test (625 start states, 1,000 steps each)",
    )
    p.set_defaults(handler=evaluate)

    p = sub.add_parser(
        "plot",
        help="learning curves of one run, or of several runs in one figure, as PNG",
        description="One run: its curves against its iterations (generation, update, "
        "sequences) and env steps. Several runs: one line per run against env steps "
        "(supervised runs: sequences), training curve and test score side by side, "
        "with a legend of run names.",
    )
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument(
        "--out",
        default=None,
        help="PNG path (default: RUN_DIR/learning_curve.png for one run, "
        "./learning_curves.png for several)",
    )
    p.set_defaults(handler=plot)

    p = sub.add_parser(
        "list",
        help="list everything you can run: presets, tasks, envs, controllers, optimizers",
        description="Everything you can run or name in a config, with a one-line description "
        "each: evolution, gradient and world-model presets; glimpse, fit and bench tasks; "
        "envs, controllers, optimizers.",
    )
    p.add_argument(
        "what",
        nargs="?",
        default="all",
        metavar="WHAT",
        help="one section: presets, gradient-presets, wm-presets, glimpse-tasks, fit-tasks, "
        "bench-tasks, envs, controllers, optimizers (default: all)",
    )
    p.set_defaults(handler=listing)


def evaluate(args: argparse.Namespace) -> int:
    """Handler of ``evorl eval``."""
    from evorl.playback import check_video_path, evaluate_policy, headless_mujoco, record_video
    from evorl.policy import load_policy
    from evorl.rundir import check_writable

    if args.episodes < 1:
        raise ConfigError("--episodes must be >= 1")
    if args.seed < 0:
        raise ConfigError("--seed must be >= 0 (reset seeds are non-negative)")
    if args.video:
        check_video_path(Path(args.video))
        check_writable(args.video, "--video")
    if not Path(args.run_dir).is_dir():
        raise ConfigError(f"not a run directory: {args.run_dir}")
    policy = load_policy(args.run_dir, args.checkpoint)
    if policy.env is None:
        raise ConfigError(f"{args.run_dir} was trained on a data task, not an env: nothing to play")
    if args.video:  # pick MuJoCo's backend before it loads
        headless_mujoco(policy.env.id)
    returns = evaluate_policy(policy, args.episodes, args.seed)
    print(
        f"{policy.env.id}: mean return {returns.mean():.2f} ± {returns.std():.2f} "
        f"over {args.episodes} episodes (min {returns.min():.2f}, max {returns.max():.2f})"
    )
    if args.pole_tests:
        _print_pole_tests(policy)
    if args.video:
        score = record_video(policy, args.video, args.seed)
        print(f"video: {args.video} (return {score:.2f})")
    return 0


def _print_pole_tests(policy: Any) -> None:
    from evorl.pole import TEST_STEPS, balance_steps, generalization

    env_cfg, normalizer, controller = policy.env, policy.normalizer(), policy.controller()
    balanced = int(balance_steps(controller, policy.params, env_cfg, TEST_STEPS, normalizer)[0])
    score = generalization(controller, policy.params, env_cfg, normalizer)
    verdict = "passed" if balanced >= TEST_STEPS else "failed"
    print(
        f"balance test: {balanced:,} of {TEST_STEPS:,} steps ({verdict}); "
        f"generalisation: {score} of 625 start states balanced for 1,000 steps"
    )


def plot(args: argparse.Namespace) -> int:
    """Handler of ``evorl plot``."""
    from evorl.plotting import plot_runs

    if args.out is not None:
        check_plot_path(args.out, "--out")
    print(plot_runs(args.run_dirs, args.out))
    return 0


def check_plot_path(path: str, option: str) -> None:
    """A figure path matplotlib can write (a known extension, a writable folder)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from evorl.rundir import check_writable

    formats = Figure().canvas.get_supported_filetypes()
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in formats:
        raise ConfigError(
            f"{option} {path}: a figure file needs one of the extensions {', '.join(formats)}"
        )
    check_writable(path, option)


def listing(args: argparse.Namespace) -> int:
    """Handler of ``evorl list``."""
    from evorl.commands.listing import listing as text
    from evorl.commands.listing import terminal_width

    print(text(args.what, terminal_width()))
    return 0
