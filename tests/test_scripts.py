"""Every benchmark script runs end to end with a tiny budget and writes its table as JSON."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# (script, extra args) — each script's --quick mode must finish in well under a minute.
# bench_ray.py is smoke-tested in tests/test_ray.py, on that module's Ray instance.
SCRIPTS = [
    ("bench_throughput.py", []),
    ("bench_sequence.py", ["--jobs", "1"]),
    ("bench_gradient_vs_evolution.py", []),
    ("bench_glimpse.py", ["--jobs", "1"]),
    ("bench_optimizers.py", []),
    ("bench_glimpse_sigma.py", []),
    ("bench_glimpse_evolve.py", []),
    ("bench_popgym.py", []),
    ("bench_sequence_labelling.py", []),
    ("bench_fast_weights.py", []),
]
NEEDS = {"bench_popgym.py": ("popgym", "sb3_contrib")}


def _available(script: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in NEEDS.get(script, ()))


@pytest.fixture(scope="module")
def quick_runs(request, tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """The selected scripts' ``--quick`` runs, two at a time: each is one busy Python process
    and the machines this runs on have two cores or more, so the suite waits half as long."""
    selected = {
        item.callspec.params["script"]
        for item in request.session.items
        if getattr(item, "module", None) is request.module and hasattr(item, "callspec")
    }
    todo = [(s, e) for s, e in SCRIPTS if s in selected and _available(s)]
    root = tmp_path_factory.mktemp("scripts")

    def run(item: tuple[str, list[str]]):
        script, extra = item
        cwd = root / script.removesuffix(".py")
        cwd.mkdir()
        out = cwd / "out"  # a JSON file or a folder of results, as the script takes it
        command = [sys.executable, str(ROOT / "scripts" / script), "--quick", "--out", str(out)]
        proc = subprocess.run(
            [*command, *extra], capture_output=True, text=True, timeout=240, cwd=cwd
        )
        return script, (proc, out)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, todo))


@pytest.mark.slow
@pytest.mark.parametrize(("script", "extra"), SCRIPTS, ids=[s for s, _ in SCRIPTS])
def test_script_quick_mode(script, extra, quick_runs):
    for module in NEEDS.get(script, ()):
        pytest.importorskip(module)
    proc, out = quick_runs[script]
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = [out] if out.is_file() else sorted(out.glob("*.json"))
    assert written, "no JSON results written"
    for path in written:
        assert json.loads(path.read_text())
