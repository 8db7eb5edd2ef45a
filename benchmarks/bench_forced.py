"""Forced-photometry benchmark (issue 2).

A 4096 x 4096 float32 image, beam 15" x 12" at 3" pixels (5 pixels per FWHM), with 10 000
positions of which 2 000 form pairs about one beam apart (jointly fitted blends). Reports:

- the median wall time of ``measure_many`` INCLUDING opening the file, given the positions'
  catalog ids (as the jobs pass them; also timed without ids, when J-names are built);
- in the same run, the median time to read the image once (memory-mapped, summed);
- their ratio (target: total <= 20 x read);
- peak memory: Python/numpy allocations during one call (tracemalloc) and the maximum
  resident set size of a fresh process doing one call.

Dense positions (issue 14), each timed the same way (median wall time of ``measure_many``
including opening the file, and the maximum resident set size of a fresh process doing one
call):

- ``dense_3000``: 3,000 random positions in a 0.3 deg box on a 512 x 512 image (beam
  15" x 12", 3" pixels), all one blend group; targets <= 2 s and no ``fit_failed`` among the
  positions at least one beam from every other;
- ``random_20000``: 20,000 random positions on a 4096 x 4096 image with a 5-pixel beam;
  targets <= 2 s and <= 1 GB.

Run: ``.venv/bin/python benchmarks/bench_forced.py [--repeats N] [--only NAME]``; figures are
printed and written to ``.bench-out/forced.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".bench-out"
SHAPE = (4096, 4096)
PIXEL_ARCSEC = 3.0
BEAM = (15.0, 12.0, 30.0)
N_POSITIONS = 10_000
N_PAIRS = 1_000
NOISE_JY = 1e-3


def _bench_wcs(path: Path, shape: tuple[int, int]):
    """The WCS of a benchmark image of ``shape`` (a header-only file is written first)."""
    from astropy.io import fits
    from astropy.wcs import WCS

    from dsa110_contimg.simulation import make_fits_image

    make_fits_image(
        path,
        shape=(16, 16),
        center=(150.0, 55.0),
        pixel_scale_arcsec=PIXEL_ARCSEC,
        beam=BEAM,
        n_sources=0,
        noise_jy=0.0,
    )
    hdr = fits.getheader(path)
    hdr["CRPIX1"] = shape[1] / 2 + 1
    hdr["CRPIX2"] = shape[0] / 2 + 1
    return WCS(hdr, naxis=2)


def make_inputs(workdir: Path, seed: int = 42) -> tuple[Path, np.ndarray]:
    """Write the benchmark image and return it with the (N, 2) positions."""
    from dsa110_contimg.simulation import make_fits_image

    rng = np.random.default_rng(seed)
    path = workdir / "bench_forced.fits"
    wcs = _bench_wcs(path, SHAPE)
    n_single = N_POSITIONS - 2 * N_PAIRS
    margin = 20
    x = rng.uniform(margin, SHAPE[1] - margin, n_single + N_PAIRS)
    y = rng.uniform(margin, SHAPE[0] - margin, n_single + N_PAIRS)
    ang = rng.uniform(0, 2 * np.pi, N_PAIRS)
    sep = rng.uniform(0.8, 1.3, N_PAIRS) * BEAM[0] / PIXEL_ARCSEC  # ~one beam apart
    xp = x[n_single:] + sep * np.cos(ang)
    yp = y[n_single:] + sep * np.sin(ang)
    xs = np.r_[x, xp]
    ys = np.r_[y, yp]
    ra, dec = wcs.all_pix2world(xs, ys, 0)
    flux = np.exp(rng.uniform(np.log(2e-3), np.log(1.0), xs.size))
    make_fits_image(
        path,
        shape=SHAPE,
        center=(150.0, 55.0),
        pixel_scale_arcsec=PIXEL_ARCSEC,
        beam=BEAM,
        sources=list(zip(ra, dec, flux, strict=True)),
        noise_jy=NOISE_JY,
        seed=seed,
        dtype="float32",
    )
    return path, np.column_stack([ra, dec])


def make_dense_inputs(
    workdir: Path, *, shape: tuple[int, int], n: int, box_deg: float | None, seed: int = 7
) -> tuple[Path, np.ndarray]:
    """An image with a source at each of ``n`` random positions (in a box, or anywhere)."""
    from dsa110_contimg.simulation import make_fits_image

    rng = np.random.default_rng(seed)
    path = workdir / f"dense_{n}_{shape[0]}.fits"
    wcs = _bench_wcs(path, shape)
    if box_deg is not None:
        half = 0.5 * box_deg * 3600.0 / PIXEL_ARCSEC
        lo = np.array([shape[1] / 2 - half, shape[0] / 2 - half])
        hi = np.array([shape[1] / 2 + half, shape[0] / 2 + half])
    else:
        lo, hi = np.array([20.0, 20.0]), np.array([shape[1] - 20.0, shape[0] - 20.0])
    xy = rng.uniform(lo, hi, (n, 2))
    ra, dec = wcs.all_pix2world(xy[:, 0], xy[:, 1], 0)
    flux = np.exp(rng.uniform(np.log(5e-3), np.log(0.1), n))
    make_fits_image(
        path,
        shape=shape,
        center=(150.0, 55.0),
        pixel_scale_arcsec=PIXEL_ARCSEC,
        beam=BEAM,
        sources=list(zip(ra, dec, flux, strict=True)),
        noise_jy=NOISE_JY,
        seed=seed,
    )
    return path, np.column_stack([ra, dec])


def run_dense(name: str, path: Path, coords: np.ndarray, repeats: int) -> dict:
    """Time ``measure_many`` on dense positions; count fit_failed by nearest-neighbour distance."""
    from scipy.spatial import cKDTree

    from dsa110_contimg.photometry import measure_many

    ids = [f"dense-{i:05d}" for i in range(len(coords))]
    table = measure_many(path, coords, source_ids=ids)  # warm the imports and page cache
    times, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        table = measure_many(path, coords, source_ids=ids)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    coords_path = path.with_suffix(".npy")
    np.save(coords_path, coords)
    child = subprocess.run(
        [sys.executable, __file__, "--child", str(path), str(coords_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    max_rss_mb = json.loads(child.stdout.strip().splitlines()[-1])["max_rss_mb"]
    xy = np.column_stack([np.asarray(table["x_pix"]), np.asarray(table["y_pix"])])
    nn_beams = cKDTree(xy).query(xy, k=2)[0][:, 1] / (BEAM[0] / PIXEL_ARCSEC)
    flags = np.asarray(table["flags"]).astype(str)
    failed = np.char.find(flags, "fit_failed") >= 0
    return {
        "name": name,
        "n_positions": int(len(coords)),
        "median_s": statistics.median(times),
        "all_s": times,
        "cpu_median_s": statistics.median(cpu),
        "load_average_1min": os.getloadavg()[0],
        "max_rss_mb": max_rss_mb,
        "n_fit_failed": int(failed.sum()),
        "n_fit_failed_beyond_1_beam": int(np.sum(failed & (nn_beams >= 1.0))),
        "n_beyond_1_beam": int(np.sum(nn_beams >= 1.0)),
        "n_duplicate": int(np.sum(np.char.find(flags, "duplicate") >= 0)),
        "n_blended": int(np.sum(np.char.find(flags, "blended") >= 0)),
        "n_nan": int(np.sum(~np.isfinite(np.asarray(table["flux_jy"])))),
    }


def print_dense(r: dict, target_s: float, target_mb: float | None) -> None:
    ok_t = "met" if r["median_s"] <= target_s else "NOT met"
    mem = ""
    if target_mb:
        ok_m = "met" if r["max_rss_mb"] <= target_mb else "NOT met"
        mem = f" (target <= {target_mb:.0f} MB: {ok_m})"
    print(
        f"{r['name']}: {r['n_positions']} positions ({r['n_blended']} blended, "
        f"{r['n_duplicate']} duplicate): median {r['median_s'] * 1e3:.0f} ms incl. open "
        f"(target <= {target_s:.0f} s: {ok_t}), {r['max_rss_mb']:.0f} MB max RSS{mem}"
    )
    print(
        f"  CPU time {r['cpu_median_s'] * 1e3:.0f} ms (1-min load average "
        f"{r['load_average_1min']:.1f} on {os.cpu_count()} cores)"
    )
    print(
        f"  fit_failed: {r['n_fit_failed']} in all, {r['n_fit_failed_beyond_1_beam']} among the "
        f"{r['n_beyond_1_beam']} positions >= 1 beam from every other; NaN fluxes {r['n_nan']}"
    )


def read_once(path: Path) -> float:
    """Open memory-mapped and sum every pixel (the reference cost of touching the image)."""
    from astropy.io import fits

    with fits.open(path, memmap=True) as hdul:
        return float(np.sum(hdul[0].data, dtype=np.float64))


def _child(path: str, coords_path: str) -> None:
    from dsa110_contimg.photometry import measure_many

    coords = np.load(coords_path)
    measure_many(path, coords, source_ids=[f"bench-{i:05d}" for i in range(len(coords))])
    # VmHWM is this process image's own peak (ru_maxrss would include the forking parent's)
    hwm_kb = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                hwm_kb = float(line.split()[1])
    except OSError:
        pass
    if hwm_kb is None:
        hwm_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"max_rss_mb": hwm_kb / 1024.0}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument(
        "--only", choices=["main", "dense_3000", "random_20000"], help="run one case only"
    )
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    dense: dict[str, dict] = {}
    if args.only in (None, "dense_3000", "random_20000"):
        with tempfile.TemporaryDirectory(prefix="bench_forced_dense_") as tmp:
            for name, shape, n, box, target_mb in (
                ("dense_3000", (512, 512), 3000, 0.3, None),
                ("random_20000", (4096, 4096), 20_000, None, 1024.0),
            ):
                if args.only not in (None, name):
                    continue
                path, coords = make_dense_inputs(Path(tmp), shape=shape, n=n, box_deg=box)
                dense[name] = run_dense(name, path, coords, args.repeats)
                print_dense(dense[name], 2.0, target_mb)
                path.unlink()
    if args.only not in (None, "main"):
        OUT.mkdir(exist_ok=True)
        (OUT / "forced_dense.json").write_text(json.dumps(dense, indent=1) + "\n")
        return 0

    from dsa110_contimg.photometry import measure_many

    with tempfile.TemporaryDirectory(prefix="bench_forced_") as tmp:
        workdir = Path(tmp)
        t0 = time.perf_counter()
        path, coords = make_inputs(workdir)
        setup_s = time.perf_counter() - t0
        coords_path = workdir / "coords.npy"
        np.save(coords_path, coords)
        # warm the page cache and the imports once
        ids = [f"bench-{i:05d}" for i in range(len(coords))]  # catalog ids, as jobs pass them
        read_once(path)
        table = measure_many(path, coords, source_ids=ids)
        measure_s, read_s, noid_s = [], [], []
        cpu_measure, cpu_read = [], []
        for _ in range(args.repeats):
            t, c = time.perf_counter(), time.process_time()
            read_once(path)
            read_s.append(time.perf_counter() - t)
            cpu_read.append(time.process_time() - c)
            t, c = time.perf_counter(), time.process_time()
            table = measure_many(path, coords, source_ids=ids)
            measure_s.append(time.perf_counter() - t)
            cpu_measure.append(time.process_time() - c)
            t = time.perf_counter()
            measure_many(path, coords)
            noid_s.append(time.perf_counter() - t)
        tracemalloc.start()
        measure_many(path, coords, source_ids=ids)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(path), str(coords_path)],
            capture_output=True,
            text=True,
            check=True,
        )
        max_rss_mb = json.loads(child.stdout.strip().splitlines()[-1])["max_rss_mb"]

    flags = np.asarray(table["flags"])
    med_measure = statistics.median(measure_s)
    med_read = statistics.median(read_s)
    result = {
        "image_shape": list(SHAPE),
        "beam_arcsec": [BEAM[0], BEAM[1]],
        "pixel_arcsec": PIXEL_ARCSEC,
        "n_positions": int(len(coords)),
        "n_blended": int(np.sum(np.char.find(flags.astype(str), "blended") >= 0)),
        "n_flagged_nan": int(np.sum(~np.isfinite(np.asarray(table["flux_jy"])))),
        "repeats": args.repeats,
        "measure_many_median_s": med_measure,
        "measure_many_all_s": measure_s,
        "measure_many_without_ids_median_s": statistics.median(noid_s),
        "read_once_median_s": med_read,
        "ratio_measure_to_read": med_measure / med_read,
        "target_ratio": 20.0,
        "meets_target": bool(med_measure <= 20.0 * med_read),
        "per_position_us": 1e6 * med_measure / len(coords),
        # CPU time of this process: steadier than wall time when the machine is shared
        "cpu_measure_median_s": statistics.median(cpu_measure),
        "cpu_read_median_s": statistics.median(cpu_read),
        "cpu_ratio": statistics.median(cpu_measure) / statistics.median(cpu_read),
        "load_average_1min": os.getloadavg()[0],
        "tracemalloc_peak_mb": peak / 2**20,
        "subprocess_max_rss_mb": max_rss_mb,
        "setup_s": setup_s,
        "dense": dense,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    print(
        f"forced photometry: {result['n_positions']} positions "
        f"({result['n_blended']} blended) on a {SHAPE[0]}x{SHAPE[1]} float32 image"
    )
    print(
        f"  measure_many (incl. open): median {med_measure * 1e3:8.1f} ms "
        f"({result['per_position_us']:.1f} us/position)"
    )
    print(
        f"  (without source_ids, J-names built: median "
        f"{result['measure_many_without_ids_median_s'] * 1e3:.1f} ms)"
    )
    print(f"  read once (memmap + sum):  median {med_read * 1e3:8.1f} ms")
    print(
        f"  ratio: {result['ratio_measure_to_read']:.1f}x (target <= 20x: "
        f"{'met' if result['meets_target'] else 'NOT met'})"
    )
    print(
        f"  CPU time: measure {result['cpu_measure_median_s'] * 1e3:.1f} ms, read "
        f"{result['cpu_read_median_s'] * 1e3:.1f} ms, ratio {result['cpu_ratio']:.1f}x "
        f"(1-min load average {result['load_average_1min']:.1f} on {os.cpu_count()} cores)"
    )
    print(
        f"  peak memory: {result['tracemalloc_peak_mb']:.1f} MB allocated during one call "
        f"(tracemalloc), {max_rss_mb:.0f} MB max RSS of a fresh process"
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "forced.json").write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
