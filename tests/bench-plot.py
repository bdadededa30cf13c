#!/usr/bin/python3
"""Plots of a kaio-bench run (its --json output), as SVG files, with matplotlib.

    tests/bench-plot.py RUN.json OUTDIR

For each benchmark and metric: when the records vary one numeric parameter (requests in
flight, pending), a log-log line per variant (latency against that parameter); otherwise
grouped bars of throughput (1e9 / median ns per operation) per parameter set. Prints the
files written. Only ratios between variants of one run mean anything (QEMU TCG).
"""
import json
import os
import sys
from collections import OrderedDict, defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# One colour per variant (matplotlib's cycle); the line style says the backend.
STYLES = (("libkaio", "-."), ("glibc", ":"), ("io_uring", "--"), ("native", (0, (5, 1, 1, 1))), ("kaio", "-"))


def style(variant):
    v = variant.lower()
    for key, ls in STYLES:
        if key in v:
            return ls
    return "-"


def numeric_params(records):
    """The parameter names whose values are all integers, and all the parameter names."""
    names = OrderedDict()
    for r in records:
        for k in r:
            if k not in ("variant", "metric", "unit", "median", "p90", "samples", "ops_per_sample"):
                names[k] = True
    numeric = [k for k in names if all(isinstance(r.get(k), int) for r in records)]
    return numeric, list(names)


def line_plot(bench, metric, records, param, out):
    series = defaultdict(list)
    for r in records:
        if r.get("median") is not None:
            series[r["variant"]].append((r[param], r["median"], r.get("p90")))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for variant, pts in series.items():
        pts.sort()
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        ax.plot(xs, ys, marker="o", label=variant, linestyle=style(variant))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(param.replace("_", " "))
    ax.set_ylabel(f"{metric} (median, ns, log)")
    ax.set_title(f"{bench}: {metric} against {param.replace('_', ' ')}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out, f"{bench}-{metric}.svg")
    fig.savefig(path)
    plt.close(fig)
    return path


def bar_plot(bench, metric, records, params, out):
    groups = OrderedDict()
    variants = OrderedDict()
    for r in records:
        if r.get("median") in (None, 0):
            continue
        label = " ".join(f"{r[k]}" for k in params if k in r)
        groups.setdefault(label, {})[r["variant"]] = 1e9 / r["median"]
        variants[r["variant"]] = True
    if not groups:
        return None
    fig, ax = plt.subplots(figsize=(min(12, max(7, 0.35 * len(groups) * max(1, len(variants)))), 4.5))
    width = 0.8 / max(1, len(variants))
    for i, v in enumerate(variants):
        xs = [g + i * width for g in range(len(groups))]
        ys = [groups[label].get(v, 0) for label in groups]
        ax.bar(xs, ys, width, label=v)
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(groups))])
    ax.set_xticklabels(list(groups), rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("operations per second (1e9 / median ns)")
    ax.set_title(f"{bench}: throughput ({metric})")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = os.path.join(out, f"{bench}-{metric}.svg")
    fig.savefig(path)
    plt.close(fig)
    return path


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        run = json.load(f)
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    written = []
    for b in run["benchmarks"]:
        if b.get("status") != "ok" or not b.get("records"):
            continue
        by_metric = OrderedDict()
        for r in b["records"]:
            by_metric.setdefault(r["metric"], []).append(r)
        for metric, records in by_metric.items():
            numeric, names = numeric_params(records)
            if len(names) == 1 and numeric == names:
                p = line_plot(b["name"], metric, records, names[0], out)
            else:
                p = bar_plot(b["name"], metric, records, names, out)
            if p:
                written.append(p)
    for p in written:
        print(p)


if __name__ == "__main__":
    main()
