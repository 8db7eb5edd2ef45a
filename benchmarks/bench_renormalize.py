"""The full re-normalization + metrics rebuild as a Dask graph (issue 17), 1 and 2 workers.

Loads the synthetic survey of :mod:`bench_scale` (``Survey``, ``load``) into a PostgreSQL
server of its own, establishes the references' baselines, then measures:

- the **compute phase** (the tasks only, nothing stored: every image normalization block and
  every metric block of ``variability.pipeline.distributed``) with 1 and then 2 workers: wall
  time, the workers' CPU, the PostgreSQL backends' CPU, and the speed-up 1 -> 2;
- the **whole run** ``normalize_all_distributed`` (normalize every image, store the factors,
  rebuild every metric, ESE candidate and per-source row) with 2 workers (``--workers`` to
  change), end to end and per phase (normalize pass until stored, metrics until stored), with
  the client's CPU beside the workers'.

Everything runs on the whole survey (no sample, no extrapolation). Run it niced, on a quiet
machine: ``nice -n 10 python benchmarks/bench_renormalize.py --rows 1e7`` (1e8: ~10 GB).
Figures are printed and written to ``.bench-out/renormalize-<rows>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_scale as bs  # noqa: E402


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _pg_cpu(dbname: str) -> float:
    """CPU seconds of the PostgreSQL backends connected to ``dbname`` (alive now)."""
    tck = os.sysconf("SC_CLK_TCK")
    tot = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
            if not cmd.startswith(b"postgres: ") or f" {dbname} ".encode() not in cmd:
                continue
            with open(f"/proc/{pid}/stat") as f:
                st = f.read().rsplit(")", 1)[1].split()
            tot += (int(st[11]) + int(st[12])) / tck
        except OSError:
            pass
    return tot


def compute_phase(settings, dbname: str, workers: int) -> dict:
    """Run every normalization and metric task (no storing) on a local cluster."""
    from distributed import Client, LocalCluster

    from dsa110_contimg.database import get_engine
    from dsa110_contimg.database import metrics as mstore
    from dsa110_contimg.database import normalization as nstore
    from dsa110_contimg.database.metric_blocks import image_table
    from dsa110_contimg.variability.pipeline.distributed import (
        IMAGES_PER_TASK,
        SOURCES_PER_TASK,
        _metrics_block,
        _normalize_block,
    )
    from dsa110_contimg.variability.pipeline.normalize import active_baselines

    kw = settings.child_kwargs()
    with get_engine(settings).connect() as conn:
        ids = nstore.products_in_order(conn)
        keys = sorted(set(mstore.photometry_keys(conn)))
        baselines = active_baselines(conn)
        images = image_table(conn)  # the products, read once (as the pipeline's metric pass)
    blocks = [ids[i : i + IMAGES_PER_TASK] for i in range(0, len(ids), IMAGES_PER_TASK)]
    chunks = [keys[i : i + SOURCES_PER_TASK] for i in range(0, len(keys), SOURCES_PER_TASK)]
    out: dict = {"tasks": {"normalize": len(blocks), "metrics": len(chunks)}}
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.submit(len, [1]).result()  # workers up
        (bf,) = client.scatter([baselines], broadcast=True)  # one future, as the pipeline
        (imf,) = client.scatter([images], broadcast=True)
        for phase, fn, items, extra in (
            ("normalize", _normalize_block, blocks, (bf,)),
            ("metrics", _metrics_block, chunks, (imf,)),
        ):
            w0, p0, t0 = sum(client.run(_self_cpu).values()), _pg_cpu(dbname), time.perf_counter()
            for fut in [client.submit(fn, kw, b, *extra, pure=False) for b in items]:
                fut.result()
            t1 = time.perf_counter()
            w1, p1 = sum(client.run(_self_cpu).values()), _pg_cpu(dbname)
            out[phase] = {"wall_s": round(t1 - t0, 1), "workers_cpu_s": round(w1 - w0, 1),
                          "postgres_cpu_s": round(p1 - p0, 1)}  # fmt: skip
            print(f"  compute, {workers} worker(s), {phase}: {out[phase]}", flush=True)
    out["wall_s"] = round(out["normalize"]["wall_s"] + out["metrics"]["wall_s"], 1)
    return out


def whole_run(settings, dbname: str, workers: int) -> dict:
    """``normalize_all_distributed`` end to end, timed per phase."""
    from distributed import Client, LocalCluster

    from dsa110_contimg.variability.pipeline import normalize_all_distributed

    marks: dict = {}

    def progress(stage: str, done: int, total: int) -> None:
        if done == total:
            marks[stage] = time.perf_counter()

    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        client.submit(len, [1]).result()
        w0, c0, p0 = sum(client.run(_self_cpu).values()), _self_cpu(), _pg_cpu(dbname)
        t0 = time.perf_counter()
        res = normalize_all_distributed(
            scheduler=cluster.scheduler_address, progress=progress, settings=settings
        )
        t1 = time.perf_counter()
        w1, c1, p1 = sum(client.run(_self_cpu).values()), _self_cpu(), _pg_cpu(dbname)
    t_norm = marks.get("normalize", t0) - t0
    out = {
        "result": res,
        "wall_s": round(t1 - t0, 1),
        "normalize_stored_s": round(t_norm, 1),
        "metrics_stored_s": round(marks.get("metrics", t1) - marks.get("normalize", t0), 1),
        "client_cpu_s": round(c1 - c0, 1),
        "workers_cpu_s": round(w1 - w0, 1),
        "postgres_cpu_s": round(p1 - p0, 1),
    }
    print(f"  whole run, {workers} worker(s): {out}", flush=True)
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=float, default=float(os.environ.get("SCALE_ROWS", "1e7")))
    ap.add_argument("--workers", type=int, default=2, help="workers of the whole run")
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument("--reuse", action="store_true", help="use a database kept by --keep")
    args = ap.parse_args(argv)
    rows = int(args.rows)
    port = int(os.environ.get("SCALE_PG_PORT", "54339"))
    data_dir = os.environ.get("SCALE_PG_DIR", f"/tmp/contimg-scale-pg-{port}")
    admin = bs._pg_server(port, data_dir)
    from sqlalchemy import create_engine, text

    from dsa110_contimg.config import Settings
    from dsa110_contimg.database import dispose_engine, get_engine
    from dsa110_contimg.variability.pipeline import establish_baselines, set_references

    name = f"renorm_{rows}"
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    if not args.reuse:
        with eng.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            c.execute(text(f"CREATE DATABASE {name}"))
    url = admin.rsplit("/", 1)[0] + "/" + name
    settings = Settings(state_dir=bs.OUT / f"renorm-state-{rows}", database_url=url)
    get_engine(settings)
    sv = bs.Survey(rows)
    res: dict = {"rows_target": rows, "images": sv.n_images, "sources": sv.n_sources,
                 "machine": f"{os.cpu_count()} cores, load average "
                            f"{os.getloadavg()[0]:.1f} at the start"}  # fmt: skip
    if not args.reuse:
        res["load"] = bs.load(url, sv)
        print(f"load: {res['load']}", flush=True)
        set_references([("nvss", str(s)) for s in sv.ids[sv.is_ref]], settings=settings)
        t0 = time.perf_counter()
        establish_baselines(settings=settings)
        res["establish_baselines_s"] = round(time.perf_counter() - t0, 1)
    res["compute_1_worker"] = compute_phase(settings, name, 1)
    res["compute_2_workers"] = compute_phase(settings, name, 2)
    res["compute_speedup_1_to_2"] = round(
        res["compute_1_worker"]["wall_s"] / res["compute_2_workers"]["wall_s"], 2
    )
    print(f"compute phase speed-up 1 -> 2 workers: {res['compute_speedup_1_to_2']}", flush=True)
    res["whole_run"] = whole_run(settings, name, args.workers)
    dispose_engine(settings)
    if not args.keep:
        with eng.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    eng.dispose()
    bs.OUT.mkdir(exist_ok=True)
    (bs.OUT / f"renormalize-{rows}.json").write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
