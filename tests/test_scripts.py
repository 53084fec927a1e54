"""Every benchmark script runs end to end with a tiny budget and writes its table as JSON."""

from __future__ import annotations

import json
import subprocess
import sys
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


@pytest.mark.slow
@pytest.mark.parametrize(("script", "extra"), SCRIPTS, ids=[s for s, _ in SCRIPTS])
def test_script_quick_mode(script, extra, tmp_path):
    for module in NEEDS.get(script, ()):
        pytest.importorskip(module)
    out = tmp_path / "out"  # a JSON file or a folder of results, as the script takes it
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--quick", "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = [out] if out.is_file() else sorted(out.glob("*.json"))
    assert written, "no JSON results written"
    for path in written:
        assert json.loads(path.read_text())
