"""Where a dream-trained controller's transfer is lost: measurements of M, the dream and C.

A controller evolved only inside M's dream works in the real env only if the dream ranks
controllers as reality does. Three things can break that, and each has a measurement here:

* **M's predictions on real episodes it did not train on** (:func:`model_errors`): the mixture's
  negative log-likelihood of the next z (per latent dimension) and the squared error of its mean
  beside the "nothing moves" baseline (z_{t+1} = z_t); and the done head's calibration — the
  death rate M predicts against the real one, by step of the episode (:func:`by_step`), and
  the probability it gives the steps where death really came against all other steps.
  Measured on held-out episodes of the collection policy and of the evolved controller: what M
  learned, and what it meets when C acts.
* **The dream's ranking** (:func:`population_agreement`): dream and real scores of the same
  controllers — a generation's population — and their Spearman rank correlation. Evolution only
  needs the ranking right.
* **Coverage** (:func:`coverage`): how far the states the evolved controller visits are from
  the data: the share of its steps later in an episode than any collected episode lasted, and
  the distance from each of its z to the nearest collected z, against the same for held-out
  episodes of the collection policy.

:func:`diagnose` runs them all on a pipeline directory (``evorl wm diagnose``) and returns a
JSON-ready report. Everything is seeded from the pipeline seed (stream ``STREAM_DIAGNOSE``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evorl import seeding
from evorl.builder import controller_for, optimizer_for
from evorl.config import RunConfig
from evorl.rundir import CHECKPOINT, load_checkpoint

from .collect import collect_episode
from .config import WorldModelConfig
from .evolve import evaluate_population, final_params, real_env_config, run_config
from .mdnrnn import MDNRNN, mixture_nll
from .models import load_memory, load_vision
from .preprocess import encode_actions, make_real_env
from .rollouts import controller_episodes
from .shards import shard_paths
from .train import DATA, LATENTS
from .vae import ConvVAE, to_tensor

STREAM_DIAGNOSE = seeding.STREAM_DIAGNOSE
STEP_BINS = (0, 50, 100, 200, 400, 700, 1000)
"""Edges of the step ranges of the death-rate tables (the last range is open above)."""
BATCH = 16
"""Real episodes stepped together (their frames are held until the batch ends)."""


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman's rank correlation (ties get their average rank); NaN if either is constant."""
    ra, rb = _ranks(np.asarray(a, float)), _ranks(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def _ranks(x: np.ndarray) -> np.ndarray:
    """0-based ranks of ``x``, tied values sharing the mean of their ranks."""
    ranks = np.empty(len(x))
    ranks[np.argsort(x, kind="stable")] = np.arange(len(x), dtype=float)
    _, group = np.unique(x, return_inverse=True)
    return (np.bincount(group, ranks) / np.bincount(group))[group]


def by_step(
    steps: np.ndarray, deaths: np.ndarray, predicted: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Death rates per range of :data:`STEP_BINS`: deaths / steps lived in the range.

    Args:
        steps: (N,) the step index (0-based) of every step lived.
        deaths: (N,) whether the episode terminated at that step.
        predicted: (N,) M's death probability at that step (its mean is the predicted rate).
    """
    rows = []
    edges = [*STEP_BINS[:-1], math.inf]
    for low, high in itertools.pairwise(edges):
        inside = (steps >= low) & (steps < high)
        count = int(inside.sum())
        row: dict[str, Any] = {"steps": f"{low}-{high if high < math.inf else ''}", "n": count}
        row["real"] = float(deaths[inside].mean()) if count else None
        if predicted is not None:
            row["predicted"] = float(predicted[inside].mean()) if count else None
        rows.append(row)
    return rows


def lengths_by_step(lengths: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """(steps, deaths) of :func:`by_step` from episode lengths; an episode that reached
    ``limit`` was cut, not ended."""
    steps = np.concatenate([np.arange(n) for n in lengths]) if len(lengths) else np.zeros(0)
    deaths = np.concatenate([np.arange(n) == n - 1 if n < limit else np.zeros(n, bool)
                             for n in lengths]) if len(lengths) else np.zeros(0, bool)  # fmt: skip
    return steps, deaths


@torch.no_grad()
def encode(vae: ConvVAE, frames: np.ndarray) -> np.ndarray:
    """μ of V's encoding of uint8 frames (N, 64, 64, 3), in chunks: (N, z)."""
    return torch.cat([vae.encode(to_tensor(frames[i : i + 256]))[0]
                      for i in range(0, len(frames), 256)]).numpy()  # fmt: skip


@torch.no_grad()
def model_errors(
    rnn: MDNRNN, episodes: Sequence[dict[str, np.ndarray]], done_pos_weight: float = 1.0
) -> dict[str, Any]:
    """M teacher-forced along real episodes (``mu`` (T+1, z), encoded ``action`` (T, A),
    ``done`` (T,)): next-z NLL and squared error, the done head's calibration by step.

    An M trained with deaths weighted ``done_pos_weight`` (w) learns odds w times the real
    ones; its death probability is read with that weight taken out, sigmoid(logit − ln w)."""
    nll, mse, still, p_done, steps, deaths = [], [], [], [], [], []
    for ep in episodes:
        mu = torch.as_tensor(ep["mu"], dtype=torch.float32)
        out, _ = rnn(mu[:-1, None], torch.as_tensor(ep["action"], dtype=torch.float32)[:, None])
        out = type(out)(*(t[:, 0] for t in out))
        target = mu[1:]
        nll.append(mixture_nll(target, out.logits, out.mu, out.log_sigma).mean(-1))
        mean = (torch.softmax(out.logits, -1) * out.mu).sum(-1)
        mse.append((mean - target).pow(2).mean(-1))
        still.append((mu[:-1] - target).pow(2).mean(-1))
        p_done.append(torch.sigmoid(out.done_logit - math.log(done_pos_weight)))
        steps.append(np.arange(len(target)))
        deaths.append(np.asarray(ep["done"], bool))
    nll_all, p = torch.cat(nll).numpy(), torch.cat(p_done).numpy()
    died, step = np.concatenate(deaths), np.concatenate(steps)
    return {
        **done_skill(p, died, step),
        "episodes": len(episodes),
        "steps": len(step),
        "mean_length": float(len(step) / max(len(episodes), 1)),
        "z_nll": float(nll_all.mean()),
        "z_mse": float(torch.cat(mse).mean()),
        "z_mse_still": float(torch.cat(still).mean()),
        "done_p_at_deaths": float(p[died].mean()) if died.any() else None,
        "done_p_elsewhere": float(p[~died].mean()),
        "deaths_real": int(died.sum()),
        "deaths_predicted": float(p.sum()),
        "by_step": by_step(step, died, p),
    }


def done_skill(p: np.ndarray, died: np.ndarray, step: np.ndarray) -> dict[str, float]:
    """The done head against the simplest forecast, the episodes' own death rate at every
    step: both cross-entropies (nats a step) and the skill ``1 - ce / ce_constant`` (0: no
    better than the rate; < 0: worse); and M's mean death probability at the first step.

    A done head that has learned nothing of when deaths come scores a skill near 0, however
    well its overall death count agrees; the first step's probability is a death the dream
    draws before C has acted (no collected episode ends there in take-cover).
    """
    eps = 1e-7
    q = np.clip(p.astype(np.float64), eps, 1 - eps)
    ce = float(-np.mean(np.where(died, np.log(q), np.log1p(-q))))
    rate = float(np.clip(died.mean(), eps, 1 - eps))
    ce_constant = float(-(rate * np.log(rate) + (1 - rate) * np.log1p(-rate)))
    return {
        "done_ce": ce,
        "done_ce_constant": ce_constant,
        "done_skill": 1.0 - ce / ce_constant,
        "done_p_first_step": float(p[step == 0].mean()),
    }


def latent_episode(vae: ConvVAE, space, episode: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A recorded episode as M sees it: ``mu``, encoded ``action``, ``reward``, ``done``."""
    return {
        "mu": encode(vae, episode["obs"]),
        "action": encode_actions(space, episode["action"]),
        "reward": episode["reward"],
        "done": episode["done"],
    }


def held_out_random(config: WorldModelConfig, directory: Path, episodes: int) -> list[dict]:
    """Episodes of the collection policy on fresh seeds, encoded (frames dropped)."""
    vae, space = load_vision(directory), load_memory(directory).action_space
    return [
        latent_episode(vae, space, collect_episode(
            config.env, config.collect, config.seed, i, stream_tag=STREAM_DIAGNOSE))
        for i in range(episodes)
    ]  # fmt: skip


def held_out_controller(
    directory: Path, run: RunConfig, params: np.ndarray, episodes: int, seed: int
) -> list[dict]:
    """Episodes of controller ``params`` (no exploration noise) on fresh seeds, encoded."""
    vae, space = load_vision(directory), load_memory(directory).action_space
    controller, _ = controller_for(run.env, run.controller, run.seed)
    seeds = seeding.episode_seeds(seed, STREAM_DIAGNOSE, 1, episodes)
    rngs = [np.random.default_rng(0) for _ in range(episodes)]
    out = []
    for start in range(0, episodes, BATCH):
        part = slice(start, start + BATCH)
        for ep in controller_episodes(directory, controller, params, seeds[part], rngs[part]):
            out.append(latent_episode(vae, space, ep))
    return out


def collected_lengths(directory: Path) -> np.ndarray:
    """Length of every collected episode."""
    return np.asarray([len(np.load(p)["reward"]) for p in shard_paths(directory / DATA)])


def coverage(
    directory: Path, visited: list[dict], baseline: list[dict], sample: int = 4000, seed: int = 0
) -> dict[str, Any]:
    """How far ``visited`` (the controller's encoded episodes) lies from the training data,
    beside ``baseline`` (held-out episodes of the collection policy)."""
    rng = np.random.default_rng(seed)
    lengths = collected_lengths(directory)
    longest = int(lengths.max())
    steps = np.concatenate([np.arange(len(ep["done"])) for ep in visited])
    data = np.concatenate([np.load(p)["mu"] for p in shard_paths(directory / LATENTS)])
    data = torch.as_tensor(data[rng.choice(len(data), min(sample, len(data)), replace=False)])

    def nearest(episodes: list[dict]) -> float:
        z = np.concatenate([ep["mu"] for ep in episodes])
        z = torch.as_tensor(z[rng.choice(len(z), min(sample // 2, len(z)), replace=False)])
        return float(torch.cdist(z, data).min(1).values.median())

    return {
        "collected_episodes": len(lengths),
        "collected_mean_length": float(lengths.mean()),
        "collected_longest": longest,
        "share_of_steps_beyond_longest": float((steps >= longest).mean()),
        "share_of_steps_beyond_p95": float((steps >= np.percentile(lengths, 95)).mean()),
        "nearest_z_distance_controller": nearest(visited),
        "nearest_z_distance_held_out": nearest(baseline),
    }


def population(run_dir: Path, run: RunConfig, first: bool) -> np.ndarray:
    """A population of ``run``: its first generation's (``first``) or the one its final
    optimizer state would ask next."""
    controller, _ = controller_for(run.env, run.controller, run.seed)
    x0 = controller.get_flat().numpy().astype(np.float64)
    optimizer = optimizer_for(run.optimizer, run.seed, x0, controller)
    if not first:
        optimizer.load_state_dict(load_checkpoint(run_dir / CHECKPOINT)["learner"]["optimizer"])
    return optimizer.ask()


def population_agreement(
    directory: Path, run: RunConfig, candidates: np.ndarray, episodes: int, seed: int
) -> dict[str, Any]:
    """Dream and real mean scores of ``candidates`` (same seeds) and their rank correlation."""
    seeds = seeding.episode_seeds(seed, STREAM_DIAGNOSE, 2, episodes)
    dream = evaluate_population(run.env, run, candidates, seeds).returns.mean(1)
    real = evaluate_population(real_env_config(directory), run, candidates, seeds)
    real_scores = real.returns.mean(1)
    return {
        "candidates": len(candidates),
        "episodes": episodes,
        "dream": dream.tolist(),
        "real": real_scores.tolist(),
        "spearman": spearman(dream, real_scores),
        "best_in_dream_real": float(real_scores[int(np.argmax(dream))]),
        "best_real": float(real_scores.max()),
    }


def survival(
    config: WorldModelConfig,
    directory: Path,
    run: RunConfig,
    params: np.ndarray,
    episodes: int,
    seed: int,
) -> dict[str, Any]:
    """Death rate by step of one controller in its dream and in the real env (same seeds)."""
    seeds = seeding.episode_seeds(seed, STREAM_DIAGNOSE, 3, episodes)
    dream = evaluate_population(run.env, run, params[None], seeds).lengths[0]
    real = evaluate_population(real_env_config(directory), run, params[None], seeds).lengths[0]
    spec = make_real_env(config.env).spec
    real_limit = (spec.max_episode_steps if spec is not None else None) or np.inf
    dream_rows = by_step(*lengths_by_step(dream, config.evolve.max_steps))
    real_rows = by_step(*lengths_by_step(real, real_limit))
    rows = [
        {"steps": d["steps"], "dream": d["real"], "real": r["real"]}
        for d, r in zip(dream_rows, real_rows, strict=True)
    ]
    return {
        "dream_mean_length": float(dream.mean()),
        "real_mean_length": float(real.mean()),
        "by_step": rows,
    }


def diagnose(
    config: WorldModelConfig,
    directory: Path,
    dream: bool,
    temperature: float,
    episodes: int = 32,
    candidates: int = 16,
    round_index: int = 0,
) -> dict[str, Any]:
    """Every measurement of the module docstring, for the evolution of C given by ``dream``,
    ``temperature`` and ``round_index``."""
    run = run_config(config, directory, dream, temperature, round_index)
    run_dir = directory / run.name
    _, params = final_params(run_dir)
    rnn, seed = load_memory(directory).rnn, config.seed
    random_eps = held_out_random(config, directory, episodes)
    controller_eps = held_out_controller(directory, run, params, episodes, seed)
    return {
        "run": run.name,
        "model_on_random": model_errors(rnn, random_eps, config.rnn.done_pos_weight),
        "model_on_controller": model_errors(rnn, controller_eps, config.rnn.done_pos_weight),
        "coverage": coverage(directory, controller_eps, random_eps),
        "survival": survival(config, directory, run, params, episodes, seed),
        "population_first": population_agreement(
            directory, run, population(run_dir, run, True)[:candidates], 4, seed
        ),
        "population_last": population_agreement(
            directory, run, population(run_dir, run, False)[:candidates], 4, seed
        ),
    }


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A report of :func:`diagnose` as text: one block per measurement."""
    lines = [f"diagnostics of {report['run']}"]
    for key, label in (("model_on_random", "collection policy"), ("model_on_controller", "C")):
        m = report[key]
        at_death = "—" if m["done_p_at_deaths"] is None else f"{m['done_p_at_deaths']:.3f}"
        lines.append(
            f"M on {m['episodes']} held-out episodes of {label} (mean length "
            f"{m['mean_length']:.0f}): z NLL {m['z_nll']:.3f}, z MSE {m['z_mse']:.4f} (still "
            f"{m['z_mse_still']:.4f}); done p at deaths {at_death}, elsewhere "
            f"{m['done_p_elsewhere']:.4f}; deaths {m['deaths_real']} real, "
            f"{m['deaths_predicted']:.1f} predicted"
        )
        lines.append(
            f"  done head: cross-entropy {m['done_ce']:.4f} a step against "
            f"{m['done_ce_constant']:.4f} for the episodes' constant death rate (skill "
            f"{m['done_skill']:+.2f}); death probability at step 0: {m['done_p_first_step']:.4f}"
        )
        lines.append("  death rate by step, real / M: " + ", ".join(
            f"{r['steps']} {_rate(r['real'])}/{_rate(r['predicted'])}" for r in m["by_step"]
        ))  # fmt: skip
    s = report["survival"]
    lines.append(
        f"C's episode length: dream {s['dream_mean_length']:.0f}, real {s['real_mean_length']:.0f}"
        "; death rate by step, dream / real: "
        + ", ".join(f"{r['steps']} {_rate(r['dream'])}/{_rate(r['real'])}" for r in s["by_step"])
    )
    c = report["coverage"]
    lines.append(
        f"coverage: collected episodes last {c['collected_mean_length']:.0f} steps on average "
        f"(longest {c['collected_longest']}); {100 * c['share_of_steps_beyond_longest']:.0f}% of "
        f"C's steps come later than that; nearest collected z: "
        f"{c['nearest_z_distance_controller']:.3f} from C's states, "
        f"{c['nearest_z_distance_held_out']:.3f} from held-out random ones"
    )
    for key, label in (("population_first", "first"), ("population_last", "last")):
        p = report[key]
        lines.append(
            f"{label} population ({p['candidates']} × {p['episodes']} episodes): Spearman "
            f"dream vs real {p['spearman']:.2f}; the dream's pick scores "
            f"{p['best_in_dream_real']:.0f} real, the best {p['best_real']:.0f}"
        )
    return lines
