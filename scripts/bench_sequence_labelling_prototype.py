"""Prototype benchmark of evorl.labelling (RNNLIB's features) on data that needs no download.

Three tables:

1. **2-D LSTM speed**: one MDLSTM layer (one scan direction), forward + backward, the
   anti-diagonal scan of :class:`evorl.labelling.MDLSTMLayer` against a per-pixel loop (the same
   equations, batched over the images only).
2. **JapaneseVowels** (speaker of an utterance, 9 classes; 270 training / 370 test): test
   accuracy of a BLSTM against a one-directional LSTM, both LSTM with peepholes, the output
   layer summed over the frames (RNNLIB's sequence_classification), cross-entropy.
3. **Digit strings** (3-8 MNIST digits on a line, :class:`evorl.labelling.data.DigitStrings`):
   test label error rate (best-path decoding) of BLSTM-CTC reading pixel columns, and of a
   hierarchical MDLSTM-CTC reading the image: without weight noise, with adaptive weight noise
   (RNNLIB's defaults) from the start, and with it switched on after half the budget (the way
   Graves et al. applied it to speech in 2013, once the net has learned without it).

Every net trains with Adam (not RNNLIB's steepest descent: the budgets here are minutes;
step 3e-3 on JapaneseVowels, 1e-2 on digit strings, gradient norm clipped at 10) under the
same wall-clock budget per net, one torch thread; the tables say how many updates that was.
These are prototype figures for a 2-core machine, not RNNLIB's published results.

Usage:
    python scripts/bench_sequence_labelling_prototype.py --only speed,vowels   # ~6 min, 2 cores
    python scripts/bench_sequence_labelling_prototype.py --only digits         # ~12 min
    python scripts/bench_sequence_labelling_prototype.py --quick    # seconds: the plumbing only
    python scripts/bench_sequence_labelling_prototype.py --only speed,vowels --budget 60
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from evorl.controllers import ControllerConfig
from evorl.labelling import (
    AdaptiveWeightNoise,
    HierarchicalMDLSTM,
    MDLSTMLayer,
    SequenceNet,
    best_path_decode,
    ctc_loss,
    label_error_rate,
)
from evorl.labelling.data import DigitStrings, LineBatch, load_japanese_vowels, pad_sequences

LSTM = ControllerConfig(kind="lstm", hidden=(16,), peepholes=True)


def timed(fn: Callable[[], None], repeats: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def per_pixel(layer: MDLSTMLayer, x: torch.Tensor) -> torch.Tensor:
    """The top-left scan pixel by pixel (batched over images): the slow reference."""
    batch, rows, cols, _ = x.shape
    size = layer.hidden
    zero = x.new_zeros(batch, size)
    h, s = {}, {}
    w_h = layer.w_h[0]
    for r in range(rows):
        for c in range(cols):
            h1, s1 = h.get((r - 1, c), zero), s.get((r - 1, c), zero)
            h2, s2 = h.get((r, c - 1), zero), s.get((r, c - 1), zero)
            a = x[:, r, c] @ layer.w_x[0] + torch.cat([h1, h2], -1) @ w_h + layer.b[0]
            i, f1, f2, g, o = a.chunk(5, -1)
            i = torch.sigmoid(i + layer.p_i[0] * (s1 + s2))
            f1, f2 = torch.sigmoid(f1 + layer.p_f1[0] * s1), torch.sigmoid(f2 + layer.p_f2[0] * s2)
            s[r, c] = i * torch.tanh(g) + f1 * s1 + f2 * s2
            h[r, c] = torch.sigmoid(o + layer.p_o[0] * s[r, c]) * torch.tanh(s[r, c])
    return torch.stack([torch.stack([h[r, c] for c in range(cols)], 1) for r in range(rows)], 1)


def bench_speed(quick: bool) -> list[dict]:
    rows_out = []
    shapes = [(4, 8, 16, 4)] if quick else [(16, 8, 32, 8), (16, 16, 64, 8), (16, 32, 128, 8)]
    for batch, rows, cols, hidden in shapes:
        layer = MDLSTMLayer(4, hidden, directions=((1, 1),), gen=torch.Generator().manual_seed(0))
        x = torch.randn(batch, rows, cols, 4)
        widths = torch.full((batch,), cols)
        # float32 over up to 160 dependent steps: same values up to rounding order
        torch.testing.assert_close(layer(x, widths)[0], per_pixel(layer, x), atol=1e-3, rtol=1e-3)
        fast = timed(lambda: layer(x, widths).sum().backward(), 1 if quick else 3)  # noqa: B023
        slow = timed(lambda: per_pixel(layer, x).sum().backward(), 1)  # noqa: B023
        rows_out.append(
            {
                "images": batch,
                "image": f"{rows}x{cols}",
                "hidden": hidden,
                "diagonal_s": fast,
                "per_pixel_s": slow,
                "speedup": slow / fast,
                "pixels_per_s": batch * rows * cols / fast,
            }
        )
    return rows_out


def train_for(
    budget: float, step: Callable[[], None], evaluate: Callable[[], float], max_steps: int
) -> tuple[float, int]:
    """Call ``step`` until ``budget`` seconds or ``max_steps`` have passed; then ``evaluate``."""
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < budget and steps < max_steps:
        step()
        steps += 1
    return evaluate(), steps


class VowelRun:
    """One JapaneseVowels net: minibatches of 16 utterances, cross-entropy, Adam."""

    def __init__(self, net: SequenceNet, xs: list, ys: np.ndarray, seed: int) -> None:
        self.net, self.xs, self.ys = net, xs, ys
        self.opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        self.rng = np.random.default_rng(seed)

    def step(self) -> None:
        pick = self.rng.choice(len(self.xs), size=16, replace=False)
        x, lengths = pad_sequences([self.xs[i] for i in pick])
        loss = torch.nn.functional.cross_entropy(
            self.net(x, lengths), torch.as_tensor(self.ys[pick])
        )
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, lengths: torch.Tensor, labels: np.ndarray) -> float:
        return float((self.net(x, lengths).argmax(-1).numpy() == labels).mean())


def bench_vowels(budget: float, seeds: int, quick: bool) -> list[dict]:
    train_x, train_y = load_japanese_vowels("train")
    test_x, test_y = load_japanese_vowels("test")
    if quick:
        train_x, train_y, test_x, test_y = train_x[::8], train_y[::8], test_x[::10], test_y[::10]
    mean = np.concatenate(train_x).mean(0)
    std = np.concatenate(train_x).std(0)
    xs = [(s - mean) / std for s in train_x]
    tx, tl = pad_sequences([(s - mean) / std for s in test_x])
    out = []
    for bidirectional in (True, False):
        for seed in range(seeds):
            net = SequenceNet(LSTM, 12, 9, bidirectional=bidirectional, collapse="sum", seed=seed)
            run = VowelRun(net, xs, train_y, seed)
            acc, steps = train_for(
                budget, run.step, lambda r=run: r.accuracy(tx, tl, test_y), 10 if quick else 10**9
            )
            name = "BLSTM" if bidirectional else "LSTM"
            out.append({"net": name, "seed": seed, "test_accuracy": acc, "updates": steps})
            print(f"  {name} seed {seed}: accuracy {acc:.3f} after {steps} updates", flush=True)
    return out


def make_digit_nets(seed: int) -> dict[str, torch.nn.Module]:
    task = DigitStrings()
    blstm = SequenceNet(
        ControllerConfig(kind="lstm", hidden=(32,), peepholes=True), task.height, 11, seed=seed
    )

    def mdlstm() -> HierarchicalMDLSTM:
        # RNNLIB's offline-handwriting shape (inputBlock, MDLSTM, hiddenBlock, tanh subsampling,
        # MDLSTM), two levels for 16-pixel lines: 16 x W -> 8 x W/2 -> 4 x W/4 -> CTC per column
        return HierarchicalMDLSTM(
            1,
            11,
            hidden_sizes=(8, 32),
            subsample_sizes=(24,),
            hidden_blocks=((2, 2),),
            input_block=(2, 2),
            seed=seed,
        )

    return {
        "BLSTM-CTC": blstm,
        "MDLSTM-CTC": mdlstm(),
        "MDLSTM-CTC + weight noise": mdlstm(),
        "MDLSTM-CTC, weight noise after half": mdlstm(),
    }


class DigitRun:
    """One digit-string net: minibatches of 16 lines, CTC (+ MDL with weight noise), Adam.

    ``noise_after``: None never adds weight noise; 0 trains with it from the start; t > 0
    trains without it for t seconds, then wraps the net in adaptive weight noise (RNNLIB's
    defaults) with a fresh optimiser.
    """

    def __init__(
        self,
        name: str,
        net: torch.nn.Module,
        train: LineBatch,
        seed: int,
        lr: float,
        noise_after: float | None,
    ) -> None:
        self.name, self.net, self.train, self.seed, self.lr = name, net, train, seed, lr
        self.noise_after, self.noisy = noise_after, None
        self.start = time.perf_counter()
        self.use_noise(noise_after == 0)

    def use_noise(self, on: bool) -> None:
        self.noisy = AdaptiveWeightNoise(self.net, seed=self.seed) if on else None
        self.params = list((self.noisy or self.net).parameters())
        self.opt = torch.optim.Adam(self.params, lr=self.lr)
        self.rng = np.random.default_rng(self.seed + (1 if on else 0))

    def logits(self, model: Callable, batch: LineBatch) -> tuple[torch.Tensor, torch.Tensor]:
        if self.name.startswith("BLSTM"):  # one pixel column per frame
            return model(batch.columns(), batch.widths), batch.widths
        return model(batch.images, batch.widths)

    def step(self) -> None:
        late = self.noise_after is not None and self.noise_after > 0 and self.noisy is None
        if late and time.perf_counter() - self.start > self.noise_after:
            self.use_noise(True)
        count = len(self.train.targets)
        pick = self.rng.choice(count, size=min(16, count), replace=False)
        width = int(self.train.widths[pick].max())
        batch = LineBatch(
            self.train.images[pick, :, :width],
            self.train.widths[pick],
            [self.train.targets[i] for i in pick],
        )

        def loss_fn(model: Callable) -> torch.Tensor:
            logits, lengths = self.logits(model, batch)
            return ctc_loss(logits, batch.targets, lengths, reduction="sum")

        if self.noisy is not None:  # L^E + (batch / N) L^C, as RNNLIB's mdl training
            loss = self.noisy.mdl_loss(loss_fn, batch_fraction=len(pick) / count)
        else:
            loss = loss_fn(self.net)
        self.opt.zero_grad()
        (loss / len(pick)).backward()
        torch.nn.utils.clip_grad_norm_(self.params, 10.0)
        self.opt.step()

    @torch.no_grad()
    def label_error_rate(self, test: LineBatch) -> float:
        logits, lengths = self.logits(self.net, test)  # the means: RNNLIB tests without noise
        return label_error_rate(best_path_decode(logits.log_softmax(-1), lengths), test.targets)


def bench_digits(
    budget: float, seed: int, quick: bool, train_lines: int, test_lines: int, nets: str, lr: float
) -> list[dict]:
    train = DigitStrings(split="train").sample(train_lines, np.random.default_rng(seed))
    test = DigitStrings(split="test").sample(test_lines, np.random.default_rng(seed + 1000))
    out = []
    for name, net in make_digit_nets(seed).items():
        if nets and not any(part and part in name for part in nets.split(",")):
            continue
        noise_after = None if "noise" not in name else budget / 2 if "half" in name else 0.0
        run = DigitRun(name, net, train, seed, lr, noise_after)
        error, steps = train_for(
            budget, run.step, lambda r=run: r.label_error_rate(test), 3 if quick else 10**9
        )
        out.append({"net": name, "test_label_error_rate": error, "updates": steps})
        print(f"  {name}: LER {error:.3f} after {steps} updates", flush=True)
    return out


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    keys = list(rows[0])
    print("  " + " | ".join(keys))
    for row in rows:
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()]
        print("  " + " | ".join(cells))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny data and budget (plumbing only)")
    p.add_argument("--only", default="speed,vowels,digits", help="tables to run, comma separated")
    p.add_argument("--budget", type=float, default=None, help="seconds of training per net")
    p.add_argument("--seeds", type=int, default=2, help="JapaneseVowels seeds per net")
    p.add_argument("--train-lines", type=int, default=2000)
    p.add_argument("--test-lines", type=int, default=300)
    p.add_argument("--nets", default="", help="digit-string nets whose name contains one of these")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam step size for the digit strings")
    p.add_argument("--out", type=Path, default=Path("sequence_labelling_prototype.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    only = set(args.only.split(","))
    quick = args.quick
    results: dict = {"threads": 1, "quick": quick}
    if "speed" in only:
        results["mdlstm_speed"] = bench_speed(quick)
        print_table("2-D LSTM layer, forward + backward, one direction", results["mdlstm_speed"])
    if "vowels" in only:
        budget = args.budget or (1.0 if quick else 60.0)
        seeds = 1 if quick else args.seeds
        results["japanese_vowels"] = bench_vowels(budget, seeds, quick)
        print_table(f"JapaneseVowels, {budget:g} s per net", results["japanese_vowels"])
    if "digits" in only:
        budget = args.budget or (1.0 if quick else 200.0)
        lines = (32, 16) if quick else (args.train_lines, args.test_lines)
        print(f"\ndigit strings: {lines[0]} training lines, {lines[1]} test lines", flush=True)
        results["digit_strings"] = bench_digits(budget, 0, quick, *lines, args.nets, args.lr)
        print_table(f"Digit strings, {budget:g} s per net", results["digit_strings"])
    args.out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
