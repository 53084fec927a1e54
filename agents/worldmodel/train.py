"""Training V and M, epoch by epoch, each epoch ending in an atomic checkpoint.

``vae.pt`` / ``rnn.pt`` in the pipeline directory are both the checkpoint and the trained model:
architecture, weights, Adam state, epochs done and per-epoch metrics. An epoch's shuffling and
noise come from streams seeded by (pipeline seed, stage, epoch), so training stopped after epoch k
and resumed gives the weights of an uninterrupted run. Between V and M, every episode is encoded
once into ``latents/`` (μ and log σ² per frame), which is what M trains on (the paper's "series"
step); z is re-sampled from N(μ, σ²) every epoch, as in the paper.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from evorl import seeding
from evorl.device import resolve
from evorl.errors import ConfigError
from evorl.rundir import load_checkpoint, save_checkpoint

from .config import WorldModelConfig
from .mdnrnn import MDNRNN
from .preprocess import action_dim, encode_actions, make_real_env
from .shards import read_shard, shard_paths, stream_frames, stream_sequences, write_shard
from .vae import ConvVAE, to_tensor

STREAM_VAE, STREAM_RNN = seeding.STREAM_VAE, seeding.STREAM_RNN
INIT = 2**20
"""Sub-stream of a stage's initial weights (its epochs use sub-streams 0, 1, ...)."""
VAE_FILE, RNN_FILE = "vae.pt", "rnn.pt"
DATA, LATENTS = "data", "latents"

EpochHook = Callable[[int, dict[str, float]], None]


def _seeded(seed: int, build: Callable[[], torch.nn.Module]) -> torch.nn.Module:
    """``build()`` with torch's default initialisation drawn from ``seed``.

    The global torch RNG is used inside a fork, so the caller's RNG state is left untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def build_vae(config: WorldModelConfig) -> ConvVAE:
    """V as configured, initialised from the pipeline seed (untrained)."""
    v = config.vae
    seed = seeding.int_seed(config.seed, STREAM_VAE, INIT)
    return _seeded(seed, lambda: ConvVAE(v.z_dim, v.channels, v.kl_tolerance))


def _arch_vae(config: WorldModelConfig) -> dict[str, Any]:
    v = config.vae
    return {"z_dim": v.z_dim, "channels": list(v.channels), "kl_tolerance": v.kl_tolerance}


def _resume(path: Path, arch: dict[str, Any], model, optimizer, what: str) -> tuple[int, list]:
    """Load a stage's checkpoint into ``model``/``optimizer``; (epochs done, history)."""
    if not path.exists():
        return 0, []
    payload = load_checkpoint(path)
    if payload["arch"] != arch:
        raise ConfigError(
            f"{path} holds a {what} of another architecture ({payload['arch']}); "
            "delete it or match the config"
        )
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    return payload["epoch"], payload["history"]


def train_vae(
    config: WorldModelConfig, directory: Path, on_epoch: EpochHook | None = None
) -> list[dict[str, float]]:
    """Train V on ``directory/data`` up to ``config.vae.epochs`` epochs; returns the history."""
    paths = shard_paths(directory / DATA)
    if not paths:
        raise ConfigError(f"no episodes in {directory / DATA}: run `evorl wm collect` first")
    device = resolve(config.device)
    vae = build_vae(config).to(device)
    optimizer = torch.optim.Adam(vae.parameters(), lr=config.vae.lr)
    path, arch = directory / VAE_FILE, _arch_vae(config)
    start, history = _resume(path, arch, vae, optimizer, "VAE")
    for epoch in range(start, config.vae.epochs):
        clock = time.perf_counter()
        rng = np.random.default_rng(seeding.stream(config.seed, STREAM_VAE, epoch))
        gen = torch.Generator().manual_seed(seeding.int_seed(config.seed, STREAM_VAE, epoch))
        sums = {"loss": 0.0, "reconstruction": 0.0, "kl": 0.0}
        frames_seen = 0
        for frames in stream_frames(paths, config.vae.batch_size, rng):
            losses = vae.loss(to_tensor(frames).to(device), gen)
            optimizer.zero_grad()
            losses["loss"].backward()
            optimizer.step()
            for key in sums:
                sums[key] += losses[key].item() * len(frames)
            frames_seen += len(frames)
        row = {k: v / frames_seen for k, v in sums.items()}
        row.update({"epoch": epoch + 1, "seconds": time.perf_counter() - clock})
        history.append(row)
        payload = {"arch": arch, "model": vae.state_dict(), "optimizer": optimizer.state_dict()}
        save_checkpoint(path, {**payload, "epoch": epoch + 1, "history": history}, "wm-vae")
        if on_epoch is not None:
            on_epoch(epoch + 1, row)
    return history


def load_vae(directory: Path) -> tuple[ConvVAE, int]:
    """Trained V of a pipeline directory (eval mode) and the epochs it was trained for."""
    path = directory / VAE_FILE
    if not path.exists():
        raise ConfigError(f"no trained VAE in {directory}: run `evorl wm train-vae` first")
    payload = load_checkpoint(path)
    arch = payload["arch"]
    vae = ConvVAE(arch["z_dim"], tuple(arch["channels"]), arch["kl_tolerance"])
    vae.load_state_dict(payload["model"])
    return vae.eval(), payload["epoch"]


