"""The plans of the Dask re-normalization's per-block statements on a kept survey database.

Runs one normalization task (``IMAGES_PER_TASK`` images from the middle of the survey) and
one metric task (``SOURCES_PER_TASK`` sources) in this process, exactly as a Dask worker
does (:func:`~dsa110_contimg.variability.pipeline.distributed._normalize_block`,
``_metrics_block`` with the products read once), records every statement they send, and
prints, per statement, its server time and ``EXPLAIN (ANALYZE, BUFFERS)`` under the same
session settings: a block's rows must be read through a bitmap (each heap page once), never
by a plain index scan (a page per row) nor a parallel scan. Also prints the statements'
count and the task's CPU, and the server backend's CPU.

Usage (the database of ``bench_scale.py --phases load,baselines --keep``)::

    SCALE_PG_PORT=54339 nice -n 10 python benchmarks/explain_renormalize_blocks.py --rows 1e8
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_scale as bs  # noqa: E402


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        st = f.read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=float, default=float(os.environ.get("SCALE_ROWS", "1e7")))
    ap.add_argument("--no-analyze", action="store_true", help="EXPLAIN without running")
    args = ap.parse_args(argv)
    rows = int(args.rows)
    port = int(os.environ.get("SCALE_PG_PORT", "54339"))
    admin = bs._pg_server(port, os.environ.get("SCALE_PG_DIR", f"/tmp/contimg-scale-pg-{port}"))
    url = admin.rsplit("/", 1)[0] + f"/scale_{rows}"

    from dsa110_contimg.config import Settings
    from dsa110_contimg.database import (
        block_reads,
        get_engine,
        metric_blocks,
        normalization,
        rawsql,
    )
    from dsa110_contimg.database import metrics as mstore
    from dsa110_contimg.variability.pipeline import distributed as dist
    from dsa110_contimg.variability.pipeline.normalize import active_baselines

    settings = Settings(state_dir=bs.OUT / f"scale-state-{rows}", database_url=url)
    kw = settings.child_kwargs()
    with get_engine(settings).connect() as conn:
        ids = normalization.products_in_order(conn)
        keys = sorted(set(mstore.photometry_keys(conn)))
        baselines = active_baselines(conn)
        images = metric_blocks.image_table(conn)
    seen: list[tuple[str, tuple, float, float]] = []
    fetch = rawsql.fetch_raw

    def recording(conn, sql, params=(), **kw):
        pid = conn.connection.dbapi_connection.info.backend_pid
        c0, t0 = _backend_cpu(pid), time.perf_counter()
        out = fetch(conn, sql, params, **kw)
        seen.append((sql, tuple(params), time.perf_counter() - t0, _backend_cpu(pid) - c0))
        return out

    for mod in (metric_blocks, normalization, rawsql, block_reads):
        mod.fetch_raw = recording
    mid = len(ids) // 2
    tasks = (
        ("normalization task", dist._normalize_block,
         (kw, ids[mid : mid + dist.IMAGES_PER_TASK], baselines)),
        ("metric task", dist._metrics_block,
         (kw, keys[len(keys) // 2 : len(keys) // 2 + dist.SOURCES_PER_TASK], images)),
    )  # fmt: skip
    for label, fn, task_args in tasks:
        fn(*task_args)  # warm: engine, pool, caches
        seen.clear()
        c0, t0 = _cpu(), time.perf_counter()
        fn(*task_args)
        c1, t1 = _cpu(), time.perf_counter()
        server = sum(s[3] for s in seen)
        print(f"\n=== {label}: {len(seen)} statements, wall {t1 - t0:.2f} s, this process's "
              f"CPU {c1 - c0:.2f} s, the backend's CPU {server:.2f} s")  # fmt: skip
        with get_engine(settings).connect() as conn:
            block_reads.set_block_reads(conn)
            for sql, params, wall, cpu in list(seen):
                head = " ".join(sql.split())[:150]
                print(f"\n--- {wall * 1e3:.1f} ms, backend CPU {cpu * 1e3:.0f} ms: {head}")
                if not sql.lstrip().upper().startswith("SELECT") or "set_config" in sql:
                    continue
                opts = "ANALYZE, BUFFERS" if not args.no_analyze else "COSTS"
                use_bitmap = "photometry_rows r WHERE" in sql or "FROM photometry_factors" in sql
                with block_reads.bitmap_scans(conn) if use_bitmap else contextlib.nullcontext():
                    for (line,) in fetch(conn, f"EXPLAIN ({opts}) {sql}", params):
                        print("    " + (line if len(line) < 200 else line[:200] + " ..."))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
