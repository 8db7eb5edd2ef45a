"""Calibration benchmark: per-stage times for a realistic 16 x 48-channel group.

A corrupted 3C286 transit and a science group 1 h later are simulated with the full array
(every station of the bundled table, 24 integrations, 16 subbands x 48 channels) and converted.
Timed, each stage in its own CASA child process(es) as in production:

- calibrator: MODEL_DATA prediction, the full flagging recipe, K / phase / B / G solves,
  applycal (goal: <= 4 min in all);
- science, the stream's path: conversion, the cheap flagging (with the calibrator's channel
  mask), calibration applied on the fly while averaging in frequency (one ``mstransform``) by
  the largest factor whose bandwidth smearing at the image edge stays below
  ``calibration.average_max_smearing`` (1%), WSClean + primary beam on the averaged MS, forced
  photometry at the simulated sources (goal: real-time factor >= 2);
- unless ``--no-full``, also ``applycal`` and WSClean on the full-resolution data, and the
  measured peak ratio averaged/full of the simulated sources, by distance from the centre
  (the smearing, shown).

Run: ``.venv/bin/python benchmarks/bench_calibration.py [--no-full]`` (writes
``.bench-out/calibration.json``; ~8 min).
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _science_sky(n: int = 30, seed: int = 7):
    """Point sources (10 mJy - 1 Jy, N(>S) ~ S^-1) within 2.3 deg of the science pointing.

    The science group starts 1 h after 3C286's transit, so it points ~15.04 deg of RA east of
    the calibrator at its declination; the calibrator group is too far away to see them.
    """
    import numpy as np
    from astropy.table import Table

    from dsa110_contimg.calibration import get_calibrator

    cal = get_calibrator("3C286")
    rng = np.random.default_rng(seed)
    r = 2.3 * np.sqrt(rng.uniform(0, 1, n))
    pa = rng.uniform(0, 2 * np.pi, n)
    dec = cal.dec_deg + r * np.cos(pa)
    ra = cal.ra_deg + 15.04 + r * np.sin(pa) / np.cos(np.radians(dec))
    flux = 0.01 / rng.uniform(0.01, 1.0, n)  # 10 mJy to 1 Jy
    return Table({"ra_deg": ra, "dec_deg": dec, "flux_jy": np.minimum(flux, 1.0),
                  "spectral_index": np.full(n, -0.7),
                  "source_id": [f"bench{i}" for i in range(n)]})


def main(argv: list[str]) -> int:
    import numpy as np

    from dsa110_contimg.calibration import (
        apply_calibration,
        find_calibrator,
        flag_calibrator_ms,
        flag_science_ms,
        predict_model,
        solve_calibrator,
    )
    from dsa110_contimg.calibration.average import (
        average_channels,
        smearing_loss,
    )
    from dsa110_contimg.config import Settings
    from dsa110_contimg.conversion.uvh5_to_ms import convert_group
    from dsa110_contimg.imaging.msinfo import read_ms_info
    from dsa110_contimg.simulation.corruptions import (
        CorruptionSpec,
        read_truth,
        score_flags,
        truth_antenna_numbers,
    )
    from dsa110_contimg.simulation.scenarios import simulate_calibrator_night
    from dsa110_contimg.simulation.uvh5 import INTEGRATION_S

    logging.basicConfig(level=logging.WARNING)
    image = "--no-full" not in argv  # the full-resolution comparison (smearing, shown)
    channels = 48
    root = Path(tempfile.mkdtemp(prefix="bench-calibration-"))
    settings = Settings(state_dir=root / "state")
    out: dict = {"channels_per_subband": channels, "n_integrations": 24}
    try:
        t0 = time.perf_counter()
        night = simulate_calibrator_night(root / "uvh5", corruption=CorruptionSpec(seed=3),
                                          sky=_science_sky(), n_channels_per_subband=channels,
                                          n_integrations=24, seed=1)
        out["simulate_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        cal = convert_group(night.calibrator_group.paths, root / "cal.ms").ms_path
        out["convert_calibrator_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        conv = convert_group(night.science_groups[0].paths, root / "sci.ms")
        sci = conv.ms_path
        out["convert_science_s"] = round(time.perf_counter() - t0, 1)
        info = read_ms_info(sci)
        out["n_antennas"] = len(night.calibrator_group.corruption["antennas"])

        c: dict = {}
        t0 = time.perf_counter()
        jd = night.calibrator_group.times_jd
        match = find_calibrator(night.calibrator_group.pointing_dec_deg,
                                jd.min() - 2400000.5, jd.max() - 2400000.5, settings)
        c["find_calibrator_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        predict_model(cal, match, settings)
        c["predict_model_s"] = round(time.perf_counter() - t0, 1)
        fs = flag_calibrator_ms(cal, settings)
        c["flag_s"] = round(fs.seconds, 1)
        c["flag_steps_fraction"] = {k: round(v, 4) for k, v in fs.steps.items()}
        sol = solve_calibrator(cal, match, root / "tables", settings)
        c["solve_s"] = {k: round(v, 1) for k, v in sol.seconds.items()}
        t0 = time.perf_counter()
        apply_calibration(cal, sol.tables, settings)
        c["applycal_s"] = round(time.perf_counter() - t0, 1)
        # the goal: model + flagging + solves (the stream applies on the fly while averaging)
        c["total_s"] = round(c["predict_model_s"] + c["flag_s"] + sum(sol.seconds.values()), 1)
        c["goal_s"] = 240
        c["qa"] = {"snr_median": round(sol.qa.snr_median, 1),
                   "antennas_flagged": list(sol.qa.antennas_flagged),
                   "delay_scatter_ns": round(sol.qa.delay_scatter_ns, 2)}
        out["calibrator"] = c

        s: dict = {"read_convert_s": out["convert_science_s"]}
        fs2 = flag_science_ms(sci, settings, sol.channel_mask)
        s["flag_s"] = round(fs2.seconds, 1)
        s["flag_steps_fraction"] = {k: round(v, 4) for k, v in fs2.steps.items()}

        # RFI found, against the injected truth
        from casacore.tables import table

        for key, ms, g in (("calibrator", cal, night.calibrator_group),
                           ("science", sci, night.science_groups[0])):
            with table(str(ms), ack=False) as t:
                flags, a1, a2, tm = (t.getcol(n) for n in ("FLAG", "ANTENNA1", "ANTENNA2",
                                                           "TIME"))
            truth = read_truth(Path(g.paths[0]).parent / f"{g.timestamp}_corruptions.json")
            with table(str(ms) + "/ANTENNA", ack=False) as t:
                num = truth_antenna_numbers(truth, t.getcol("NAME"))
            sc = score_flags(flags, ant1=num[a1], ant2=num[a2], times_jd=tm / 86400 + 2400000.5,
                             freqs_hz=g.freqs_hz, truth=truth)
            out.setdefault("rfi", {})[key] = {k: round(v, 4) for k, v in sc.items()}

        # the stream's path: calibrate on the fly while averaging, image the averaged MS
        from dsa110_contimg.conversion.streaming.calibration import CalibrationStep
        from dsa110_contimg.imaging.wsclean import image_ms
        from dsa110_contimg.photometry.forced import measure_many

        width = info.channel_width_hz
        edge = settings.imaging.field_of_view_deg / 2
        factor = CalibrationStep(settings, root).average_factor(info)
        s["average_factor"] = factor
        s["smearing_loss_edge"] = round(smearing_loss(factor * width, edge,
                                                      info.max_baseline_m), 5)
        s["smearing_loss_corner"] = round(smearing_loss(factor * width, edge * 2 ** 0.5,
                                                        info.max_baseline_m), 5)
        s["max_baseline_m"] = round(info.max_baseline_m, 1)
        t0 = time.perf_counter()
        avg = average_channels(sci, root / "sci_avg.ms", factor, tables=sol.tables)
        s["calibrate_average_s"] = round(time.perf_counter() - t0, 1)
        r_avg = image_ms(avg, root / "img_avg", settings=settings)
        s["wsclean_s"] = round(r_avg.wsclean_seconds, 1)
        s["beam_s"] = round(r_avg.beam_seconds, 1)
        sky = night.science_groups[0].truth
        t0 = time.perf_counter()
        m_avg = measure_many(r_avg.pb_image_path, sky)
        s["photometry_s"] = round(time.perf_counter() - t0, 1)
        # the science check: measured / true flux of the bright simulated sources
        bright = np.isfinite(m_avg["snr"]) & (m_avg["snr"] > 30)
        true_flux = np.asarray(sky["flux_jy"], dtype=float)
        s["n_snr_gt_30"] = int(bright.sum())
        if bright.any():
            s["median_measured_over_true"] = round(float(np.median(
                np.asarray(m_avg["flux_jy"])[bright] / true_flux[bright])), 4)
        group_s = 24 * INTEGRATION_S
        total = (s["read_convert_s"] + s["flag_s"] + s["calibrate_average_s"] + s["wsclean_s"]
                 + s["beam_s"] + s["photometry_s"])
        s["total_s"] = round(total, 1)
        s["group_s"] = round(group_s, 1)
        s["real_time_factor"] = round(group_s / total, 2)
        if image:
            t0 = time.perf_counter()
            apply_calibration(sci, sol.tables, settings)
            s["applycal_full_s"] = round(time.perf_counter() - t0, 1)
            r_full = image_ms(sci, root / "img_full", settings=settings,
                              data_column="CORRECTED_DATA")
            s["wsclean_full_s"] = round(r_full.wsclean_seconds, 1)
            m_full = measure_many(r_full.pb_image_path, sky)
            ok = np.isfinite(m_full["snr"]) & (m_full["snr"] > 30) & np.isfinite(m_avg["flux_jy"])
            ratio = np.asarray(m_avg["flux_jy"][ok] / m_full["flux_jy"][ok])
            from astropy.coordinates import SkyCoord

            c = SkyCoord(np.asarray(sky["ra_deg"])[ok], np.asarray(sky["dec_deg"])[ok],
                         unit="deg")
            centre = SkyCoord(info.phase_ra_deg, info.phase_dec_deg, unit="deg")
            r = c.separation(centre).deg
            bins = {}
            for lo, hi in ((0.0, 0.6), (0.6, 1.2), (1.2, 1.8), (1.8, 2.6)):
                sel = (r >= lo) & (r < hi)
                if sel.any():
                    bins[f"{lo}-{hi} deg"] = {
                        "n": int(sel.sum()),
                        "median_avg_over_full": round(float(np.median(ratio[sel])), 4),
                        "predicted": round(1 - smearing_loss(factor * width, (lo + hi) / 2,
                                                             info.max_baseline_m), 4),
                    }
            s["peak_ratio_by_radius"] = bins
        out["science"] = s
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps(out, indent=1))
    dest = Path(__file__).resolve().parents[1] / ".bench-out"
    dest.mkdir(exist_ok=True)
    (dest / "calibration.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
