"""Figures of `stream_throughput` bench runs, shared by scripts/regress and scripts/history.

One bench run (one process) gives one figure per bench id: the median over its samples, per
message, read from criterion's files. Many runs of one commit give that commit's point: the mean
of its per-run figures with a 95 % Student t interval, so the interval carries the run-to-run
noise, not only the noise within a run (see scripts/regress).

As a command (used by scripts/regress):
    benchstats.py compare CRIT ROUNDS THRESHOLD BASE HEAD RAW_JSON
    benchstats.py record CRIT ROUNDS HISTORY_DIR SERVER_INFO SETTINGS_JSON REV...
CRIT holds one criterion home per commit and round, named <k>-<round> for the k-th REV (from 0;
an A/A check names one commit twice). SERVER_INFO is the text of INFO server from a node.
"""

import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys

# Student's t quantiles (two-sided 95 %) by degrees of freedom; beyond 30, 1.96 is close enough.
T95 = [12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.20, 2.18, 2.16, 2.14, 2.13,
       2.12, 2.11, 2.10, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05, 2.04]


def t95(df):
    return T95[min(max(int(math.floor(df)), 1), 30) - 1] if df <= 30 else 1.96


def unit_of(group_id):
    """The unit of a group's figure: client CPU for the `_cpu` group, wall time otherwise."""
    return "µs cpu/msg" if group_id.endswith("_cpu") else "µs/msg"


def run_figures(home):
    """id -> (median per message over this bench run's samples in µs, unit), from criterion's files."""
    out = {}
    for root, _, files in os.walk(home):
        if os.path.basename(root) != "new" or "sample.json" not in files:
            continue
        with open(os.path.join(root, "benchmark.json")) as f:
            bench = json.load(f)
        with open(os.path.join(root, "sample.json")) as f:
            sample = json.load(f)
        n = (bench.get("throughput") or {}).get("Elements") or 1
        # ns per run of n messages, one value per sample; the median ignores a sample that met a
        # burst of load from elsewhere.
        per_iter = statistics.median(t / i for t, i in zip(sample["times"], sample["iters"]))
        out[bench["full_id"]] = (per_iter / n / 1e3, unit_of(bench["group_id"]))
    return out


def point(values):
    """A commit's point from its per-run figures: (mean, low, high) of a 95 % t interval."""
    m = statistics.mean(values)
    if len(values) < 2:
        return m, m, m
    half = t95(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return m, m - half, m + half


def welch_change(a, b):
    """Relative change B/A - 1 in %, with its Welch 95 % interval: (estimate, low, high)."""
    ma, mb = statistics.mean(a), statistics.mean(b)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va ** 2 / (len(a) - 1) if va else 0) + (vb ** 2 / (len(b) - 1) if vb else 0) or 1e-300)
    half = t95(df) * se
    return (mb - ma) / ma * 100, (mb - ma - half) / ma * 100, (mb - ma + half) / ma * 100


def runs_of(crit, k, rounds):
    """The k-th commit's per-run figure maps, one per round."""
    return [run_figures(os.path.join(crit, f"{k}-{r}")) for r in range(1, rounds + 1)]


def server_of(info):
    """'redis 7.0.15' or 'valkey 8.0.2' from the text of INFO server ('unknown' if empty)."""
    kv = dict(line.strip().split(":", 1) for line in info.splitlines() if ":" in line)
    name = kv.get("server_name") or "redis"
    return f"{name} {kv.get(name + '_version') or kv.get('redis_version', 'unknown')}"


def compare(crit, rounds, threshold, base, head, raw_path):
    """scripts/regress's verdict per id; returns the exit status (1 when some id is slower)."""
    runs = {"base": runs_of(crit, 0, rounds), "head": runs_of(crit, 1, rounds)}
    ids = sorted(set().union(*[m.keys() for s in runs.values() for m in s]))
    slower = False
    print(f"regress: {base[:10]} (A) vs {head[:10]} (B), {rounds} interleaved rounds; Welch 95 % interval of B/A - 1; "
          f"slower/faster only when the whole interval is beyond ±{threshold:g} %")
    width = max([len(i) for i in ids] + [10])
    for i in ids:
        a = [m[i][0] for m in runs["base"] if i in m]
        b = [m[i][0] for m in runs["head"] if i in m]
        unit = next(m[i][1] for s in runs.values() for m in s if i in m)
        if len(a) < 2 or len(b) < 2:
            print(f"{i:<{width}}  only in {'A' if a else 'B'}")
            continue
        est, lo, hi = welch_change(a, b)
        if lo > threshold:
            word = "slower"
            slower = True
        elif hi < -threshold:
            word = "faster"
        else:
            word = "no change"
        print(f"{i:<{width}}  {word:<9}  {est:+6.1f} % [{lo:+6.1f} %, {hi:+6.1f} %]   "
              f"A {statistics.mean(a):.3f}  B {statistics.mean(b):.3f} {unit}")
    raw = {"base": base[:10], "head": head[:10], "rounds": rounds, "threshold_pct": threshold,
           "per_run_figures": {side: [{i: v[0] for i, v in m.items()} for m in r] for side, r in runs.items()}}
    with open(raw_path, "w") as f:
        json.dump(raw, f, indent=1)
    return 1 if slower else 0


def machine():
    """What a figure depends on of the machine: cores and CPU model (no host name: containers
    change it, and it says nothing about speed)."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu_model": model, "key": f"{os.cpu_count()} × {model}"}


def git(*args):
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout.strip()


def write_records(crit, rounds, history_dir, server, settings, revs):
    """One record per commit: a JSON file per (commit, time of recording), so that records added
    on two branches never conflict in git. Returns the paths written."""
    os.makedirs(history_dir, exist_ok=True)
    recorded_at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    paths = []
    for k, rev in enumerate(revs):
        runs = runs_of(crit, k, rounds)
        ids = sorted(set().union(*[m.keys() for m in runs]))
        figures = {}
        for i in ids:
            values = [m[i][0] for m in runs if i in m]
            mean, lo, hi = point(values)
            figures[i] = {"unit": next(m[i][1] for m in runs if i in m), "value": round(mean, 5),
                          "low": round(lo, 5), "high": round(hi, 5), "runs": [round(v, 5) for v in values]}
        record = {
            "commit": rev,
            "commit_date": git("show", "-s", "--format=%cI", rev),
            "subject": git("show", "-s", "--format=%s", rev),
            "recorded_at": recorded_at,
            "machine": machine(),
            "server": server,
            "settings": settings,
            "figures": figures,
        }
        name = f"{recorded_at.replace(':', '').replace('-', '')}-{rev[:12]}.json"
        path = os.path.join(history_dir, name)
        with open(path, "w") as f:
            json.dump(record, f, indent=1, sort_keys=True, ensure_ascii=False)
            f.write("\n")
        paths.append(path)
    return paths


def main(argv):
    if len(argv) == 8 and argv[1] == "compare":
        return compare(argv[2], int(argv[3]), float(argv[4]), argv[5], argv[6], argv[7])
    if len(argv) >= 8 and argv[1] == "record":
        paths = write_records(argv[2], int(argv[3]), argv[4], server_of(argv[5]), json.loads(argv[6]), argv[7:])
        for p in paths:
            print(f"recorded {p}", file=sys.stderr)
        return 0
    print("usage: benchstats.py compare CRIT ROUNDS THRESHOLD BASE HEAD RAW_JSON | "
          "record CRIT ROUNDS HISTORY_DIR SERVER_INFO SETTINGS_JSON REV...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