@torch.no_grad()
def encode_episodes(config: WorldModelConfig, directory: Path) -> int:
    """Encode every data shard through V into ``latents/``; returns how many were (re)encoded.

    A latent shard records the V epoch it came from and is redone when V has trained further.
    """
    vae, vae_epoch = load_vae(directory)
    out = directory / LATENTS
    out.mkdir(exist_ok=True)
    space = make_real_env(config.env).action_space
    done = 0
    for path in shard_paths(directory / DATA):
        target = out / path.name
        if target.exists() and int(read_shard(target)["vae_epoch"]) == vae_epoch:
            continue
        episode = read_shard(path)
        mus, logvars = zip(
            *(
                vae.encode(to_tensor(episode["obs"][i : i + 256]))
                for i in range(0, len(episode["obs"]), 256)
            ),
            strict=True,
        )
        write_shard(
            target,
            mu=torch.cat(mus).numpy(),
            logvar=torch.cat(logvars).numpy(),
            action=encode_actions(space, episode["action"]),
            reward=episode["reward"],
            done=episode["done"],
            vae_epoch=np.asarray(vae_epoch),
        )
        done += 1
    return done


def build_rnn(config: WorldModelConfig, act_dim: int) -> MDNRNN:
    """M as configured, initialised from the pipeline seed (untrained)."""
    r, seed = config.rnn, seeding.int_seed(config.seed, STREAM_RNN, INIT)
    return _seeded(seed, lambda: MDNRNN(config.vae.z_dim, act_dim, r.hidden, r.gaussians))


def train_rnn(
    config: WorldModelConfig, directory: Path, on_epoch: EpochHook | None = None
) -> list[dict[str, float]]:
    """Train M on ``directory/latents`` up to ``config.rnn.epochs`` epochs; returns the history.

    The episodes are (re-)encoded first, unless M has already trained that far.
    """
    if (
        not (directory / RNN_FILE).exists()
        or _epochs_done(directory / RNN_FILE) < config.rnn.epochs
    ):
        encode_episodes(config, directory)
    paths = shard_paths(directory / LATENTS)
    space = make_real_env(config.env).action_space
    rnn = build_rnn(config, action_dim(space)).to(resolve(config.device))
    r = config.rnn
    optimizer = torch.optim.Adam(rnn.parameters(), lr=r.lr)
    arch = {"z_dim": config.vae.z_dim, "action_dim": action_dim(space), "hidden": r.hidden}
    arch["gaussians"] = r.gaussians
    path = directory / RNN_FILE
    start, history = _resume(path, arch, rnn, optimizer, "MDN-RNN")
    initial = _first_frames(paths)
    for epoch in range(start, r.epochs):
        clock = time.perf_counter()
        rng = np.random.default_rng(seeding.stream(config.seed, STREAM_RNN, epoch))
        gen = torch.Generator().manual_seed(seeding.int_seed(config.seed, STREAM_RNN, epoch))
        sums, count = {}, 0
        for batch in stream_sequences(paths, r.seq_len, r.batch_size, rng):
            losses = _rnn_step(rnn, optimizer, batch, gen, r)
            steps = int(batch["mask"].sum())
            for key, value in losses.items():
                sums[key] = sums.get(key, 0.0) + value * steps
            count += steps
        row = {k: v / count for k, v in sums.items()}
        row.update({"epoch": epoch + 1, "seconds": time.perf_counter() - clock})
        history.append(row)
        payload = {"arch": arch, "model": rnn.state_dict(), "optimizer": optimizer.state_dict()}
        payload.update({"action_space": space, "initial": initial})
        save_checkpoint(path, {**payload, "epoch": epoch + 1, "history": history}, "wm-rnn")
        if on_epoch is not None:
            on_epoch(epoch + 1, row)
    return history


def _epochs_done(path: Path) -> int:
    return int(load_checkpoint(path)["epoch"]) if path.exists() else 0


def _first_frames(paths: list[Path]) -> dict[str, np.ndarray]:
    """μ and log σ² of every episode's first frame, (N, z) each: where dreams start."""
    rows = {"mu": [], "logvar": []}
    for path in paths:
        with np.load(path) as data:
            for key, values in rows.items():
                values.append(data[key][0])
    return {key: np.stack(values) for key, values in rows.items()}


def _rnn_step(rnn: MDNRNN, optimizer, batch: dict[str, np.ndarray], gen, r) -> dict[str, float]:
    device = next(rnn.parameters()).device
    mu, logvar = torch.from_numpy(batch["mu"]), torch.from_numpy(batch["logvar"])
    z = (mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)).to(device)
    data = {k: torch.from_numpy(batch[k]).to(device) for k in ("action", "reward", "done", "mask")}
    losses = rnn.loss(
        z[:-1],
        data["action"],
        z[1:],
        data["reward"],
        data["done"],
        data["mask"],
        reward_weight=r.reward_weight,
        done_weight=r.done_weight,
        done_pos_weight=r.done_pos_weight,
    )
    optimizer.zero_grad()
    losses["loss"].backward()
    torch.nn.utils.clip_grad_norm_(rnn.parameters(), r.grad_clip)
    optimizer.step()
    return {k: v.item() for k, v in losses.items()}


def load_rnn(directory: Path) -> tuple[MDNRNN, dict[str, Any]]:
    """Trained M of a pipeline directory (eval mode) and its checkpoint payload."""
    path = directory / RNN_FILE
    if not path.exists():
        raise ConfigError(f"no trained MDN-RNN in {directory}: run `evorl wm train-rnn` first")
    payload = load_checkpoint(path)
    arch = payload["arch"]
    rnn = MDNRNN(arch["z_dim"], arch["action_dim"], arch["hidden"], arch["gaussians"])
    rnn.load_state_dict(payload["model"])
    return rnn.eval(), payload
