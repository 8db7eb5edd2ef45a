"""Mosaic builder: wall time and peak memory of a 10-image mosaic of 4096 x 4096 inputs.

Inputs (written once, cached in ``.bench-out/mosaic-inputs``): DSA-110-like drift-scan images,
3" pixels (3.4 deg), 15" x 12" restoring beam (4-5 pixels per beam), 3.2 deg Gaussian primary
beam, at dec +55, one per 309 s (1.29 deg of RA): uncorrected image, beam and corrected image.

Measured, each in a fresh subprocess (peak resident memory = its ``VmHWM``):

* ``n10``: the 10 consecutive images;
* ``n20``: 20 images covering the same footprint (half the RA step), so the output is the same
  size: peak memory should not grow with the number of inputs (target: within 10% of n10) and
  should stay below 8 x the output's float32 pixel bytes;
* ``imports``: the interpreter with the libraries loaded (the floor of any measurement).

``--quick`` uses 1024 x 1024 inputs (a smoke run).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".bench-out"
SIDEREAL_DEG_PER_S = 360.0 / 86164.0905


def _params(quick: bool) -> dict:
    n = 1024 if quick else 4096
    pix = 3.0 * 4096 / n
    return {
        "shape": [n, n],
        "pixel_scale_arcsec": pix,
        "beam": [5 * pix, 4 * pix, 30.0],
        "dec_deg": 55.0,
        "pb_fwhm_deg": 3.2,
        "n_sources": 300,
        "noise_jy": 1e-3,
        "cadence_s": 309.0,
        "version": 1,
    }


def _ensure_inputs(name: str, n_images: int, step_deg: float, params: dict) -> list[str]:
    from dsa110_contimg.simulation.mosaic_inputs import make_pb_image_set

    d = OUT / "mosaic-inputs" / f"{name}-{params['shape'][0]}"
    manifest = d / "manifest.json"
    want = {**params, "n_images": n_images, "ra_step_deg": step_deg}
    if manifest.exists():
        have = json.loads(manifest.read_text())
        if have.get("params") == want and all(Path(p).exists() for p in have["pb_paths"]):
            return have["pb_paths"]
    t0 = time.perf_counter()
    s = make_pb_image_set(
        d, n_images=n_images, shape=tuple(params["shape"]),
        pixel_scale_arcsec=params["pixel_scale_arcsec"], beam=tuple(params["beam"]),
        dec_deg=params["dec_deg"], ra_step_deg=step_deg, pb_fwhm_deg=params["pb_fwhm_deg"],
        n_sources=params["n_sources"], noise_jy=params["noise_jy"], seed=110,
        cadence_s=params["cadence_s"] * 10 / n_images,
    )
    paths = [str(p) for p in s.pb_paths]
    manifest.write_text(json.dumps({"params": want, "pb_paths": paths,
                                    "truth": {c: list(map(float, s.truth[c]))
                                              for c in ("ra_deg", "dec_deg", "flux_jy")}}))
    print(f"  wrote {n_images} inputs for {name} in {time.perf_counter() - t0:.0f} s", flush=True)
    return paths


def _peak_rss_mb() -> float:
    """Peak resident memory of this process image, MB.

    ``VmHWM`` (Linux) is the high-water mark of the current address space; ``ru_maxrss`` is
    not used where VmHWM exists because it carries over the parent's peak across fork + exec.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _child(mode: str, out_path: str, inputs: list[str]) -> None:
    t0 = time.perf_counter()
    import reproject  # noqa: F401
    import scipy.ndimage  # noqa: F401

    from dsa110_contimg.mosaic import build_mosaic
    from dsa110_contimg.photometry import measure_many, read_image  # noqa: F401

    result = {"import_s": time.perf_counter() - t0}
    if mode == "build":
        t1 = time.perf_counter()
        r = build_mosaic(inputs, out_path)
        result.update(wall_s=time.perf_counter() - t1, shape=list(r.shape),
                      beam_arcsec=[r.beam.bmaj_deg * 3600, r.beam.bmin_deg * 3600],
                      min_noise_jy=r.min_noise_jy)
    result["peak_rss_mb"] = _peak_rss_mb()
    print("RESULT " + json.dumps(result), flush=True)


