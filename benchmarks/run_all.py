"""Run every ``benchmarks/bench_*.py`` in its own process and print a summary.

Each benchmark prints its own figures and writes them to ``.bench-out/<area>.json``; this
runner runs them one after another (so they never compete for the two cores), then prints the
collected JSON. ``python benchmarks/run_all.py forced catalog`` runs a subset.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / ".bench-out"


def main(argv: list[str]) -> int:
    OUT.mkdir(exist_ok=True)
    wanted = set(argv)
    scripts = sorted(HERE.glob("bench_*.py"))
    if wanted:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    else:  # the survey-scale benchmark is its own target (make bench-scale): hours, GBs
        scripts = [s for s in scripts if s.stem != "bench_scale"]
    failures = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"--- {script.name}: exit {rc} in {time.perf_counter() - t0:.1f} s", flush=True)
        if rc != 0:
            failures.append(script.name)
    print("\n=== summary (.bench-out/*.json) ===")
    for script in scripts:
        path = OUT / f"{script.stem.removeprefix('bench_')}.json"
        if path.exists():
            print(f"{path.name}: {json.dumps(json.loads(path.read_text()), indent=1)}")
    if failures:
        print(f"failed: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
