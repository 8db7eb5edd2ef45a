"""API load benchmark: light-curve and registry endpoints over a 1 000 000-row photometry table.

1. Builds an SQLite database with the real schema (migrations) and fast raw inserts:
   200 images x 5 000 sources = 1 000 000 photometry rows (raw + normalized fluxes), the
   images, their registry records and jobs.
2. Starts the server as a SUBPROCESS (``contimg serve --port 0``, one uvicorn process).
3. Runs the load generator in ANOTHER process (asyncio + httpx, loopback only):
   - open loop: 50 clients, each sending one request every 0.5 s (100 requests/s offered)
     for 20 s, on a fixed schedule (a slow answer never delays the next send, and latency is
     measured from the scheduled send time, so queueing is not hidden);
   - closed loop: 16 connections sending back to back for 10 s: the maximum requests/s.
   Requests: 60 % light curves (epoch/image series, JSON and CSV), 40 % registry (data list,
   data detail, job list, image detail).
Keeping the generator from starving the server: it is a separate process, confined with
``taskset`` to one CPU (CPU 1; the server may use every CPU) and run at niceness +5, so it can
never take more than one core nor win against the server for it; its loops are bounded in
count and time, and its schedule is open-loop.

Prints the figures and writes ``.bench-out/api.json``. Loopback traffic only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".bench-out"

N_IMAGES = 200
N_SOURCES = 5000
CATALOG = "nvss"


# --------------------------------------------------------------------------------------------
# database


def build_db(state_dir: Path, *, n_images: int = N_IMAGES, n_sources: int = N_SOURCES) -> dict:
    """Create the schema with the migrations, then fill it with raw executemany inserts."""
    from dsa110_contimg.catalog.ids import position_source_ids
    from dsa110_contimg.config import Settings
    from dsa110_contimg.database import dispose_engine, get_engine
    from dsa110_contimg.database.engine import sqlite_path

    settings = Settings(state_dir=state_dir)
    get_engine(settings)
    dispose_engine(settings)
    db = sqlite_path(settings.database_url)
    rng = np.random.default_rng(1)
    ra = rng.uniform(150, 210, n_sources)
    dec = rng.uniform(20, 70, n_sources)
    ids = position_source_ids(ra, dec)
    seen: Counter = Counter()
    uniq = []
    for s in ids:
        seen[s] += 1
        uniq.append(s if seen[s] == 1 else f"{s}_{seen[s]}")
    cat_flux = rng.uniform(5, 500, n_sources)
    now = time.time()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    t0 = time.perf_counter()
    with con:
        con.executemany(
            "INSERT INTO batch_jobs (id, job_type, status, total_items, completed_items, "
            "failed_items, params, created_at, started_at, finished_at, updated_at) "
            "VALUES (?, 'photometry', 'completed', 1, 1, 0, '{}', ?, ?, ?, ?)",
            [(i + 1, now - 1000 + i, now - 999 + i, now - 998 + i, now - 998 + i)
             for i in range(n_images)],
        )
        data_ids = [f"img-{i:05d}" for i in range(n_images)]
        mjd = 60700.0 + np.arange(n_images, dtype=float)
        con.executemany(
            "INSERT INTO images (data_id, path, kind, mjd_start, mjd_mid, mjd_end, "
            "ra_center_deg, dec_center_deg, bmaj_deg, bmin_deg, bpa_deg, noise_jy, freq_hz, "
            "created_at) VALUES (?, ?, 'image', ?, ?, ?, 180.0, 45.0, 0.004, 0.003, 0.0, "
            "0.001, 1.4e9, ?)",
            [(d, f"/data/bench/{d}-image-pb.fits", m - 0.002, m, m + 0.002, now - 1000 + i)
             for i, (d, m) in enumerate(zip(data_ids, mjd, strict=True))],
        )
        con.executemany(
            "INSERT INTO data_registry (data_id, data_type, path, status, qa_status, "
            "photometry_status, photometry_job_id, created_at, updated_at) "
            "VALUES (?, 'image', ?, 'finalized', 'passed', 'completed', ?, ?, ?)",
            [(d, f"/data/bench/{d}-image-pb.fits", i + 1, now - 1000 + i, now - 998 + i)
             for i, d in enumerate(data_ids)],
        )
        sql = (
            "INSERT INTO photometry (data_id, catalog, source_id, ra_deg, dec_deg, "
            "catalog_flux_mjy, flux_jy, flux_err_jy, local_rms_jy, snr, chi2, dof, flags, mjd, "
            "normalized_flux_jy, normalized_flux_err_jy, job_id, software_version, measured_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, 'bench', ?)"
        )
        err = np.full(n_sources, 1e-3)
        for i, d in enumerate(data_ids):
            gain = 1 + rng.normal(0, 0.05)
            flux = cat_flux * 1e-3 * gain + rng.normal(0, 1e-3, n_sources)
            nflux = flux / gain
            con.executemany(
                sql,
                zip(
                    [d] * n_sources, [CATALOG] * n_sources, uniq, ra.tolist(), dec.tolist(),
                    cat_flux.tolist(), flux.tolist(), err.tolist(), err.tolist(),
                    (flux / err).tolist(), [1.0] * n_sources, [1] * n_sources,
                    [float(mjd[i])] * n_sources, nflux.tolist(), err.tolist(),
                    [i + 1] * n_sources, [now] * n_sources,
                    strict=True,
                ),
            )
    n_rows = con.execute("SELECT count(*) FROM photometry").fetchone()[0]
    con.execute("ANALYZE")
    con.close()
    return {
        "settings": settings,
        "data_ids": data_ids,
        "source_ids": uniq,
        "rows": int(n_rows),
        "fill_s": time.perf_counter() - t0,
    }


# --------------------------------------------------------------------------------------------
# server


def _pin(cpu: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) >= 2:
        return ["taskset", "-c", str(cpu)]
    return []


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(state_dir: Path) -> tuple[subprocess.Popen, str]:
    """Start ``contimg serve --port 0`` in a subprocess; return it and its base URL."""
    cmd = [sys.executable, "-c", "from dsa110_contimg.cli import main; main()",
           "--state-dir", str(state_dir), "serve", "--host", "127.0.0.1", "--port", "0"]
    env = {**os.environ, "CONTIMG_LOG_LEVEL": "WARNING", "COLUMNS": "200"}
    env.pop("CONTIMG_API__TOKEN", None)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    url = None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            continue
        if line.startswith("contimg UI:"):
            url = line.split("contimg UI:", 1)[1].strip().rstrip("/")
            break
    if url is None:
        proc.kill()
        raise RuntimeError("server did not print its URL")
    import httpx

    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/data?limit=1", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not become healthy")


# --------------------------------------------------------------------------------------------
# load generator (runs in its own process: `bench_api.py --loadgen ...`)


def _paths(data_ids: list[str], source_ids: list[str], n: int, seed: int) -> list[tuple[str, str]]:
    from urllib.parse import quote

    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        x = rnd.random()
        sid = quote(rnd.choice(source_ids), safe="")
        if x < 0.35:
            out.append(("lightcurve", f"/api/sources/{CATALOG}/{sid}/lightcurve?series=epoch"))
        elif x < 0.50:
            out.append(("lightcurve", f"/api/sources/{CATALOG}/{sid}/lightcurve?series=image"))
        elif x < 0.60:
            out.append(("lightcurve",
                        f"/api/sources/{CATALOG}/{sid}/lightcurve?series=epoch&format=csv"))
        elif x < 0.72:
            out.append(("registry", f"/api/data?limit=20&offset={rnd.randrange(0, 180)}"))
        elif x < 0.86:
            out.append(("registry", f"/api/data/{rnd.choice(data_ids)}"))
        elif x < 0.93:
            out.append(("registry", "/api/batch?limit=20&status=completed"))
        else:
            out.append(("registry", f"/api/images/{rnd.choice(data_ids)}"))
    return out


def _pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) * 1e3 if values else None


def _summary(lat: dict[str, list[float]], errors: Counter, elapsed: float) -> dict:
    every = [v for vs in lat.values() for v in vs]
    return {
        "requests": len(every) + sum(errors.values()),
        "ok": len(every),
        "errors": sum(errors.values()),
        "error_kinds": dict(errors),
        "elapsed_s": round(elapsed, 3),
        "throughput_rps": round(len(every) / elapsed, 1) if elapsed > 0 else None,
        "p50_ms": _pct(every, 50),
        "p90_ms": _pct(every, 90),
        "p99_ms": _pct(every, 99),
        "max_ms": max(every) * 1e3 if every else None,
        "by_kind": {k: {"n": len(v), "p50_ms": _pct(v, 50), "p99_ms": _pct(v, 99)}
                    for k, v in lat.items()},
    }


async def open_loop(url: str, plan: list[tuple[str, str]], *, clients: int, interval_s: float,
                    duration_s: float) -> dict:
    import httpx

    loop = asyncio.get_running_loop()
    lat: dict[str, list[float]] = {}
    errors: Counter = Counter()
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)
    per_client = int(round(duration_s / interval_s))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10.0) as client:
        t0 = loop.time() + 0.5

        async def one(when: float, kind: str, path: str) -> None:
            await asyncio.sleep(max(0.0, when - loop.time()))
            try:
                r = await client.get(path)
                if r.status_code != 200:
                    errors[f"http {r.status_code}"] += 1
                    return
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
                return
            lat.setdefault(kind, []).append(loop.time() - when)  # from the scheduled time

        tasks = []
        i = 0
        for c in range(clients):
            offset = c * interval_s / clients
            for k in range(per_client):
                kind, path = plan[i % len(plan)]
                i += 1
                tasks.append(one(t0 + offset + k * interval_s, kind, path))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - t0
    out = _summary(lat, errors, elapsed)
    out["offered_rps"] = clients / interval_s
    return out


async def closed_loop(url: str, plan: list[tuple[str, str]], *, connections: int,
                      duration_s: float) -> dict:
    import httpx

    loop = asyncio.get_running_loop()
    lat: dict[str, list[float]] = {}
    errors: Counter = Counter()
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=10.0) as client:
        t0 = loop.time()
        end = t0 + duration_s

        async def worker(w: int) -> None:
            i = w
            while loop.time() < end and i < 10**6:
                kind, path = plan[i % len(plan)]
                i += connections
                s = loop.time()
                try:
                    r = await client.get(path)
                    if r.status_code != 200:
                        errors[f"http {r.status_code}"] += 1
                        continue
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                lat.setdefault(kind, []).append(loop.time() - s)

        await asyncio.gather(*(worker(w) for w in range(connections)))
        elapsed = loop.time() - t0
    out = _summary(lat, errors, elapsed)
    out["connections"] = connections
    return out


def loadgen_main(args: argparse.Namespace) -> int:
    spec = json.loads(Path(args.loadgen).read_text())
    plan = _paths(spec["data_ids"], spec["source_ids"], 5000, seed=spec.get("seed", 0))
    if spec["mode"] == "open":
        res = asyncio.run(open_loop(spec["url"], plan, clients=spec["clients"],
                                    interval_s=spec["interval_s"], duration_s=spec["duration_s"]))
    else:
        res = asyncio.run(closed_loop(spec["url"], plan, connections=spec["connections"],
                                      duration_s=spec["duration_s"]))
    print(json.dumps(res))
    return 0


def run_loadgen(spec: dict, tmp: Path) -> dict:
    f = tmp / f"spec-{spec['mode']}.json"
    f.write_text(json.dumps(spec))
    cmd = [*_pin(1), sys.executable, str(Path(__file__).resolve()), "--loadgen", str(f)]
    timeout = spec["duration_s"] + 120
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                         preexec_fn=lambda: os.nice(5))
    if res.returncode != 0:
        raise RuntimeError(f"load generator failed: {res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loadgen", help=argparse.SUPPRESS)
    ap.add_argument("--duration", type=float, default=20.0, help="open-loop seconds")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--closed-duration", type=float, default=10.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--images", type=int, default=N_IMAGES)
    ap.add_argument("--sources", type=int, default=N_SOURCES)
    args = ap.parse_args()
    if args.loadgen:
        return loadgen_main(args)

    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    proc = None
    try:
        t0 = time.perf_counter()
        db = build_db(tmp / "state", n_images=args.images, n_sources=args.sources)
        print(f"database: {db['rows']:,} photometry rows ({args.images} images x "
              f"{args.sources} sources) filled in {db['fill_s']:.1f} s")
        proc, url = start_server(tmp / "state")
        print(f"server: {url} (pid {proc.pid}); load generator pinned: {' '.join(_pin(1)) or 'no'}")
        spec = {"url": url, "data_ids": db["data_ids"], "source_ids": db["source_ids"]}
        # warm-up: 2 s of light load (page cache, SQLite statement cache)
        run_loadgen({**spec, "mode": "closed", "connections": 2, "duration_s": 2.0, "seed": 9}, tmp)
        c0 = cpu_seconds(proc.pid)
        open_res = run_loadgen({**spec, "mode": "open", "clients": args.clients,
                                "interval_s": args.interval, "duration_s": args.duration,
                                "seed": 1}, tmp)
        c1 = cpu_seconds(proc.pid)
        closed_res = run_loadgen({**spec, "mode": "closed", "connections": args.connections,
                                  "duration_s": args.closed_duration, "seed": 2}, tmp)
        c2 = cpu_seconds(proc.pid)
        for res, cpu in ((open_res, c1 - c0), (closed_res, c2 - c1)):
            res["server_cpu_s"] = round(cpu, 3)
            res["server_cpu_ms_per_request"] = round(1e3 * cpu / max(res["ok"], 1), 3)
        load = os.getloadavg()
        result = {
            "photometry_rows": db["rows"],
            "images": args.images,
            "sources": args.sources,
            "open_loop": open_res,
            "closed_loop": closed_res,
            "targets": {"errors": 0, "p99_ms": 100.0},
            "meets_targets": bool(open_res["errors"] == 0 and open_res["p99_ms"] is not None
                                  and open_res["p99_ms"] <= 100.0),
            "isolation": "server and load generator in separate processes; generator confined "
                         "to CPU 1 (taskset) at nice +5, server unpinned; open-loop schedule "
                         "(latency from the scheduled send time)",
            "cpu_count": os.cpu_count(),
            "load_average_1m_at_end": round(load[0], 2),
            "wall_s": round(time.perf_counter() - t0, 1),
        }
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    o, c = result["open_loop"], result["closed_loop"]
    print(f"open loop: {o['offered_rps']:.0f} req/s offered for {args.duration:.0f} s "
          f"({args.clients} clients x 1 per {args.interval} s): {o['ok']} ok, {o['errors']} errors,"
          f" p50 {o['p50_ms']:.1f} ms, p99 {o['p99_ms']:.1f} ms, max {o['max_ms']:.1f} ms")
    for kind, v in o["by_kind"].items():
        print(f"  {kind:10s} n={v['n']:5d} p50 {v['p50_ms']:.1f} ms p99 {v['p99_ms']:.1f} ms")
    print(f"closed loop ({c['connections']} connections, {args.closed_duration:.0f} s): "
          f"{c['throughput_rps']:.0f} req/s max, p50 {c['p50_ms']:.1f} ms, "
          f"p99 {c['p99_ms']:.1f} ms, {c['errors']} errors")
    print(f"server CPU per request: {o['server_cpu_ms_per_request']:.2f} ms (open loop), "
          f"{c['server_cpu_ms_per_request']:.2f} ms (closed loop); machine load average "
          f"{result['load_average_1m_at_end']} on {result['cpu_count']} CPUs")
    print(f"targets (0 errors, p99 <= 100 ms): {'met' if result['meets_targets'] else 'NOT met'}")
    OUT.mkdir(exist_ok=True)
    (OUT / "api.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
