"""Time-series prediction benchmark: Evolino, echo state network and gradient LSTM.

Prints task × method → training NRMSE, test error (NRMSE, NRMSE84, or the largest n for aⁿbⁿcⁿ)
and wall time beside the published figures (DESIGN.md: Schmidhuber et al. 2007; Jaeger 2001;
Jaeger & Haas 2004); writes bench_results/timeseries.json and one PNG per task. Same as
``evorl bench timeseries``.

Usage:
    python scripts/bench_timeseries.py                       # every task and method (~40 min)
    python scripts/bench_timeseries.py --task sines2 --method evolino
    python scripts/bench_timeseries.py --quick               # seconds; the smoke test runs this
"""

from __future__ import annotations

import sys

from evorl.agents.evolino.bench import main

if __name__ == "__main__":
    sys.exit(main())
