"""`evorl list`: what can be named in a config."""

from __future__ import annotations

import inspect

from evorl.config import read_source


def _first_line(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.splitlines()[0] if doc else ""


def presets() -> list[str]:
    from evorl.config import preset_names

    lines = []
    for name in preset_names():
        data = read_source(name)
        env = data.get("env", {}).get("id", "CartPole-v1")
        opt = data.get("optimizer", {}).get("name", "cmaes")
        kind = data.get("controller", {}).get("kind", "lstm")
        notes = " ".join(str(data.get("notes", "")).split())
        first = notes.split(". ")[0].rstrip(".")
        lines.append(f"  {name:<26} {env:<27} {kind:<7} {opt:<10} {first}")
    return lines


def envs() -> list[str]:
    import gymnasium as gym

    import evorl.envs  # noqa: F401  (registers evorl/*)

    ours = sorted(k for k in gym.registry if k.startswith("evorl/"))
    lines = [f"  {k}" for k in ours]
    lines.append("  ...and every Gymnasium id (CartPole-v1, Pendulum-v1, HalfCheetah-v5, ...);")
    lines.append("  native vectorised (exact, fast): CartPole-v1 and the evorl/ pole envs")
    return lines


def controllers() -> list[str]:
    from evorl.controllers import CONTROLLERS

    return [f"  {k:<16} {CONTROLLERS.summary(k)}" for k in CONTROLLERS]


def optimizers() -> list[str]:
    from evorl.optimizers import OPTIMIZERS

    return [f"  {k:<12} {OPTIMIZERS.summary(k)}" for k in OPTIMIZERS]


SECTIONS = {"presets": presets, "envs": envs, "controllers": controllers, "optimizers": optimizers}


def listing(what: str = "all") -> str:
    names = list(SECTIONS) if what == "all" else [what]
    return "\n".join(f"{name}:\n" + "\n".join(SECTIONS[name]()) for name in names)
