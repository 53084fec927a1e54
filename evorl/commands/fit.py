"""The ``evorl fit`` command: supervised sequence learning from the command line.

``register`` adds the parser, ``run_fit`` runs it. ``evorl fit SOURCE``: SOURCE is a task
name, a YAML config file, or an RNNLIB config file. The classic tasks (Williams & Zipser, the
1997 LSTM paper, the fast-weight memory tasks) run :class:`~evorl.supervised.FitConfig`;
RNNLIB's three labelling tasks (classification, sequence_classification, transcription) run
:class:`~evorl.labelling.config.LabelConfig`, always with a run directory. Overrides follow
RNNLIB's ``--key=value`` (values are YAML): any config field, ``--controller.FIELD=...``,
``--task.OPTION=...`` (classic tasks) and ``--data.OPTION=...`` (built-in labelling data).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from evorl.commands.runner import add_logger_option
from evorl.config import ConfigError, to_dict
from evorl.controllers import CONTROLLERS
from evorl.labelling.config import LABEL_TASKS
from evorl.supervised.config import ALGOS, TASK_DEFAULTS, resolve_config
from evorl.tasks.sequences import TASKS

EPILOG = """tasks (default algorithm and network in brackets):
{tasks}

examples:
  evorl fit xor                                    # real-time RTRL, 3 units, τ = 2
  evorl fit xor --task.delay=3 --controller.hidden=[5]
  evorl fit osc0011 --teacher_forcing=false        # watch it fail without teacher forcing
  evorl fit reber --plot reber.png                 # LSTM, full BPTT with Adam
  evorl fit adding --task.length=500 --lr=0.003
  evorl fit reber --algo tbptt --window=5
  evorl fit xor --algo evolution --es=cmaes
  evorl fit reber --gradcheck                      # finite differences vs. BPTT, float64
  evorl fit xor --gradcheck                        # ... vs. RTRL
  evorl fit assoc-retrieval --controller.kind=fwp_sum
  evorl fit kv-capacity --task.keys=60             # past the memory's capacity (d_phi = 32)

