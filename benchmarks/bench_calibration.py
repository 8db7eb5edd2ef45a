"""Calibration benchmark: per-stage times for a realistic 16 x 48-channel group.

A corrupted 3C286 transit and a science group 1 h later are simulated with the full array
(every station of the bundled table, 24 integrations, 16 subbands x 48 channels) and converted.
Timed, each stage in its own CASA child process as in production:

- calibrator: MODEL_DATA prediction, full flagging (autos, zeros, tfcrop, rflag, extend,
  residual tfcrop, broadcast), K / phase / B / G solves, applycal (goal: <= 4 min in all);
- science: the cheap flagging path (with the calibrator's channel mask), applycal;
- frequency averaging of the calibrated science data (mstransform) by the largest factor whose
  bandwidth smearing at the image edge stays below 1%, and, with ``--image``, WSClean on the
  full and on the averaged MS.

The real-time factor of a science group is its observed time / (imaging without calibration +
flagging + applycal [+ averaging]). Without ``--image`` the imaging time is the issue's figure
measured on these cores (132 s per 16 x 48 group, WSClean 105 s of it).

Run: ``.venv/bin/python benchmarks/bench_calibration.py [--image]`` (writes
``.bench-out/calibration.json``). The machine is shared: figures are pessimistic.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

#: The issue's measurement of the stream without calibration on these cores (16 x 48).
IMAGING_S_WITHOUT_CAL = 132.0
WSCLEAN_S_WITHOUT_CAL = 105.0


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
        max_average_factor,
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
    image = "--image" in argv
    channels = 48
    root = Path(tempfile.mkdtemp(prefix="bench-calibration-"))
    settings = Settings(state_dir=root / "state")
    out: dict = {"channels_per_subband": channels, "n_integrations": 24}
    try:
        t0 = time.perf_counter()
        night = simulate_calibrator_night(root / "uvh5", corruption=CorruptionSpec(seed=3),
                                          n_channels_per_subband=channels, n_integrations=24,
                                          seed=1)
        out["simulate_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        cal = convert_group(night.calibrator_group.paths, root / "cal.ms").ms_path
        sci = convert_group(night.science_groups[0].paths, root / "sci.ms").ms_path
        out["convert_two_groups_s"] = round(time.perf_counter() - t0, 1)
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
        c["total_s"] = round(c["predict_model_s"] + c["flag_s"] + sum(sol.seconds.values())
                             + c["applycal_s"], 1)
        c["goal_s"] = 240
        c["qa"] = {"snr_median": round(sol.qa.snr_median, 1),
                   "antennas_flagged": list(sol.qa.antennas_flagged),
                   "delay_scatter_ns": round(sol.qa.delay_scatter_ns, 2)}
        out["calibrator"] = c

        s: dict = {}
        fs2 = flag_science_ms(sci, settings, sol.channel_mask)
        s["flag_s"] = round(fs2.seconds, 1)
        s["flag_steps_fraction"] = {k: round(v, 4) for k, v in fs2.steps.items()}
        t0 = time.perf_counter()
        apply_calibration(sci, sol.tables, settings)
        s["applycal_s"] = round(time.perf_counter() - t0, 1)

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

        # averaging in frequency before imaging
        width = float(np.median(np.diff(g.freqs_hz)))
        edge = settings.imaging.field_of_view_deg / 2
        factor = max_average_factor(channels, width, edge, info.max_baseline_m, 0.01)
        s["average_factor"] = factor
        s["smearing_loss_edge"] = round(smearing_loss(factor * width, edge,
                                                      info.max_baseline_m), 5)
        s["smearing_loss_corner"] = round(smearing_loss(factor * width, edge * 2 ** 0.5,
                                                        info.max_baseline_m), 5)
        s["max_baseline_m"] = round(info.max_baseline_m, 1)
        t0 = time.perf_counter()
        avg = average_channels(sci, root / "sci_avg.ms", factor) if factor > 1 else sci
        s["average_s"] = round(time.perf_counter() - t0, 1)
        group_s = 24 * INTEGRATION_S
        cal_cost = s["flag_s"] + s["applycal_s"]
        if image:
            from dsa110_contimg.imaging.wsclean import image_ms

            t0 = time.perf_counter()
            r_full = image_ms(sci, root / "img_full", settings=settings)
            s["image_full_s"] = round(time.perf_counter() - t0, 1)
            s["wsclean_full_s"] = round(r_full.wsclean_seconds, 1)
            t0 = time.perf_counter()
            r_avg = image_ms(avg, root / "img_avg", settings=settings)
            s["image_avg_s"] = round(time.perf_counter() - t0, 1)
            s["wsclean_avg_s"] = round(r_avg.wsclean_seconds, 1)
            base_full = IMAGING_S_WITHOUT_CAL - WSCLEAN_S_WITHOUT_CAL + s["wsclean_full_s"]
            base_avg = IMAGING_S_WITHOUT_CAL - WSCLEAN_S_WITHOUT_CAL + s["wsclean_avg_s"]
        else:
            base_full = IMAGING_S_WITHOUT_CAL
            base_avg = None
        s["rtf_without_averaging"] = round(group_s / (base_full + cal_cost), 2)
        if base_avg is not None:
            s["rtf_with_averaging"] = round(group_s / (base_avg + cal_cost + s["average_s"]), 2)
        s["group_s"] = round(group_s, 1)
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
