"""Run every ``bench_*`` module's ``main()``, then print the issue-14 table
(:mod:`benchmarks.table`)."""

import importlib
import pkgutil

import benchmarks
from benchmarks import table

for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
    if info.name.startswith("bench_"):
        importlib.import_module(f"benchmarks.{info.name}").main()
table.main([])