RNNLIB's labelling tasks (a run directory each; `evorl resume`, `evorl plot` work on it):
  classification           a label per time step (--data=vowels: each frame's speaker)
  sequence_classification  one label per sequence (--data=vowels: the speaker; mnist: the digit)
  transcription            a label sequence by CTC (--data=digits: the digits of a line)
  evorl fit sequence_classification --data=vowels --bidirectional=false
  evorl fit transcription --data=digits --net=mdlstm
  evorl fit transcription --data=train.nc --val_data=val.nc --test_data=test.nc \\
      --controller.hidden=[100,100] --optimiser=steepest --learn_rate=1e-4 --batch_size=1
  evorl fit experiment.config --learnRate=1e-5     # RNNLIB's own config file and overrides
  evorl fit transcription --init_from=RUN_DIR --mdl=true   # retrain a net with weight noise
  fields: evorl.labelling.config.LabelConfig (RNNLIB's names in its docstring); built-in data:
  vowels, mnist, digits (--data.lines=, --data.test_lines=, ... see evorl.labelling.datasets)

overrides (--key=value, YAML values): any field of evorl.supervised.FitConfig, e.g.
  --seed, --lr, --optimizer (adam|sgd), --momentum, --batch_size, --window, --clip,
  --teacher_forcing, --rtrl_mode (realtime|epochwise), --forget_bias, --input_bias, --es,
  --popsize, --sigma, --max_sequences, --wall_time, --eval_every, --test_size, --stop_on_solve,
  --controller.FIELD (kind, hidden, activation, init, init_scale, forget_gate, peepholes),
  --task.OPTION (e.g. --task.delay=3, --task.length=500; see evorl.tasks.sequences)
"""


def _task_lines() -> str:
    lines = []
    for name, entry in TASKS.items():
        d = TASK_DEFAULTS[name]
        net = f"{d['controller']['kind']}{d['controller'].get('hidden', '')}"
        lines.append(f"  {name:<15} {entry.summary}  [{d['algo']}, {net}]")
    return "\n".join(lines)


def register(subparsers: Any) -> None:
    """Add the ``fit`` command to the ``evorl`` parser."""
    p = subparsers.add_parser(
        "fit",
        help="supervised sequence learning: RTRL, BPTT, evolution; RNNLIB's labelling tasks",
        description="Train a recurrent controller on a sequence task (Williams & Zipser 1989; "
        "Hochreiter & Schmidhuber 1997; fast-weight memory tasks) and print its learning curve "
        "(--gradcheck instead checks the analytic gradient against finite differences), or a "
        "bidirectional / multidimensional LSTM on RNNLIB's labelling tasks (Graves).",
        epilog=EPILOG.format(tasks=_task_lines()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "task",
        metavar="TASK|CONFIG",
        help="task name (listed below), a YAML config file, or an RNNLIB config file",
    )
    p.add_argument("--algo", choices=ALGOS, default=None, help="default: the task's")
    p.add_argument(
        "--controller",
        choices=list(CONTROLLERS),
        default=None,
        help="controller kind (same as --controller.kind=...)",
    )
    p.add_argument("--plot", metavar="FILE", default=None, help="write the learning curve PNG")
    p.add_argument("--json", metavar="FILE", default=None, help="write config and curve as JSON")
    p.add_argument(
        "--gradcheck",
        action="store_true",
        help="check the gradient (RTRL's for --algo rtrl, else BPTT's) and exit",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: small nets run fastest single-threaded)",
    )
    p.add_argument(
        "--run-dir",
        default=None,
        help="keep a run directory (metrics, checkpoints, best.pt; `evorl resume` continues it); "
        "labelling runs always keep one (default <out>/<name>-<time>)",
    )
    p.add_argument("--quiet", action="store_true", help="print only the final line")
    p.add_argument("--print-config", action="store_true", help="print the resolved config, exit")
    add_logger_option(p)
    p.set_defaults(
        handler=run_fit, accepts_overrides=True, config_class="evorl.supervised.config:FitConfig"
    )


def run_fit(args: argparse.Namespace) -> int:
    """Handler of ``evorl fit``; returns the exit code."""
    import torch
    import yaml

    overrides = list(args.overrides)
    if args.controller:
        overrides.insert(0, f"controller.kind={args.controller}")
    config = _config(args.task, args.algo, overrides)
    if args.print_config:
        print(yaml.safe_dump(to_dict(config), sort_keys=False), end="")
        return 0
    if args.threads < 1:
        raise ConfigError("--threads must be >= 1")
    _check_outputs(config, args)
    torch.set_num_threads(args.threads)
    if config.kind == "label":
        if args.gradcheck or args.algo:
            raise ConfigError("--gradcheck and --algo apply to the classic tasks, not labelling")
        return _label(config, args)
    if args.gradcheck:
        return _gradcheck(config)
    if args.logger and not args.run_dir:
        raise ConfigError("--logger writes into the run directory: give --run-dir too")
    return _fit(config, args)


def _check_outputs(config: Any, args: argparse.Namespace) -> None:
    """Every output path is writable before training starts (a result is never lost to it)."""
    from evorl.commands.inspect import check_plot_path
    from evorl.commands.runs import check_output
    from evorl.rundir import check_writable

    if args.plot:
        check_plot_path(args.plot, "--plot")
    if args.json:
        check_writable(args.json, "--json")
    if args.run_dir:
        check_output(config, args.run_dir)


def _config(source: str, algo: str | None, overrides: list[str]) -> Any:
    """The run's config from a task name, a YAML file or an RNNLIB config file."""
    from evorl.labelling.config import read_rnnlib_config, resolve_label_config

    if source in TASKS:
        return resolve_config(source, algo, overrides)
    if source in LABEL_TASKS:
        return resolve_label_config(source, overrides)
    path = Path(source)
    if not path.is_file():
        known = ", ".join([*TASKS, *LABEL_TASKS])
        raise ConfigError(f"{source!r} is neither a task ({known}) nor a config file")
    if path.suffix in (".yaml", ".yml"):
        from evorl.config import read_source

        data = read_source(str(path))
        if data.get("kind") == "label" or data.get("task") in LABEL_TASKS:
            return resolve_label_config(None, overrides, data)
        if data.get("task") not in TASKS:
            raise ConfigError(f"{path}: 'task' must name a task ({', '.join(TASKS)})")
        return resolve_config(data["task"], algo, overrides, data)
    return resolve_label_config(None, overrides, read_rnnlib_config(path))


def _label(config: Any, args: argparse.Namespace) -> int:
    """A labelling run: run directory, progress display, one line per test."""
    from evorl.builder import start_run
    from evorl.commands.runner import run_trainer
    from evorl.labelling.learner import updates_per_epoch

    trainer = start_run(config, args.run_dir)
    if not args.quiet:
        trainer.hooks.append(_print_test)
    total = None
    if config.max_epochs is not None:
        total = config.max_epochs * updates_per_epoch(config, len(trainer.learner.train))
    code = run_trainer(trainer, args.quiet, total, config.name)
    best = trainer.tester.test_at_best
    if best:
        print("test errors of the best validated net: " + _errors(best))
    if args.plot:
        from evorl.plotting import plot_run

        print(f"learning curve: {plot_run(trainer.run_dir, args.plot)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "config": to_dict(config),
                    "stop_reason": trainer.state.stop_reason,
                    "epochs": trainer.learner.epoch,
                    "wall_time": trainer.state.elapsed,
                    "best_valid_error": trainer.tester.best,
                    "test_at_best": best,
                },
                fh,
                indent=1,
            )
    return code


def _errors(errors: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.4g}" for k, v in errors.items())


def _print_test(trainer: Any, row: dict[str, Any]) -> None:
    """Trainer hook: one line per test (validation errors, test errors of a new best)."""
    if "valid/error" not in row:
        return
    parts = {k: v for k, v in row.items() if k.startswith(("valid/", "train/", "test/"))}
    parts.pop("valid/error")
    epoch = trainer.learner.epoch
    loss = row.get("loss/train")
    head = f"epoch {epoch:>4}  train loss {loss:.4g}" if loss is not None else f"epoch {epoch}"
    print(f"{head}  {_errors(parts)}", flush=True)


def _gradcheck(config: Any) -> int:
    import numpy as np

    from evorl.supervised.gradcheck import gradient_check
    from evorl.supervised.learner import build_net
    from evorl.supervised.train import to_torch

    task, net, loss = build_net(config)
    data = task.sample(2, np.random.default_rng(config.seed))
    x, d, m = (t[:30] for t in to_torch(data))
    method = "rtrl" if config.algo == "rtrl" else "bptt"
    r = gradient_check(net, x, d, m, loss, method=method, teacher_forcing=config.teacher_forcing)
    ok = r.max_rel_error < 1e-4
    print(
        f"gradient check ({method}, {config.controller.kind}, loss {loss}, {r.checked} params, "
        f"float64, central differences): max relative error {r.max_rel_error:.2e} at {r.worst}, "
        f"max absolute error {r.max_abs_error:.2e} -> {'PASS' if ok else 'FAIL'} (< 1e-4)"
    )
    return 0 if ok else 1


def _fit(config: Any, args: argparse.Namespace) -> int:
    from evorl.progress import Progress
    from evorl.supervised.learner import build_net
    from evorl.supervised.train import fit, plot_curve

    build_net(config)  # task options and network settings: fail before any output

    header = (
        f"{'sequences':>10} {'steps':>11} {'train loss':>11} {'test loss':>10} "
        f"{'right':>6} {'time s':>7}"
    )
    c = config
    options = " ".join(f"{k}={v}" for k, v in c.task_options.items())
    if not args.quiet:
        print(
            f"{c.task}{' ' + options if options else ''} · {c.algo} · {c.controller.kind}"
            f"{list(c.controller.hidden)} · seed {c.seed}"
        )
    if not args.quiet:
        print(header, flush=True)
    with Progress(c.task, c.max_sequences, quiet=args.quiet) as progress:

        def show(row: dict[str, Any]) -> None:
            status = f"test loss {row['loss/test']:.4g}, {row['test/correct']:.0%} right"
            progress.update(completed=row["sequences"], status=status)
            if not args.quiet:
                print(_format(row), flush=True)  # rich moves stdout above the live bar

        result = fit(config, show, args.run_dir)
    r = result
    where = f"after {r.solved_at:,} sequences ({r.steps_at:,} steps)" if r.solved else "not solved"
    print(
        f"{c.task}: {where}; stopped ({r.stop_reason}) at {r.sequences:,} sequences, "
        f"{r.wall_time:.1f} s"
    )
    if args.plot:
        print(f"learning curve: {plot_curve(result, args.plot)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "config": to_dict(c),
                    "curve": r.curve,
                    "solved_at": r.solved_at,
                    "wall_time": r.wall_time,
                    "stop_reason": r.stop_reason,
                },
                fh,
                indent=1,
            )
    return 0


def _format(row: dict[str, Any]) -> str:
    return (
        f"{row['sequences']:>10,} {row['steps']:>11,} {row['loss/train']:>11.4g} "
        f"{row['loss/test']:>10.4g} {row['test/correct']:>6.1%} {row['time/elapsed']:>7.1f}"
    )
