# SPDX-License-Identifier: MIT
"""Reading Google Benchmark JSON results named <workload>/<implementation>.

Shared by gbench_table.py and gbench_plot.py. Only per-repetition entries are used (the
aggregates Google Benchmark adds are recomputed here), so medians, spreads and ratios come
from the same numbers whichever aggregates were requested on the command line.

Ratios between two implementations are paired by repetition: repetition k of one against
repetition k of the other, from the same file. Run with --benchmark_enable_random_interleaving
so that repetition k of every benchmark ran in the same round, close together in time; the
median of those per-round ratios is then insensitive to slow drift of the machine.
"""

import json
import statistics
import sys

# Components Google Benchmark appends to a benchmark's name; not part of the implementation.
_GB_SUFFIXES = ("real_time", "manual_time", "process_time")
_GB_PREFIXES = ("min_time:", "min_warmup_time:", "iterations:", "repeats:", "threads:")

TIME_METRICS = ("real_time", "cpu_time")


class ResultError(Exception):
    """A problem with the input: unreadable file, unknown workload or metric."""


def split_name(run_name):
    """('stream1', 'xnv_padded') from 'stream1/xnv_padded/real_time'."""
    parts = [p for p in run_name.split("/")
             if p not in _GB_SUFFIXES and not p.startswith(_GB_PREFIXES)]
    if len(parts) < 2:
        return parts[0] if parts else "", ""
    return parts[0], "/".join(parts[1:])


def _to_ns(value, unit):
    return value * {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]


def parse_limit(text):
    """('stolen_pct', 2.0) from 'stolen_pct=2'."""
    name, sep, value = text.partition("=")
    try:
        if not name or not sep:
            raise ValueError
        return name, float(value)
    except ValueError:
        raise ResultError(f"expected COUNTER=NUMBER, got '{text}'") from None


def load(paths, drop_above=(), drop_below=()):
    """Every per-repetition entry of every file, as dicts with keys
    workload, impl, file, rep, and the entry's own fields (times converted to ns).
    `drop_above` and `drop_below` hold (counter, limit) pairs: entries whose counter is above
    (below) its limit are left out; entries without that counter are kept."""
    rows = []
    for file_index, path in enumerate(paths):
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise ResultError(f"{path}: cannot read Google Benchmark JSON: {e}") from e
        for b in doc.get("benchmarks", []):
            if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
                continue
            if any(b.get(c, limit) > limit for c, limit in drop_above):
                continue
            if any(b.get(c, limit) < limit for c, limit in drop_below):
                continue
            workload, impl = split_name(b.get("run_name", b["name"]))
            row = dict(b)
            unit = b.get("time_unit", "ns")
            for m in TIME_METRICS:
                if m in row:
                    row[m] = _to_ns(row[m], unit)
            row.update(workload=workload, impl=impl, file=file_index, rep=b.get("repetition_index", 0))
            rows.append(row)
    return rows


def lower_is_better(metric):
    return metric in TIME_METRICS


def default_metric(rows):
    return "items_per_second" if rows and all("items_per_second" in r for r in rows) else "real_time"


class Workload:
    """One workload's samples: implementation -> {(file, rep): value}, in first-seen order."""

    def __init__(self, rows, workload, metric=None):
        rows = [r for r in rows if r["workload"] == workload]
        if not rows:
            raise ResultError(f"no results for workload '{workload}'")
        self.name = workload
        self.metric = metric or default_metric(rows)
        self.samples = {}
        # Registration order (family_index), whatever order interleaved repetitions ran in.
        rows = sorted(rows, key=lambda r: (r.get("family_index", 0), r["file"], r["rep"]))
        for r in rows:
            if self.metric not in r:
                raise ResultError(f"{workload}/{r['impl']}: no metric '{self.metric}' in the results")
            self.samples.setdefault(r["impl"], {})[(r["file"], r["rep"])] = float(r[self.metric])
        self.lower_is_better = lower_is_better(self.metric)

    def impls(self):
        return list(self.samples)

    def require(self, impl):
        if impl not in self.samples:
            raise ResultError(f"workload '{self.name}' has no implementation '{impl}' "
                              f"(has: {', '.join(self.samples)})")

    def values(self, impl):
        return list(self.samples[impl].values())

    def median(self, impl):
        return statistics.median(self.values(impl))

    def spread(self, impl):
        v = self.values(impl)
        return min(v), max(v)

    def speedups(self, impl, baseline):
        """Per-repetition speed of `impl` relative to `baseline` (> 1: impl is faster),
        paired by (file, repetition)."""
        self.require(impl)
        self.require(baseline)
        a, b = self.samples[impl], self.samples[baseline]
        keys = [k for k in a if k in b]
        if not keys:
            raise ResultError(f"{self.name}: no repetitions of '{impl}' and '{baseline}' to pair")
        if self.lower_is_better:
            return [b[k] / a[k] for k in keys]
        return [a[k] / b[k] for k in keys]


def si(value, unit=""):
    """1.23G, 456M, 7.89k: three significant figures."""
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{prefix}{unit}"
    return f"{value:.3g}{unit}"


def fmt_metric(value, metric):
    if metric in TIME_METRICS:
        for factor, unit in ((1e9, "s"), (1e6, "ms"), (1e3, "us")):
            if value >= factor:
                return f"{value / factor:.3g} {unit}"
        return f"{value:.3g} ns"
    if metric.endswith("_per_second"):
        return si(value, "/s")
    return si(value)


def die(message):
    print(f"{sys.argv[0]}: {message}", file=sys.stderr)
    sys.exit(2)