def _run_child(mode: str, out_path: Path, inputs: list[str]) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(out_path), *inputs],
        capture_output=True, text=True, cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {mode} failed:\n{proc.stderr[-3000:]}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _flux_check(mosaic: Path, manifest: Path) -> dict:
    """Median and worst measured/true flux of sources measured at SNR > 200 on the mosaic."""
    import numpy as np

    from dsa110_contimg.photometry import measure_many

    truth = json.loads(manifest.read_text())["truth"]
    ra, dec, flux = (np.asarray(truth[c]) for c in ("ra_deg", "dec_deg", "flux_jy"))
    bright = flux > 0.1
    t = measure_many(mosaic, list(zip(ra[bright], dec[bright], strict=True)))
    ok = np.isfinite(np.asarray(t["flux_jy"])) & (np.asarray(t["flags"]) == "")
    ok &= np.asarray(t["snr"]) > 200
    ratio = np.asarray(t["flux_jy"])[ok] / flux[bright][ok]
    return {"n": int(ok.sum()), "median_ratio": float(np.median(ratio)),
            "max_abs_dev": float(np.max(np.abs(ratio - 1)))}


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--child":
        _child(argv[1], argv[2], argv[3:])
        return 0
    quick = "--quick" in argv
    params = _params(quick)
    OUT.mkdir(exist_ok=True)
    step10 = params["cadence_s"] * SIDEREAL_DEG_PER_S
    span = 9 * step10
    print(f"inputs {params['shape'][0]}^2, RA step {step10:.3f} deg (10) / {span / 19:.3f} "
          f"deg (20), same footprint", flush=True)
    sets = {
        "n10": _ensure_inputs("n10", 10, step10, params),
        "n20": _ensure_inputs("n20", 20, span / 19, params),
    }
    report: dict = {"input_shape": params["shape"], "pixel_scale_arcsec":
                    params["pixel_scale_arcsec"]}
    report["imports"] = _run_child("imports", OUT / "unused.fits", [])
    for name, inputs in sets.items():
        out = OUT / "mosaic-inputs" / f"mosaic-{name}-{params['shape'][0]}.fits"
        res = _run_child("build", out, inputs)
        ny, nx = res["shape"]
        res["n_inputs"] = len(inputs)
        res["output_float32_mb"] = ny * nx * 4 / 2**20
        res["peak_over_output"] = res["peak_rss_mb"] / res["output_float32_mb"]
        res["s_per_input"] = res["wall_s"] / len(inputs)
        manifest = Path(inputs[0]).parent / "manifest.json"
        res["flux"] = _flux_check(out, manifest)
        report[name] = res
        print(f"{name}: {len(inputs)} inputs -> {ny} x {nx} px in {res['wall_s']:.1f} s "
              f"({res['s_per_input']:.1f} s/input), peak RSS {res['peak_rss_mb']:.0f} MB = "
              f"{res['peak_over_output']:.2f} x output float32 ({res['output_float32_mb']:.0f} "
              f"MB); SNR>200 sources: flux ratio median {res['flux']['median_ratio']:.4f}, worst "
              f"dev {res['flux']['max_abs_dev']:.4f} (n={res['flux']['n']})", flush=True)
    growth = report["n20"]["peak_rss_mb"] / report["n10"]["peak_rss_mb"] - 1
    report["peak_growth_n20_vs_n10"] = growth
    report["targets"] = {
        "growth_within_10pct": abs(growth) <= 0.10,
        "peak_below_8x_output": all(report[k]["peak_over_output"] < 8 for k in ("n10", "n20")),
    }
    print(f"imports alone: {report['imports']['peak_rss_mb']:.0f} MB; peak memory n20 vs n10: "
          f"{growth * 100:+.1f}% (target within 10%); below 8 x output: "
          f"{report['targets']['peak_below_8x_output']}")
    name = "mosaic-quick.json" if quick else "mosaic.json"
    (OUT / name).write_text(json.dumps(report, indent=1))
    return 0 if all(report["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
