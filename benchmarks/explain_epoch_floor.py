"""The floor of a new epoch on a kept ``bench_scale`` database: its statements, batched (issue 17).

``bench_scale``'s ``epoch`` phase times a new epoch of 10,000 measurements (16 images of 625
sources) the way the job worker stores it, image by image. This script asks what any
batching could reach: inside transactions that are rolled back, it times the three writes an
epoch cannot avoid, each as ONE statement for the whole epoch,

1. its 10,000 rows into ``photometry_rows`` (one ``INSERT ... SELECT FROM unnest``);
2. the metric rows of its ~5,300 distinct sources (``database.metrics.upsert_metrics``,
   series ``epoch``: the stored rows written back with every derived value moved by 0.1 %,
   as a new point moves them, so every list index changes);
3. their per-source rows (``database.sources._pg_accumulate``: two measurements each),

with the explorer's list indexes (issue 16: an index per sort key) and without them (dropped
inside the rolled-back transaction). No normalization, no metrics arithmetic, no ESE: a lower
bound of the epoch's time for this schema on this machine, whatever the code around it.

    python benchmarks/explain_epoch_floor.py --rows 1e8      # after bench_scale --keep

(``bench_scale``'s ``floor`` phase runs :func:`measure` too.) Prints a table and merges
``epoch_floor`` into ``.bench-out/scale-<rows>.json``. The rolled-back updates leave dead
rows in ``source_metrics`` and ``sources`` until (auto)vacuum.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import OUT, Survey, _pg_server  # noqa: E402


def list_indexes() -> dict[str, list[str]]:
    """The explorer's sort-key indexes (migrations 0008, 0012), as the tables declare them.

    Every declared index of ``source_metrics``; of ``sources`` the ``(column, catalog,
    source_id)`` ones (its HEALPix, ESE-status and reference indexes serve cones and filters,
    not sorts). What the "without" variant drops.
    """
    from dsa110_contimg.database.tables.normalization import source_metrics
    from dsa110_contimg.database.tables.sources import sources

    return {
        "source_metrics": sorted(i.name for i in source_metrics.indexes),
        "sources": sorted(i.name for i in sources.indexes if i.name.endswith("_key")),
    }


def epoch_keys(sv: Survey) -> tuple[list[str], list[np.ndarray]]:
    """bench_scale's new epoch: the source ids of each of its 16 images."""
    images = sv.new_epoch_images()
    ids = sorted({str(sv.ids[i]) for idx in images for i in idx})
    return ids, [sv.ids[idx] for idx in images]


def _rows(conn, images: list[np.ndarray]):
    """The insert of the epoch's rows, ready to run (keys looked up now, not timed)."""
    from sqlalchemy import text

    from dsa110_contimg.database.rawsql import PgArray, execute_pg_arrays

    key = dict(conn.execute(text("SELECT source_id, source_key FROM photometry_sources "
                                 "WHERE catalog = 'nvss'")).all())  # fmt: skip
    top = conn.execute(text("SELECT max(image_key) FROM photometry_products")).scalar()
    img = [top + 1 + k for k, ids in enumerate(images) for _ in ids]
    src = [key[str(s)] for ids in images for s in ids]
    n = len(src)
    return lambda c: execute_pg_arrays(
        c,
        "INSERT INTO photometry_rows (image_key, source_key, flux_jy, flux_err_jy, "
        "local_rms_jy, snr, chi2, dof, flags) SELECT * FROM unnest(%(i)s, %(s)s, %(f)s, "
        "%(e)s, %(r)s, %(n)s, %(c)s, %(d)s, %(g)s)",
        {"i": PgArray(img, "int4"), "s": PgArray(src, "int4"),
         "f": PgArray([0.01] * n, "float8"), "e": PgArray([1.5e-3] * n, "float8"),
         "r": PgArray([1.5e-3] * n, "float8"), "n": PgArray([6.7] * n, "float8"),
         "c": PgArray([1.0] * n, "float8"), "d": PgArray([1] * n, "int4"),
         "g": PgArray([""] * n, "text")},
    )  # fmt: skip


