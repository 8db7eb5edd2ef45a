"""Benchmark of normalization and variability at scale (issue 7).

An SQLite database with 1 000 epochs x 10 000 sources (10 million photometry rows, 200
references with baselines, per-image factors, per-source metrics of the series kept by
default) is built once with the raw driver and cached under ``.bench-out/normalize-db/``
(rebuilt when the build parameters change). Each run copies it, then times:

- ingesting one new epoch of 10 000 measurements: images/registry rows + photometry rows
  (the products bulk upsert) + ``on_photometry_written(normalize=True)`` (per-image factor,
  normalized columns, incremental metrics of both series, ESE candidates, reference checks);
  target <= 1 s;
- the same steps one by one on a further epoch (breakdown);
- fetching one source's light curve (``get_lightcurve``, epoch and image series, 1 000+
  points): median and p95 over 200 random sources; target <= 10 ms.

Run: ``.venv/bin/python benchmarks/bench_normalize.py`` (figures printed and written to
``.bench-out/normalize.json``).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".bench-out"
CACHE = OUT / "normalize-db"
N_EPOCHS = 1000
N_SOURCES = 10_000
N_REFS = 200
SEED = 110
BUILD = {"version": 9, "epochs": N_EPOCHS, "sources": N_SOURCES, "refs": N_REFS, "seed": SEED}


def _simulate():
    from dsa110_contimg.simulation.lightcurves import simulate_lightcurves

    rng = np.random.default_rng(SEED)
    snr = rng.uniform(5, 300, N_SOURCES - N_REFS)
    targets = [{"snr": float(s)} for s in snr]
    for j in range(0, 50):  # a few ESE-like dips among the sources
        targets[j * 97] = {"snr": 60.0, "dip_depth": 0.25, "dip_epochs": 20, "dip_start": 900}
    return simulate_lightcurves(
        n_epochs=N_EPOCHS + 8,
        n_references=N_REFS,
        reference_snr=(100, 500),
        targets=targets,
        gain_scatter=0.05,
        seed=SEED,
        image_prefix="bench",
    )


def _settings(db: Path, state: Path):
    from dsa110_contimg.config import Settings

    return Settings(state_dir=state, database_url=f"sqlite:///{db}")


def build(base: Path, sim) -> float:
    """Write the cached database with the raw driver; return the build time."""
    from dsa110_contimg import __version__
    from dsa110_contimg.config import NormalizeSettings
    from dsa110_contimg.database import dispose_engine, get_engine
    from dsa110_contimg.database.metrics import METRIC_COLUMNS, metrics_rows
    from dsa110_contimg.variability import derive, normalize_arrays, robust_baseline, run_series
    from dsa110_contimg.variability.packing import pack_states

    t0 = time.perf_counter()
    for p in base.parent.glob(base.name + "*"):
        p.unlink()
    settings = _settings(base, CACHE / "state")
    get_engine(settings)
    dispose_engine(settings)
    ns = NormalizeSettings()
    e = N_EPOCHS
    flux = sim.flux_jy[0][:, :e]
    err = sim.flux_err_jy[0][:, :e]
    norm = normalize_arrays(flux, err, sim.is_reference, baseline_epochs=ns.baseline_epochs)
    nf, ne = norm["normalized_flux_jy"], norm["normalized_flux_err_jy"]
    print(f"  simulated and normalized in memory: {time.perf_counter() - t0:.1f} s", flush=True)

    con = sqlite3.connect(base, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -1000000")
    idx_sql = con.execute(
        "SELECT sql FROM sqlite_master WHERE type='index' "
        "AND name='ix_photometry_rows_image_key'"
    ).fetchone()[0]
    con.execute("DROP INDEX ix_photometry_rows_image_key")
    con.execute("BEGIN")
    now = time.time()
    ids = [str(s) for s in sim.source_ids]
    ra = sim.ra_deg.tolist()
    dec = sim.dec_deg.tolist()
    cat_mjy = (sim.baseline_flux_jy * 1e3).tolist()
    # the compact layout (migration 0009): the sources once, then per image its key and rows
    con.executemany(
        "INSERT INTO photometry_sources (source_key, catalog, source_id, ra_deg, dec_deg, "
        "catalog_flux_mjy) VALUES (?, 'nvss', ?, ?, ?, ?)",
        zip(range(1, N_SOURCES + 1), ids, ra, dec, cat_mjy, strict=True),
    )
    source_keys = list(range(1, N_SOURCES + 1))
    for i in range(e):
        did = str(sim.data_ids[i])
        t = float(sim.mjd[i])
        con.execute(
            "INSERT INTO images (data_id, path, kind, mjd_start, mjd_mid, mjd_end, created_at) "
            "VALUES (?, ?, 'image', ?, ?, ?, ?)",
            (did, f"sim://{did}", t - 0.0017, t, t + 0.0017, now),
        )
        con.execute(
            "INSERT INTO data_registry (data_id, data_type, path, status, qa_status, created_at, "
            "updated_at) VALUES (?, 'image', ?, 'registered', 'passed', ?, ?)",
            (did, f"sim://{did}", now, now),
        )
        con.execute(
            "INSERT INTO photometry_products (image_key, data_id, mjd, software_version, "
            "measured_at) VALUES (?, ?, ?, ?, ?)",
            (i + 1, did, t, __version__, now),
        )
        f, er = flux[:, i].tolist(), err[:, i].tolist()
        rows = zip(
            source_keys,
            f,
            er,
            er,
            (flux[:, i] / err[:, i]).tolist(),
            nf[:, i].tolist(),
            ne[:, i].tolist(),
            strict=True,
        )
        con.executemany(
            "INSERT INTO photometry_rows (image_key, source_key, flux_jy, flux_err_jy, "
            f"local_rms_jy, snr, flags, normalized_flux_jy, normalized_flux_err_jy) "
            f"VALUES ({i + 1}, ?, ?, ?, ?, ?, '', ?, ?)",
            rows,
        )
        con.execute(
            "INSERT INTO image_normalization (data_id, status, factor, factor_err, n_refs, "
            "n_candidates, updated_at) VALUES (?, 'normalized', ?, ?, ?, ?, ?)",
            (
                did,
                float(norm["factor"][i]),
                float(norm["factor_err"][i]),
                int(norm["n_refs"][i]),
                N_REFS,
                now,
            ),
        )
        if i % 100 == 99:
            print(f"  {i + 1} epochs written ({time.perf_counter() - t0:.0f} s)", flush=True)
    refs = np.flatnonzero(sim.is_reference)
    b, eb = robust_baseline(flux[refs, : ns.baseline_epochs], err[refs, : ns.baseline_epochs])
    con.executemany(
        "INSERT INTO reference_sources (catalog, source_id, origin, status, baseline_flux_jy, "
        "baseline_err_jy, n_baseline, established_at, updated_at) "
        "VALUES ('master', ?, 'explicit', 'active', ?, ?, ?, ?, ?)",
        [
            (ids[j], float(bb), float(ee), ns.baseline_epochs, now, now)
            for j, bb, ee in zip(refs, b, eb, strict=True)
        ],
    )
    mjd = np.broadcast_to(sim.mjd[:e], (N_SOURCES, e))
    img = np.broadcast_to(np.asarray(sim.data_ids[:e], dtype=object), (N_SOURCES, e))
    keys = [("nvss", s) for s in ids]
    for series in [x for x in ns.metric_series if x != "mosaic"]:
        st = run_series(
            mjd, nf, ne, img, merge=series == "epoch", window_days=ns.epoch_window_hours / 24,
            baseline_epochs=ns.baseline_epochs, cusum_k=ns.cusum_k_sigma,
        )  # fmt: skip
        der = derive(st, cusum_k=ns.cusum_k_sigma)
        con.executemany(
            f"INSERT INTO source_metrics ({', '.join(METRIC_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(METRIC_COLUMNS))})",
            metrics_rows(keys, series, pack_states(st), list(st["open_image"]), der),
        )
    con.execute("COMMIT")
    print(f"  rows written: {time.perf_counter() - t0:.0f} s; indexing", flush=True)
    con.execute(idx_sql)
    con.execute("ANALYZE")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    # ESE candidates of the stored history (the sources with dips)
    settings = _settings(base, CACHE / "state")
    from dsa110_contimg.variability.pipeline import recompute_metrics

    with sqlite3.connect(base) as c2:
        dipped = [
            r[0]
            for r in c2.execute(
                "SELECT source_id FROM source_metrics WHERE series='epoch' AND max_cusum > 10"
            )
        ]
    recompute_metrics([("nvss", s) for s in dipped], settings=settings)
    dispose_engine(settings)
    (CACHE / "build.json").write_text(json.dumps(BUILD))
    return time.perf_counter() - t0


def main() -> int:
    from dsa110_contimg.database import dispose_engine, get_engine
    from dsa110_contimg.simulation.lightcurves import write_simulated_photometry
    from dsa110_contimg.variability.pipeline import (
        get_lightcurve,
        normalize_image,
        on_photometry_written,
        update_metrics_for_image,
    )

    OUT.mkdir(exist_ok=True)
    CACHE.mkdir(exist_ok=True)
    base = CACHE / "base.sqlite3"
    work = CACHE / "work.sqlite3"
    t0 = time.perf_counter()
    sim = _simulate()
    print(f"simulation: {time.perf_counter() - t0:.1f} s", flush=True)
    marker = CACHE / "build.json"
    build_s = None
    if not (base.exists() and marker.exists() and json.loads(marker.read_text()) == BUILD):
        print(
            f"building the cached database ({N_EPOCHS} epochs x {N_SOURCES} sources)...", flush=True
        )
        build_s = build(base, sim)
        print(f"built in {build_s:.0f} s", flush=True)
    for p in CACHE.glob("work.sqlite3*"):
        p.unlink()
    shutil.copyfile(base, work)
    settings = _settings(work, CACHE / "state")
    get_engine(settings)
    with sqlite3.connect(work) as con:
        n_rows = con.execute("SELECT max(id) FROM photometry_rows").fetchone()[0]

    def ingest(i: int) -> dict:
        did = str(sim.data_ids[i])
        t_a, c_a = time.perf_counter(), time.process_time()
        write_simulated_photometry(sim, images=[i], register_references=False, settings=settings)
        t_b = time.perf_counter()
        out = on_photometry_written(did, normalize=True, settings=settings)
        t_c, c_c = time.perf_counter(), time.process_time()
        assert out["normalization"]["status"] == "normalized", out
        return {
            "insert_s": t_b - t_a,
            "normalize_and_metrics_s": t_c - t_b,
            "total_s": t_c - t_a,
            "total_cpu_s": c_c - c_a,
        }

    # the first epoch after opening the copied database (cold caches), then steady state
    cold = ingest(N_EPOCHS)
    warm_runs = [ingest(N_EPOCHS + k) for k in (1, 2, 3)]
    warm = {k: statistics.median(r[k] for r in warm_runs) for k in warm_runs[0]}

    # breakdown, step by step, on further epochs
    parts = []
    for k in (4, 5, 6):
        did = str(sim.data_ids[N_EPOCHS + k])
        s0 = time.perf_counter()
        write_simulated_photometry(
            sim, images=[N_EPOCHS + k], register_references=False, settings=settings
        )
        s1 = time.perf_counter()
        normalize_image(did, settings=settings)
        s2 = time.perf_counter()
        n_metrics = update_metrics_for_image(did, settings=settings)
        s3 = time.perf_counter()
        parts.append(
            {"insert_s": s1 - s0, "normalize_image_s": s2 - s1, "metrics_and_ese_s": s3 - s2}
        )
    breakdown = {k: statistics.median(r[k] for r in parts) for k in parts[0]}
    breakdown["metric_rows"] = n_metrics

    rng = np.random.default_rng(1)
    picks = rng.choice(sim.source_ids, 200, replace=False)
    lc = {}
    for series in ("epoch", "image"):
        times, cpu = [], []
        for sid in picks:
            q0, p0 = time.perf_counter(), time.process_time()
            t = get_lightcurve("nvss", str(sid), series=series, settings=settings)
            times.append(time.perf_counter() - q0)
            cpu.append(time.process_time() - p0)
        assert len(t) >= N_EPOCHS
        times.sort()
        lc[series] = {
            "median_ms": 1e3 * statistics.median(times),
            "p95_ms": 1e3 * times[int(0.95 * len(times))],
            "median_cpu_ms": 1e3 * statistics.median(cpu),
            "points": len(t),
        }
    dispose_engine(settings)
    result = {
        "epochs": N_EPOCHS,
        "sources": N_SOURCES,
        "references": N_REFS,
        "photometry_rows": n_rows,
        "build_s": build_s,
        "ingest_one_epoch": warm,
        "ingest_first_epoch_cold": cold,
        "ingest_breakdown": breakdown,
        "lightcurve": lc,
        "targets": {"ingest_total_s": 1.0, "lightcurve_ms": 10.0},
    }
    print(f"photometry rows in the database: {n_rows:,}")
    print(
        f"ingest one epoch of {N_SOURCES} measurements (median of 3): total {warm['total_s']:.3f} s"
        f" (insert {warm['insert_s']:.3f} s, normalization + metrics + ESE "
        f"{warm['normalize_and_metrics_s']:.3f} s; target <= 1 s); first epoch after opening "
        f"(cold caches): {cold['total_s']:.3f} s; CPU time of this process per epoch "
        f"{warm['total_cpu_s']:.3f} s"
    )
    print(
        f"  breakdown (median of 3): insert {breakdown['insert_s']:.3f} s, normalize_image "
        f"{breakdown['normalize_image_s']:.3f} s, "
        f"metrics+ESE {breakdown['metrics_and_ese_s']:.3f} s"
    )
    for series, v in lc.items():
        print(
            f"light curve ({series}, {v['points']} points): median {v['median_ms']:.2f} ms, "
            f"p95 {v['p95_ms']:.2f} ms, median CPU {v['median_cpu_ms']:.2f} ms (target <= 10 ms)"
        )
    (OUT / "normalize.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
