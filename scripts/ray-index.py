#!/usr/bin/env python3
"""A partitioned Sotto build fanned out with Ray: N map tasks, then the reduce step.

Each map task runs `sotto index DOCS... --partition i/N` and hands its partial index back
through Ray's object store; the driver then runs `sotto merge` on the N files. Ray does
the scheduling (placement, retries of a lost task); this script only says what to run.

    scripts/install-ray.sh                    # a cached venv with PyPI ray; prints its python
    PY=$(scripts/install-ray.sh)
    $PY scripts/ray-index.py ../shared/data/cargo-book -n 2 -o cargo.sotto [--shards OUT/]

Locally `ray.init()` starts a one-machine cluster. On a real cluster, start the driver on
the head node with `--address auto` (or RAY_ADDRESS): every node then needs the `sotto`
binary at `--sotto`, the models at `--models` and the documents at the same paths (a
shared filesystem, or the same copy on each node); see docs/cookbook.md.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import ray


def parse_args():
    here = os.path.dirname(os.path.abspath(__file__))
    default_bin = os.path.join(here, "..", "target", "release", "sotto")
    if not os.path.exists(default_bin):
        default_bin = os.path.join(here, "..", "target", "debug", "sotto")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", help="files and directories, as for `sotto index`")
    p.add_argument("-n", "--partitions", type=int, default=2, help="map tasks (N)")
    p.add_argument("-o", "--output", help="merged index file")
    p.add_argument("--shards", help="also write the sharded layout here")
    p.add_argument("--sotto", default=os.environ.get("SOTTO_BIN", default_bin), help="the sotto binary (same path on every node)")
    p.add_argument("--models", default=os.environ.get("SOTTO_MODELS", os.path.expanduser("~/.cache/sotto/models")))
    p.add_argument("--cpus-per-task", type=float, default=1, help="Ray CPUs each map task reserves (and its RAYON_NUM_THREADS)")
    p.add_argument("--address", default=os.environ.get("RAY_ADDRESS"), help="an existing cluster (`auto`); default: a local one")
    p.add_argument("--work", help="where the partial indexes are written (default: a temporary directory)")
    p.add_argument("--json", action="store_true", help="print the timings as one JSON line")
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:  # after --: more `sotto index` options, the same for every task
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    a = p.parse_args(argv)
    a.index_args = extra
    if a.partitions < 1:
        p.error("-n must be at least 1")
    if not a.output and not a.shards:
        p.error("give -o and/or --shards")
    return a


@ray.remote
def map_task(sotto, models, inputs, i, n, threads, extra):
    """`sotto index --partition i/n` into a temporary file; returns its bytes and timings."""
    env = dict(os.environ, RAYON_NUM_THREADS=str(max(1, int(threads))))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, f"part-{i}.sotto")
        t = time.time()
        r = subprocess.run(
            [sotto, "--models", models, "index", *inputs, "--partition", f"{i}/{n}", "-o", out, *extra],
            env=env, capture_output=True, text=True,
        )
        if r.returncode != 0:
            raise RuntimeError(f"partition {i}/{n} failed:\n{r.stderr}")
        with open(out, "rb") as f:
            data = f.read()
    return {"index": i, "seconds": time.time() - t, "stdout": r.stdout.strip(), "bytes": data}


def main():
    a = parse_args()
    sotto = os.path.abspath(a.sotto)
    inputs = [os.path.abspath(x) for x in a.inputs]
    started = time.time()
    ray.init(address=a.address, include_dashboard=False, logging_level="WARNING")
    ray_up = time.time() - started
    task = map_task.options(num_cpus=a.cpus_per_task)
    t_map = time.time()
    futures = [task.remote(sotto, a.models, inputs, i, a.partitions, a.cpus_per_task, a.index_args) for i in range(a.partitions)]
    results = ray.get(futures)
    map_s = time.time() - t_map
    ray.shutdown()

    work = a.work or tempfile.mkdtemp(prefix="sotto-ray-")
    os.makedirs(work, exist_ok=True)
    parts = []
    for r in sorted(results, key=lambda r: r["index"]):
        path = os.path.join(work, f"part-{r['index']}.sotto")
        with open(path, "wb") as f:
            f.write(r["bytes"])
        parts.append(path)
        print(f"map {r['index']}/{a.partitions}: {r['seconds']:.1f} s — {r['stdout'].splitlines()[-1]}", file=sys.stderr)

    cmd = [sotto, "--models", a.models, "merge", *parts]
    if a.output:
        cmd += ["-o", a.output]
    if a.shards:
        cmd += ["--shards", a.shards]
    t_reduce = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    reduce_s = time.time() - t_reduce
    if r.returncode != 0:
        sys.exit(f"merge failed:\n{r.stderr}")
    print(r.stdout.strip(), file=sys.stderr)
    timings = {
        "partitions": a.partitions,
        "ray_init_s": round(ray_up, 2),
        "map_s": round(map_s, 2),
        "map_task_s": [round(r["seconds"], 2) for r in sorted(results, key=lambda r: r["index"])],
        "reduce_s": round(reduce_s, 2),
        "total_s": round(time.time() - started, 2),
    }
    if a.json:
        print(json.dumps(timings))
    else:
        print(f"ray init {ray_up:.1f} s, map {map_s:.1f} s, reduce {reduce_s:.1f} s, total {timings['total_s']:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