def _metrics(conn, ids: list[str]):
    """The upsert of the epoch's metric rows, ready to run (stored rows read now)."""
    from sqlalchemy import text

    from dsa110_contimg.database.metrics import DERIVED_COLUMNS, upsert_metrics

    rows = conn.execute(
        text(f"SELECT source_id, state, open_image, {', '.join(DERIVED_COLUMNS)} "
             "FROM source_metrics WHERE catalog = 'nvss' AND series = 'epoch' "
             "AND source_id = ANY(:ids) ORDER BY source_id"),
        {"ids": ids},
    ).all()  # fmt: skip
    width = len(rows[0][1]) // 8
    vectors = np.frombuffer(b"".join(bytes(r[1]) for r in rows), "<f8").reshape(-1, width)
    derived = {}
    for j, c in enumerate(DERIVED_COLUMNS):
        v = np.array([r[3 + j] for r in rows], dtype=np.float64)
        derived[c] = v + 1 if c == "n_points" else v * 1.001
    keys = [("nvss", r[0]) for r in rows]
    return lambda c: upsert_metrics(c, keys, "epoch", vectors, [r[2] for r in rows], derived)


def _sources(conn, ids: list[str], mjd: float):
    """The upsert of the epoch's per-source rows, ready to run (positions read now)."""
    from sqlalchemy import text

    from dsa110_contimg.database.sources import _pg_accumulate, _rows_from_groups

    src = conn.execute(
        text("SELECT source_id, ra_deg, dec_deg, catalog_flux_mjy FROM photometry_sources "
             "WHERE catalog = 'nvss' AND source_id = ANY(:ids)"), {"ids": ids}
    ).all()  # fmt: skip
    rows = _rows_from_groups([("nvss", s, ra, dec, fl, 2, 2, mjd, mjd, "")
                              for s, ra, dec, fl in src])  # fmt: skip
    return lambda c: _pg_accumulate(c, rows)


def measure(engine, sv: Survey, repeat: int) -> dict:
    """Median seconds of each write, with and without the list indexes (rolled back)."""
    from sqlalchemy import text

    ids, images = epoch_keys(sv)
    with engine.connect() as conn:
        mjd = conn.execute(text("SELECT max(mjd) FROM photometry_products")).scalar() + 1
        steps = {
            "rows_insert_10000": _rows(conn, images),
            "metrics_upsert": _metrics(conn, ids),
            "sources_upsert": _sources(conn, ids, mjd),
        }
    out: dict = {"sources": len(ids)}
    drop = list_indexes()
    for variant in ("with list indexes", "without list indexes"):
        times: dict[str, list[float]] = {k: [] for k in steps}
        for _ in range(repeat):
            for name, step in steps.items():
                with engine.connect() as conn:
                    trans = conn.begin()
                    if variant.startswith("without"):
                        for names in drop.values():
                            conn.exec_driver_sql(f"DROP INDEX {', '.join(names)}")
                    t0 = time.perf_counter()
                    step(conn)
                    times[name].append(time.perf_counter() - t0)
                    trans.rollback()
        out[variant] = {k: round(float(np.median(v)), 3) for k, v in times.items()}
        out[variant]["sum_s"] = round(sum(out[variant][k] for k in steps), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=float, default=float(os.environ.get("SCALE_ROWS", "1e8")))
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    from dsa110_contimg.config import Settings
    from dsa110_contimg.database import dispose_engine, get_engine

    n_rows = int(args.rows)
    port = int(os.environ.get("SCALE_PG_PORT", "54339"))
    data_dir = os.environ.get("SCALE_PG_DIR", f"/tmp/contimg-scale-pg-{port}")
    admin = _pg_server(port, data_dir)
    from sqlalchemy import create_engine, text

    check = create_engine(admin)
    with check.connect() as c:
        found = c.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": f"scale_{n_rows}"}
        ).first()
    check.dispose()
    if not found:
        ap.error(f"no database scale_{n_rows} on port {port}: run bench_scale.py --rows "
                 f"{args.rows:g} --keep first")  # fmt: skip
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    url = admin.rsplit("/", 1)[0] + f"/scale_{n_rows}"
    settings = Settings(state_dir=OUT / f"scale-state-{n_rows}", database_url=url)
    engine = get_engine(settings)
    res = measure(engine, Survey(n_rows), args.repeat)
    dispose_engine(settings)
    print(f"new-epoch floor at {n_rows:.0e} rows ({res['sources']} sources; median of "
          f"{args.repeat}, rolled back):")
    print("| write (one statement for the epoch) | with list indexes | without |")
    print("|---|---|---|")
    for k in ("rows_insert_10000", "metrics_upsert", "sources_upsert", "sum_s"):
        print(f"| {k} | {res['with list indexes'][k]} s | {res['without list indexes'][k]} s |")
    path = OUT / f"scale-{n_rows}.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data["epoch_floor"] = res
    path.write_text(json.dumps(data, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
