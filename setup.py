"""Package layout only; all metadata lives in pyproject.toml.

`envs/` and `agents/` stay at the repository root (the product's layout) but install as
`evorl.envs` and `evorl.agents`: the bare names `envs` and `agents` belong to other
distributions on PyPI and would collide in a user's site-packages.
"""

from setuptools import find_packages, setup

ROOTS = {"evorl": "evorl", "evorl.envs": "envs", "evorl.agents": "agents"}


def _packages(prefix: str, folder: str) -> list[str]:
    return [prefix] + [f"{prefix}.{sub}" for sub in find_packages(folder)]


setup(
    packages=[pkg for prefix, folder in ROOTS.items() for pkg in _packages(prefix, folder)],
    package_dir=ROOTS,
)
