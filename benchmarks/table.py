"""One table of every speed figure of issue 14 and whether its target is met.

Each benchmark saves its figures in ``results/<name>.json`` (:func:`_util.save_figures`);
this module prints them as one table and writes ``results/table.md`` (the table the README
shows) and ``results/table.txt``.

``python -m benchmarks.table`` prints the saved figures; ``python -m benchmarks.table
--run`` first runs the benchmarks behind them (start-up, DOLPHOT, dq_init, static mask,
scale: about 15 minutes on 2 cores, ~10 GB of scratch space in ``DQMASK_BENCH_TMP``).
``python -m benchmarks`` runs every benchmark, then prints this table.
"""

from __future__ import annotations

import argparse
import importlib
import json

from ._util import RESULTS

#: The benchmarks whose figures the table shows, in the issue's order.
SOURCES = ("bench_startup", "bench_dolphot", "dq_init", "static_mask", "bench_scale")
MODULES = ("bench_startup", "bench_dolphot", "bench_dq_init", "bench_static_mask",
           "bench_scale")


def _value(fig: dict) -> str:
    unit = fig["unit"]
    value = fig["value"]
    if unit == "x":
        return f"{value:.2f}x"
    if unit in ("packages", "commands"):  # counts
        return f"{value:.0f}"
    return f"{value:.2f} {unit}" if unit != "MiB" else f"{value:.0f} MiB"


def _verdict(fig: dict) -> str:
    return "-" if fig["met"] is None else ("met" if fig["met"] else "NOT MET")


def load_figures() -> list[tuple[str, dict, str]]:
    """(source, figure, load) for every saved figure, in :data:`SOURCES` order."""
    rows = []
    for name in SOURCES:
        path = RESULTS / f"{name}.json"
        if not path.exists():
            rows.append((name, {"item": "?", "what": f"({name}: not run yet)", "value": 0.0,
                                "unit": "", "target": "", "met": None, "why": ""}, ""))
            continue
        data = json.loads(path.read_text())
        rows += [(name, fig, data.get("load", "")) for fig in data["figures"]]
    return rows


def render(rows: list[tuple[str, dict, str]]) -> tuple[str, str]:
    """(plain text, markdown) of the table."""
    text = [f"{'item':<11s} {'figure':<62s} {'value':>11s} {'target':>26s} {'':>8s}"]
    md = ["| item | figure | value | target | met? | why not |",
          "|---|---|---:|---|---|---|"]
    loads = {}
    for source, fig, load in rows:
        loads[source] = load
        if fig["target"] == "reported" and fig["unit"] == "x" and "floor" in fig["what"]:
            target = "(reported)"
        else:
            target = fig["target"]
        text.append(f"{fig['item']:<11s} {fig['what'][:62]:<62s} {_value(fig):>11s} "
                    f"{target[:26]:>26s} {_verdict(fig):>8s}")
        verdict = {"met": "met", "NOT MET": "**NOT MET**", "-": "-"}[_verdict(fig)]
        md.append(f"| {fig['item']} | {fig['what']} | {_value(fig)} | {target} | {verdict} "
                  f"| {fig.get('why', '')} |")
    misses = sum(1 for _, fig, _ in rows if fig["met"] is False)
    judged = sum(1 for _, fig, _ in rows if fig["met"] is not None)
    summary = f"{judged - misses} of {judged} targets met"
    text += ["", summary] + [f"{s}: {load}" for s, load in loads.items() if load]
    md += ["", summary + ". Machine load while measuring: "
           + "; ".join(f"{s}: {load}" for s, load in loads.items() if load) + "."]
    return "\n".join(text), "\n".join(md)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.table", description=__doc__)
    parser.add_argument("--run", action="store_true", help="run the benchmarks first")
    args = parser.parse_args(argv)
    if args.run:
        for name in MODULES:
            importlib.import_module(f"benchmarks.{name}").main()
    text, md = render(load_figures())
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "table.txt").write_text(text + "\n")
    (RESULTS / "table.md").write_text(md + "\n")
    return text


if __name__ == "__main__":
    main()
