"""Data tasks that are not Gymnasium environments: supervised sequences and time series.

* :mod:`~evorl.tasks.sequences` — the sequence tasks of ``evorl fit`` (Williams & Zipser 1989's
  XOR delay, oscillators and parentheses; Hochreiter & Schmidhuber 1997's embedded Reber
  grammar, adding and temporal-order problems), each a seeded batch generator with its own
  test criterion.
* :mod:`~evorl.tasks.timeseries` — the forecasting and language tasks of the time-series
  benchmark (superimposed sines, Mackey-Glass, Lorenz, aⁿbⁿcⁿ) with their protocols.
"""
