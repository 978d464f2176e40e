"""Side-by-side benchmarks: dqmask against the reference tool, in one process.

Run one with ``python -m benchmarks.bench_<name>`` or all with ``python -m benchmarks``
(``make bench``). Each prints its figures and writes them to ``benchmarks/results/``.
"""
