"""A survey's worth of data on PostgreSQL (issue 17): load, bytes per row, reads, re-normalization.

``make bench-scale`` (``SCALE_ROWS=1e7`` by default, ``1e8`` for the full size) generates a
synthetic survey straight into a PostgreSQL server of its own (started like the tests' one,
``scripts/pg-test-server.sh`` on port ``SCALE_PG_PORT``, default 54339, data under
``SCALE_PG_DIR``; PostgreSQL's default 128 MB of shared buffers unless ``--shared-buffers``
says otherwise, e.g. ``quarter``, a quarter of the machine's memory as PostgreSQL's manual
advises for a dedicated server; "warm" means after ``pg_prewarm`` of the relations a light
curve reads, into the shared buffers and, beyond them, the OS page cache), through the
project's own schema (migrations), and measures, phase by phase
(``--phases``, in this order; without ``load`` a database kept by ``--keep`` is reused):

- ``load``: N images x M sources (~650 per image, sources in declination strips of 3.5 deg
  observed for weeks each, 288 images a day, realistic fluxes/errors/flags, 0.5 % variable
  sources), written with binary ``COPY`` into the photometry base tables (migration 0016:
  integer image and source keys, per-image and per-source columns out of the row) with the
  rows' index and constraint dropped and built after the load: rows/s, index build time,
  bytes per row of the row table, of each of its indexes and of the dictionaries;
- ``baselines``: the references' baselines established from the stored photometry;
- ``renormalize``: the Dask re-normalization's compute phase (every normalization and metric
  task of the whole survey, nothing stored) with 1 and 2 workers: wall, workers' and
  PostgreSQL's CPU, the speed-up (``bench_renormalize.compute_phase``);
- ``whole``: the full re-normalization + metrics rebuild, ``normalize_all_distributed`` with 2
  workers end to end (factors, metrics, ESE candidates, per-source rows stored);
- ``reads``, p50/p99 over many random sources: a light curve of ~1,000 points
  (``get_lightcurve``, image and epoch series), a 0.5 deg cone (``query_sources`` on the
  catalog store: no photometry touched), a sources page filtered on eta/V (``metric_list``,
  paginated), and EXPLAIN (ANALYZE, BUFFERS) of the light-curve and per-image statements;
- ``epoch``: a new epoch of 10,000 measurements (16 images of 625 sources, each image's rows
  stored by one ``photometry_insert``), normalized and folded into the metrics and ESE
  candidates twice: image by image (``on_photometry_written``, the worker in steady
  operation) and as one pass over the 16 (``on_photometry_written_many``, the worker catching
  up, ``jobs.fold_items``); after ``prepare_per_image_path()`` as the worker does at its start;
- ``cold``: the light curves again after a server restart with the page cache dropped (when
  ``/proc/sys/vm/drop_caches`` is writable);
- ``cluster``: ``CLUSTER`` by source (``contimg db cluster``), then cold and warm light curves.

Figures are printed and merged into ``.bench-out/scale-<rows>.json``. Run niced: the machine is
shared. ``python benchmarks/bench_scale.py --rows 1e6`` for a quick run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".bench-out"
PER_IMAGE = 650
POINTS_PER_SOURCE = 1000
STRIP_DEG = 3.5
SEED = 17


def _shared_buffers_mb(value: str) -> int:
    """``--shared-buffers``: ``quarter`` (of the machine's memory) or a size like ``128MB``."""
    if value == "quarter":
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4 // 2**20
    units = {"MB": 1, "GB": 1024}
    try:
        mb = int(float(value[:-2]) * units[value[-2:].upper()])
    except (KeyError, ValueError):
        mb = 0
    if mb < 1:
        raise argparse.ArgumentTypeError(
            f"{value!r}: expected 'quarter' or a size such as 128MB or 6GB"
        )
    return mb


def _pg_server(port: int, data_dir: str, shared_buffers_mb: int) -> str:
    """Start the bench server (or reuse it when its shared buffers are the ones asked for)."""
    env = dict(os.environ, CONTIMG_PG_PORT=str(port), CONTIMG_PG_DIR=data_dir,
               CONTIMG_PG_OPTIONS=f"-c shared_buffers={shared_buffers_mb}MB")  # fmt: skip

    def start() -> str:
        out = subprocess.run(
            ["bash", str(ROOT / "scripts" / "pg-test-server.sh")],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return out.stdout.strip().splitlines()[-1]

    admin = start()
    if _server_shared_buffers_mb(admin) != shared_buffers_mb:  # a server left by another run
        _stop(data_dir)
        admin = start()
    return admin


def _server_shared_buffers_mb(admin: str) -> int:
    from sqlalchemy import create_engine, text

    eng = create_engine(admin)
    with eng.connect() as c:
        blocks, unit = c.execute(
            text("SELECT setting::bigint, unit FROM pg_settings WHERE name = 'shared_buffers'")
        ).one()
    eng.dispose()
    assert unit == "8kB", unit
    return int(blocks) * 8 // 1024


def _as_pg(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _stop(data_dir: str) -> None:
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    subprocess.run(_as_pg([str(bindir / "pg_ctl"), "-D", data_dir, "-w", "-m", "fast", "stop"]),
                   check=True, capture_output=True)  # fmt: skip


def _restart(port: int, data_dir: str, shared_buffers_mb: int) -> bool:
    """Restart the bench server and drop the page cache (when allowed); True if dropped."""
    _stop(data_dir)
    dropped = False
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        dropped = True
    except OSError:
        pass
    _pg_server(port, data_dir, shared_buffers_mb)  # started again as the first time
    return dropped


def _pct(x: list[float]) -> dict:
    a = np.asarray(x) * 1e3
    return {"p50_ms": round(float(np.percentile(a, 50)), 2),
            "p99_ms": round(float(np.percentile(a, 99)), 2), "n": len(x)}  # fmt: skip


# --------------------------------------------------------------------------- the survey


class Survey:
    """The synthetic survey: sources in declination strips, images sweeping each strip."""

    def __init__(self, rows: int, seed: int = SEED):
        rng = np.random.default_rng(seed)
        self.n_sources = max(PER_IMAGE * 2, int(round(rows / POINTS_PER_SOURCE)))
        self.n_images = int(round(rows / PER_IMAGE))
        n_strips = max(1, min(20, self.n_sources // 2000))
        self.strip = np.sort(rng.integers(0, n_strips, self.n_sources))
        dec0 = -10.0 + STRIP_DEG * self.strip
        self.dec = dec0 + rng.uniform(-STRIP_DEG / 2, STRIP_DEG / 2, self.n_sources)
        self.ra = np.zeros(self.n_sources)
        for s in range(n_strips):  # RA order inside each strip
            m = self.strip == s
            self.ra[m] = np.sort(rng.uniform(0, 360, m.sum()))
        self.flux = 10 ** rng.uniform(np.log10(0.005), np.log10(2.0), self.n_sources)
        self.ids = np.array([f"SCL{i:08d}" for i in range(self.n_sources)])
        self.variable = rng.random(self.n_sources) < 0.005
        self.is_ref = (~self.variable) & (self.flux > 0.1) & (rng.random(self.n_sources) < 0.3)
        # images: strips in turn (a strip is held for weeks), each image the next block of
        # PER_IMAGE sources of its strip (half overlapping the previous one)
        starts = np.flatnonzero(np.r_[True, np.diff(self.strip) != 0])
        sizes = np.diff(np.r_[starts, self.n_sources])
        per_strip = np.maximum(1, np.round(self.n_images * sizes / self.n_sources)).astype(int)
        self.n_images = int(per_strip.sum())
        self.image_strip = np.repeat(np.arange(n_strips), per_strip)
        self.image_first = np.concatenate(
            [st + (np.arange(k) * (PER_IMAGE // 2)) % max(1, sz) for st, sz, k in
             zip(starts, sizes, per_strip, strict=True)]
        )  # fmt: skip
        self.strip_start = dict(zip(range(n_strips), starts.tolist(), strict=True))
        self.strip_size = dict(zip(range(n_strips), sizes.tolist(), strict=True))
        self.mjd = 60000.0 + np.arange(self.n_images) / 288.0
        self.gain = 1.0 + 0.03 * rng.standard_normal(self.n_images)
        self.rng = rng

    def members(self, i: int) -> np.ndarray:
        s = int(self.image_strip[i])
        st, sz = self.strip_start[s], self.strip_size[s]
        k = min(PER_IMAGE, sz)
        return st + (self.image_first[i] - st + np.arange(k)) % sz

    def new_epoch_images(self, run: int = 0) -> list[np.ndarray]:
        """The sources of a new epoch's 16 images: 625 of one strip each, shifted by 312.

        A source is on two consecutive images, as overlapping drift-scan images hold it.
        ``run`` (the epochs measured before on a kept database) picks the strip, in turn:
        each measured epoch is a new epoch of sources whose history is the survey's, not the
        earlier runs' extra points on the same sources.
        """
        strip = run % len(self.strip_start)
        first, size = self.strip_start[strip], self.strip_size[strip]
        return [first + (np.arange(625) + 312 * k) % size for k in range(16)]

    def data_id(self, i: int) -> str:
        return f"scale-{i:07d}"

    def measure(self, i: int, rng) -> dict:
        return self.fluxes(self.members(i), self.mjd[i], self.gain[i], rng)

    def fluxes(self, idx: np.ndarray, t: float, gain: float, rng) -> dict:
        """One image's measurements of the sources ``idx`` at MJD ``t`` with its ``gain``."""
        f = self.flux[idx] * gain
        v = self.variable[idx]
        f = np.where(v, f * (1 + 0.2 * np.sin(t / 7.0 + idx)), f)
        # thermal noise and a 0.5 % calibration floor (in the errors too)
        err = np.hypot(1.5e-3, 0.005 * self.flux[idx])
        f = f + err * rng.standard_normal(idx.size)
        flags = np.where(rng.random(idx.size) < 0.01, "edge", "")
        return {"idx": idx, "flux": f, "err": err, "flags": flags, "mjd": t}


# --------------------------------------------------------------------------- loading


def _constraints(cur, table: str) -> tuple[list[tuple[str, str]], list[str]]:
    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u')", (table,))  # fmt: skip
    cons = cur.fetchall()
    cur.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        (table, table),
    )
    return cons, [d for _, d in cur.fetchall()]


def load(url: str, sv: Survey) -> dict:
    """COPY the survey into the photometry base tables (migration 0016), in arrival order.

    ``photometry_sources``, ``photometry_products``, ``photometry_rows`` (the rows' constraint
    and index dropped and rebuilt after), image after image; images and registry too. Source
    keys follow the survey's source order (declination strip, then RA): the order in which
    the telescope, holding a strip for weeks, first sees them.
    """
    import psycopg

    from dsa110_contimg import __version__

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    rng = np.random.default_rng(SEED + 1)
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
        cons, index_defs = _constraints(cur, "photometry_rows")
        for name, _ in cons:
            cur.execute(f"ALTER TABLE photometry_rows DROP CONSTRAINT {name}")
        cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'photometry_rows'")
        for (name,) in cur.fetchall():
            cur.execute(f"DROP INDEX {name}")
        now = time.time()
        with cur.copy("COPY images (data_id, path, kind, mjd_start, mjd_mid, mjd_end, "
                      "ra_center_deg, dec_center_deg, created_at) FROM STDIN") as cp:  # fmt: skip
            for i in range(sv.n_images):
                m = sv.members(i)
                cp.write_row((sv.data_id(i), f"sim://{sv.data_id(i)}", "image",
                              sv.mjd[i] - 0.0018, sv.mjd[i], sv.mjd[i] + 0.0018,
                              float(sv.ra[m].mean()), float(sv.dec[m].mean()), now))  # fmt: skip
        with cur.copy("COPY data_registry (data_id, data_type, path, status, qa_status, "
                      "photometry_status, created_at, updated_at) FROM STDIN") as cp:  # fmt: skip
            for i in range(sv.n_images):
                cp.write_row((sv.data_id(i), "image", f"sim://{sv.data_id(i)}", "registered",
                              "passed", "completed", now, now))  # fmt: skip
        t0 = time.perf_counter()
        with cur.copy("COPY photometry_sources (source_key, catalog, source_id, ra_deg, dec_deg, "
                      "catalog_flux_mjy) FROM STDIN") as cp:  # fmt: skip
            for k in range(sv.n_sources):
                cp.write_row((k + 1, "nvss", str(sv.ids[k]), float(sv.ra[k]), float(sv.dec[k]),
                              float(sv.flux[k] * 1e3)))  # fmt: skip
        with cur.copy("COPY photometry_products (image_key, data_id, mjd, job_id, "
                      "software_version, measured_at) FROM STDIN") as cp:  # fmt: skip
            for i in range(sv.n_images):
                cp.write_row((i + 1, sv.data_id(i), float(sv.mjd[i]), 1, __version__, now))
        cols = ("id, image_key, source_key, flux_jy, flux_err_jy, local_rms_jy, snr, chi2, "
                "dof, flags")  # fmt: skip
        types = ["int4", "int4", "int4", "float8", "float8", "float4", "float4", "float4",
                 "int4", "text"]  # fmt: skip
        n = 0
        with cur.copy(f"COPY photometry_rows ({cols}) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(types)
            for i in range(sv.n_images):
                m = sv.measure(i, rng)
                idx = m["idx"]
                rows = zip(
                    range(n + 1, n + 1 + idx.size), [i + 1] * idx.size, (idx + 1).tolist(),
                    m["flux"].tolist(), m["err"].tolist(), m["err"].tolist(),
                    (m["flux"] / m["err"]).tolist(), [1.0] * idx.size, [1] * idx.size,
                    m["flags"].tolist(),
                    strict=True,
                )  # fmt: skip
                for r in rows:
                    cp.write_row(r)
                n += idx.size
                if i % 2000 == 0:
                    print(f"  copied {n:,} rows", flush=True)
        t_copy = time.perf_counter() - t0
        t1 = time.perf_counter()
        for name, definition in cons:
            cur.execute(f"ALTER TABLE photometry_rows ADD CONSTRAINT {name} {definition}")
        for definition in index_defs:
            cur.execute(definition)
        t_index = time.perf_counter() - t1
        for table, col in (("photometry_rows", "id"), ("photometry_products", "image_key"),
                           ("photometry_sources", "source_key")):  # fmt: skip
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{col}'), "
                        f"(SELECT max({col}) FROM {table}))")  # fmt: skip
        for table in ("photometry_rows", "photometry_products", "photometry_sources", "images",
                      "data_registry"):  # fmt: skip
            cur.execute(f"ANALYZE {table}")
    return {"rows": n, "copy_s": round(t_copy, 1), "rows_per_s": round(n / t_copy),
            "index_build_s": round(t_index, 1)}  # fmt: skip


def sizes(url: str, table: str, rows: int) -> dict:
    """Bytes per row of a table (heap + TOAST) and of each of its indexes."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        cur = conn.cursor()
        cur.execute("SELECT pg_table_size(%s::regclass)", (table,))
        out = {"table_B_per_row": round(cur.fetchone()[0] / rows, 1)}
        cur.execute("SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) "
                    "FROM pg_index WHERE indrelid = %s::regclass", (table,))  # fmt: skip
        for name, size in cur.fetchall():
            out[f"{name}_B_per_row"] = round(size / rows, 1)
        out["total_B_per_row"] = round(sum(out.values()), 1)
    return out


def photometry_sizes(url: str, rows: int) -> dict:
    """Bytes per measurement of the photometry storage (migrations 0016, 0020).

    The rows (table and each index); the two dictionaries (per image, per source) and the
    references' own normalization factors (``photometry_factors``), with their indexes,
    spread over the rows.
    """
    out = {"rows": sizes(url, "photometry_rows", rows)}
    others = ("photometry_products", "photometry_sources", "photometry_factors")
    for t in others:
        out[t] = sizes(url, t, rows)["total_B_per_row"]
    out["total_B_per_row"] = round(out["rows"]["total_B_per_row"] + sum(out[t] for t in others), 1)
    return out


# --------------------------------------------------------------------------- measurements


#: What a light curve reads (``database.lightcurves.lightcurve_statement``).
LIGHTCURVE_RELATIONS = (
    "photometry_sources", "uq_photometry_sources_catalog_source_id", "photometry_rows",
    "uq_photometry_rows_source_key_image_key", "photometry_products", "pk_photometry_products",
    "pk_photometry_factors",
)  # fmt: skip


def prewarm(url: str) -> dict:
    """Read what a light curve reads into the OS page cache (``pg_prewarm``, mode ``read``).

    "Warm" is then the state of a server that has served for a while on a machine whose
    memory holds the database (24 GiB here, ~13 GB at 10^8 rows), not "the sample read
    before": the light curves are still each read once, in a random order.
    """
    import psycopg

    t0 = time.perf_counter()
    blocks = 0
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"),
                         autocommit=True) as conn:  # fmt: skip
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        for rel in LIGHTCURVE_RELATIONS:
            blocks += conn.execute("SELECT pg_prewarm(%s::regclass, 'read')", (rel,)).fetchone()[0]
    return {"relations": list(LIGHTCURVE_RELATIONS), "gb": round(blocks * 8192 / 1e9, 2),
            "s": round(time.perf_counter() - t0, 1)}  # fmt: skip


def lightcurves(settings, sv: Survey, n: int, rng) -> dict:
    """p50/p99 of ``get_lightcurve`` as the API serves it, per series, each source read once.

    As in ``contimg serve``: the process has served before (one light curve outside the
    sample: the lazy imports and the pool's first connection are not a reader's cost) and
    has settled (``runtime.settle``: no collection walks the start-up's objects).
    """
    from dsa110_contimg.runtime import settle
    from dsa110_contimg.variability.pipeline import get_lightcurve

    out = {}
    picks = rng.choice(sv.n_sources, size=n + 1, replace=False)
    get_lightcurve("nvss", str(sv.ids[picks[-1]]), settings=settings)
    picks = picks[:-1]
    settle()
    for series in ("image", "epoch"):
        ts, pts = [], []
        for i in picks:
            t0 = time.perf_counter()
            lc = get_lightcurve("nvss", str(sv.ids[i]), series=series, settings=settings)
            ts.append(time.perf_counter() - t0)
            pts.append(len(lc))
        out[series] = {**_pct(ts), "median_points": int(np.median(pts))}
    return out


def cones(settings, sv: Survey, n: int, rng) -> dict:
    from astropy.table import Table

    from dsa110_contimg.catalog import ingest_table, query_sources

    ingest_table("nvss", Table({"source_id": sv.ids, "ra_deg": sv.ra, "dec_deg": sv.dec,
                                "flux_mjy": sv.flux * 1e3}), settings=settings)  # fmt: skip
    ts, counts = [], []
    for i in rng.choice(sv.n_sources, size=n):
        t0 = time.perf_counter()
        t = query_sources("nvss", float(sv.ra[i]), float(sv.dec[i]), 0.5, settings=settings)
        ts.append(time.perf_counter() - t0)
        counts.append(len(t))
    return {**_pct(ts), "median_sources": int(np.median(counts))}


def source_pages(url: str, n: int, rng) -> dict:
    import psycopg

    ts = []
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM metric_list WHERE series = 'epoch' AND eta > 2")
        total = cur.fetchone()[0]
        for _ in range(n):
            off = int(rng.integers(0, max(1, total - 50)))
            t0 = time.perf_counter()
            cur.execute(
                "SELECT catalog, source_id, eta, v, mean_flux_jy, n_points FROM metric_list "
                "WHERE series = 'epoch' AND eta > %s AND v > %s "
                "ORDER BY eta DESC, source_id LIMIT 50 OFFSET %s",
                (2.0, 0.01, off),
            )
            cur.fetchall()
            ts.append(time.perf_counter() - t0)
    return {**_pct(ts), "matching": total}


def new_epoch(settings, sv: Survey, *, folded: bool) -> dict:
    """10,000 new measurements: 16 images of 625 sources, stored as the job worker stores them.

    Each image's rows are stored by one ``photometry_insert`` (what the worker's item write
    does). ``folded=False``: each image is then normalized and folded into the metrics on its
    own (``on_photometry_written``: the worker in steady operation, one image at a time).
    ``folded=True``: the 16 images' rows are stored first, then normalized and folded in one
    pass (``on_photometry_written_many``: the worker catching up a backlog, ``jobs.fold_items``),
    and then, timed apart as the worker runs it after the pass's ESE alerts, the explorer's
    copies of the sources' rows are refreshed (``database.listing``).
    """
    from sqlalchemy import text

    from dsa110_contimg.database import get_engine, photometry_insert, write_transaction
    from dsa110_contimg.database.listing import refresh_listing
    from dsa110_contimg.runtime import settle
    from dsa110_contimg.variability.pipeline import (
        on_photometry_written,
        on_photometry_written_many,
    )
    from dsa110_contimg.variability.pipeline.normalize import prepare_per_image_path

    prepare_per_image_path()  # as the job worker does when it starts (contimg jobs worker)
    settle()
    rng = np.random.default_rng(SEED + 2)
    # after everything stored (a database kept from an earlier run holds earlier epochs: a
    # point not later than a source's last one takes the recompute path, not the new epoch's)
    with get_engine(settings).connect() as conn:
        latest, earlier = conn.execute(
            text("SELECT max(mjd), count(*) FILTER (WHERE data_id LIKE 'scale-new-%') "
                 "FROM photometry_products")  # fmt: skip
        ).one()
    run = earlier // 16
    t_all = time.perf_counter()
    per, stored, dids = [], 0.0, []
    for k, idx in enumerate(sv.new_epoch_images(run)):
        t = float(max(sv.mjd[-1], latest or 0.0) + (k + 1) / 288.0)
        m = sv.fluxes(idx, t, 1.0 + 0.03 * rng.standard_normal(), rng)  # as the survey's
        f, err = m["flux"], m["err"]
        did = f"scale-new-{k:02d}" if not run else f"scale-new-{run}-{k:02d}"
        dids.append(did)
        t0 = time.perf_counter()
        # the columns the job worker writes (jobs.worker.BatchWorker._rows): a writer leaving
        # out a source's catalog flux would make its stored rows keep their own copy (once)
        photometry_insert({"data_id": did, "catalog": "nvss", "source_id": sv.ids[idx],
                           "ra_deg": sv.ra[idx], "dec_deg": sv.dec[idx],
                           "catalog_flux_mjy": sv.flux[idx] * 1e3, "mjd": t, "job_id": 2,
                           "flux_jy": f, "flux_err_jy": err, "local_rms_jy": err,
                           "snr": f / err, "chi2": np.ones(idx.size), "dof": 1,
                           "flags": m["flags"]}, settings=settings)  # fmt: skip
        stored += time.perf_counter() - t0
        if not folded:
            on_photometry_written(did, normalize=True, settings=settings)
            per.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    if folded:  # as the worker runs it: the explorer's copies refreshed after the pass
        on_photometry_written_many(dids, normalize=True, settings=settings,
                                   refresh_listing=False)  # fmt: skip
    out = {"epoch_10000_s": round(time.perf_counter() - t_all, 2),
           "rows_stored_s": round(stored, 3)}  # fmt: skip
    if folded:
        out["one_pass_s"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        with write_transaction(get_engine(settings)) as conn:
            out["listing_sources"] = refresh_listing(conn)
        out["listing_refresh_s"] = round(time.perf_counter() - t0, 3)
    else:
        out["per_image"] = _pct(per)
    return out


def renormalize(settings, workers: list[int]) -> dict:
    """The Dask re-normalization's compute phase (every task, nothing stored), 1 and 2 workers.

    Wall time, the workers' and PostgreSQL's CPU per phase (``bench_renormalize``), and the
    speed-up from 1 to 2 workers.
    """
    import bench_renormalize as br

    name = settings.database_url.rsplit("/", 1)[1]
    out = {f"compute_{w}_workers": br.compute_phase(settings, name, w) for w in workers}
    if len(workers) > 1:
        a, b = (out[f"compute_{w}_workers"]["wall_s"] for w in (workers[0], workers[-1]))
        out["speedup_1_to_2"] = round(a / b, 2)
    return out


def whole_run(settings, workers: int) -> dict:
    """``normalize_all_distributed`` end to end (factors, metrics, ESE, per-source rows stored)."""
    import bench_renormalize as br

    return br.whole_run(settings, settings.database_url.rsplit("/", 1)[1], workers)


def explain(url: str, sv: Survey) -> dict:
    import psycopg

    from dsa110_contimg.database.lightcurves import lightcurve_statement

    sid = str(sv.ids[len(sv.ids) // 2])
    stmts = {
        # database.lightcurves.read_lightcurve's statement, as the pipeline sends it
        "lightcurve": ("EXPLAIN (ANALYZE, BUFFERS) " + lightcurve_statement("%s"), ("nvss", sid)),
        # database.normalization.image_photometry's (what the normalization reads per image)
        "image_rows": ("EXPLAIN (ANALYZE, BUFFERS) SELECT id, catalog, source_id, flux_jy, "
                       "flux_err_jy, flags FROM photometry WHERE data_id = %s "
                       "ORDER BY catalog, source_id", (sv.data_id(sv.n_images // 2),)),
    }  # fmt: skip
    out = {}
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        cur = conn.cursor()
        for name, (sql, params) in stmts.items():
            try:
                cur.execute(sql, params)
                out[name] = [r[0] for r in cur.fetchall()]
            except psycopg.Error as exc:
                conn.rollback()
                out[name] = [f"error: {exc}"]
    return out


def _get(d: dict, path: str):
    for k in path.split("."):
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _pp(d: dict, path: str) -> str:
    v = _get(d, path)
    return "-" if v is None else f"{v['p50_ms']:g} / {v['p99_ms']:g} ms"


#: The table's rows: (label with the issue's target, how to print it from one size's results).
TABLE_ROWS = (
    ("COPY load", lambda d: "-" if _get(d, "load.rows_per_s") is None else
     f"{_get(d, 'load.rows_per_s'):,} rows/s, indexes {_get(d, 'load.index_build_s')} s"),
    ("bytes per row incl. indexes, after load / now (<= 150)", lambda d: " / ".join(
        str(_get(d, k) or "-") for k in ("bytes_after_load.total_B_per_row",
                                         "bytes_now.total_B_per_row"))),
    ("light curve warm p50/p99 (p99 <= 20 ms)", lambda d: _pp(d, "lightcurve_warm.image")),
    ("light curve cold p50/p99 (reported)", lambda d: _pp(d, "lightcurve_cold.image")),
    ("cone 0.5 deg p50/p99 (p99 <= 20 ms)", lambda d: _pp(d, "cone_0p5deg")),
    ("sources page p50/p99 (p99 <= 100 ms)", lambda d: _pp(d, "sources_page")),
    ("new epoch, 10,000 measurements, image by image (<= 1 s)", lambda d: "-"
     if _get(d, "new_epoch") is None else f"{_get(d, 'new_epoch.epoch_10000_s')} s (per image "
     f"p50 {_get(d, 'new_epoch.per_image.p50_ms')} ms){_buffers(d, 'new_epoch')}"),
    ("new epoch folded in one pass (<= 1 s): rows stored + one pass", lambda d: "-"
     if _get(d, "new_epoch_folded") is None else
     f"{_get(d, 'new_epoch_folded.epoch_10000_s')} s ({_get(d, 'new_epoch_folded.rows_stored_s')}"
     f" + {_get(d, 'new_epoch_folded.one_pass_s')} s){_buffers(d, 'new_epoch_folded')}"),
    ("the explorer's copies refreshed after the folded pass (reported)", lambda d: "-"
     if _get(d, "new_epoch_folded.listing_refresh_s") is None else
     f"{_get(d, 'new_epoch_folded.listing_refresh_s')} s"),
    ("Dask compute 1 / 2 workers, speed-up (>= 1.7x)", lambda d: "-"
     if _get(d, "renormalize.compute_1_workers.wall_s") is None else
     f"{_get(d, 'renormalize.compute_1_workers.wall_s')} / "
     f"{_get(d, 'renormalize.compute_2_workers.wall_s')} s, "
     f"{_get(d, 'renormalize.speedup_1_to_2')}x"),
    ("full re-normalization + metrics, 2 workers (<= 30 min)", lambda d: "-"
     if _get(d, "whole_run_2_workers.wall_s") is None else
     f"{_get(d, 'whole_run_2_workers.wall_s') / 60:.1f} min"),
)  # fmt: skip


def _buffers(d: dict, key: str) -> str:
    """``, shared buffers N MB`` of a measurement that recorded them (earlier ones: 128 MB)."""
    mb = _get(d, f"{key}.shared_buffers_mb")
    return "" if mb is None else f", shared buffers {mb:,} MB"


def table(out_dir: Path = OUT) -> str:
    """A Markdown table of every size measured so far (``.bench-out/scale-<rows>.json``).

    One column per size; "-" where a phase did not run at that size. The machine line of
    each phase (load average at its start) stays in the JSON.
    """
    runs = sorted(
        ((int(p.stem.split("-")[1]), json.loads(p.read_text()))
         for p in out_dir.glob("scale-*.json") if p.stem.split("-")[1].isdigit()),
    )  # fmt: skip
    head = "| | " + " | ".join(f"{n:.0e} rows".replace("e+0", "e") for n, _ in runs) + " |"
    lines = [head, "|---" * (len(runs) + 1) + "|"]
    for label, fmt in TABLE_ROWS:
        lines.append(f"| {label} | " + " | ".join(fmt(d) for _, d in runs) + " |")
    return "\n".join(lines)


PHASES = (
    "load", "baselines", "renormalize", "whole", "reads", "epoch", "cold", "cluster"
)  # fmt: skip


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=float, default=float(os.environ.get("SCALE_ROWS", "1e7")))
    ap.add_argument("--samples", type=int, default=200, help="sources per latency figure")
    ap.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated phases to run, in this order: {','.join(PHASES)}; "
        "without 'load' the database of an earlier --keep run is reused",
    )
    ap.add_argument("--keep", action="store_true", help="keep the database afterwards")
    ap.add_argument(
        "--shared-buffers",
        type=_shared_buffers_mb,
        default=os.environ.get("SCALE_PG_SHARED_BUFFERS", "128MB"),
        help="the server's shared buffers: a size (default 128MB, PostgreSQL's default) or "
        "'quarter' of the machine's memory (PostgreSQL's manual's advice for a dedicated "
        "server); a running server with other buffers is restarted",
    )
    ap.add_argument("--table", action="store_true",
                    help="print the table of every size measured so far and exit")  # fmt: skip
    args = ap.parse_args(argv)
    if args.table:
        print(table())
        return 0
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        ap.error(f"unknown phase(s) {', '.join(unknown)}; expected some of {', '.join(PHASES)}")
    rows = int(args.rows)
    port = int(os.environ.get("SCALE_PG_PORT", "54339"))
    data_dir = os.environ.get("SCALE_PG_DIR", f"/tmp/contimg-scale-pg-{port}")
    buffers_mb = args.shared_buffers
    admin = _pg_server(port, data_dir, buffers_mb)
    from sqlalchemy import create_engine, text

    name = f"scale_{rows}"
    eng = create_engine(admin, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        if "load" in phases:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            c.execute(text(f"CREATE DATABASE {name}"))
        elif not c.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first():
            ap.error(f"no database {name} to reuse: run the 'load' phase (with --keep) first")
    eng.dispose()
    url = admin.rsplit("/", 1)[0] + "/" + name
    from dsa110_contimg.config import Settings
    from dsa110_contimg.database import dispose_engine, get_engine
    from dsa110_contimg.variability.pipeline import establish_baselines, set_references

    state = OUT / f"scale-state-{rows}"
    settings = Settings(state_dir=state, database_url=url)
    get_engine(settings)  # a reused database is upgraded to this code's schema here
    sv = Survey(rows)
    OUT.mkdir(exist_ok=True)
    out_path = OUT / f"scale-{rows}.json"
    res: dict = (
        json.loads(out_path.read_text()) if out_path.exists() and "load" not in phases else {}
    )
    machine = (f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start, "
               f"shared buffers {buffers_mb} MB")  # fmt: skip
    res.update({"rows_target": rows, "images": sv.n_images, "sources": sv.n_sources})
    res.setdefault("machine", {})
    if not isinstance(res["machine"], dict):
        res["machine"] = {"earlier": res["machine"]}
    res["machine"][",".join(phases)] = machine

    def save() -> None:
        out_path.write_text(json.dumps(res, indent=1, default=str))

    print(f"survey: {sv.n_images:,} images x ~{PER_IMAGE} sources, {sv.n_sources:,} sources; "
          f"phases {phases}", flush=True)  # fmt: skip
    rng = np.random.default_rng(SEED + 3)
    if "load" in phases:
        res["load"] = load(url, sv)
        print(f"load: {res['load']}", flush=True)
        res["bytes_after_load"] = photometry_sizes(url, res["load"]["rows"])
        print(f"bytes/row after load: {res['bytes_after_load']}", flush=True)
        save()
    n_rows = res["load"]["rows"]
    if "baselines" in phases:
        set_references([("nvss", str(s)) for s in sv.ids[sv.is_ref]], settings=settings)
        t0 = time.perf_counter()
        established = establish_baselines(settings=settings)
        res["establish_baselines_s"] = round(time.perf_counter() - t0, 1)
        print(f"{len(established)} baselines in {res['establish_baselines_s']} s", flush=True)
        save()
    if "renormalize" in phases:
        res["renormalize"] = renormalize(settings, [1, 2])
        save()
    if "whole" in phases:
        res["whole_run_2_workers"] = whole_run(settings, 2)
        res["bytes_after_normalization"] = photometry_sizes(url, n_rows)
        save()
    if "reads" in phases:
        # after the sample's normalized columns were written (MVCC: dead versions until VACUUM)
        res["bytes_now"] = photometry_sizes(url, n_rows)
        res["prewarm"] = prewarm(url)
        res["lightcurve_warm"] = lightcurves(settings, sv, args.samples, rng)
        res["cone_0p5deg"] = cones(settings, sv, args.samples, rng)
        res["sources_page"] = source_pages(url, args.samples, rng)
        res["explain"] = explain(url, sv)
        print({k: res[k] for k in ("bytes_now", "lightcurve_warm", "cone_0p5deg",
                                   "sources_page")}, flush=True)  # fmt: skip
        save()
    if "epoch" in phases:
        res["new_epoch"] = new_epoch(settings, sv, folded=False)
        res["new_epoch"]["shared_buffers_mb"] = buffers_mb
        print(f"new epoch: {res['new_epoch']}", flush=True)
        res["new_epoch_folded"] = new_epoch(settings, sv, folded=True)
        res["new_epoch_folded"]["shared_buffers_mb"] = buffers_mb
        print(f"new epoch, folded: {res['new_epoch_folded']}", flush=True)
        save()
    if "cold" in phases:
        dispose_engine(settings)
        res["cache_dropped"] = _restart(port, data_dir, buffers_mb)
        res["lightcurve_cold"] = lightcurves(settings, sv, min(50, args.samples), rng)
        print(f"cold light curves: {res['lightcurve_cold']}", flush=True)
        save()
    if "cluster" in phases:
        t0 = time.perf_counter()
        with get_engine(settings).begin() as conn:
            conn.execute(
                text("CLUSTER photometry_rows USING uq_photometry_rows_source_key_image_key")
            )
            conn.execute(text("ANALYZE photometry_rows"))
        res["cluster_by_source_s"] = round(time.perf_counter() - t0, 1)
        res["bytes_clustered"] = photometry_sizes(url, n_rows)
        dispose_engine(settings)
        _restart(port, data_dir, buffers_mb)
        res["lightcurve_cold_clustered"] = lightcurves(settings, sv, min(50, args.samples), rng)
        res["lightcurve_warm_clustered"] = lightcurves(settings, sv, args.samples, rng)
        res["explain_clustered"] = explain(url, sv)
        save()
    dispose_engine(settings)
    print(json.dumps({k: v for k, v in res.items() if not k.startswith("explain")}, indent=1))
    save()
    print(table())
    if not args.keep:
        eng = create_engine(admin, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        eng.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
