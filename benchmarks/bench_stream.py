"""Streaming converter benchmark: wall time per group by stage, and the real-time factor.

For the default simulated group (4 channels per subband) and a realistic one (16 x 48
channels, as the telescope writes), one ~5 minute group is simulated from a synthetic
NVSS-like catalog in the telescope's own file layout (``docs/dsa110-files.md``: drift +
``phase_center_dec``, float32 uvw, descending channels, a 117-antenna table with the 96
correlated antennas carrying baselines), streamed (wait, read, convert, image, beam, QA, DB)
and measured by the photometry worker. The real-time factor is observed time / processing
time (> 1: keeps up).

Run: ``.venv/bin/python benchmarks/bench_stream.py`` (writes ``.bench-out/stream.json``).
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from pathlib import Path

CASES = {"default": 4, "realistic": 48}


def flux_recovery(settings, data_id: str) -> dict:
    """Measured / catalog (= simulated intrinsic) flux of the SNR > 30 sources of one image."""
    import numpy as np
    from sqlalchemy import select

    from dsa110_contimg.database import get_engine
    from dsa110_contimg.database.tables.products import photometry as ph

    with get_engine(settings).connect() as conn:
        rows = conn.execute(
            select(ph.c.flux_jy, ph.c.catalog_flux_mjy).where(
                ph.c.data_id == data_id, ph.c.snr > 30
            )
        ).all()
    r = np.array([f / (c / 1000.0) for f, c in rows if f is not None and c])
    if r.size == 0:
        return {"n": 0}
    return {
        "n": int(r.size),
        "median": round(float(np.median(r)), 4),
        "p05": round(float(np.percentile(r, 5)), 4),
        "p95": round(float(np.percentile(r, 95)), 4),
        "within_5pct": round(float(np.mean(np.abs(r - 1) < 0.05)), 3),
    }


def run_case(name: str, channels: int, root: Path) -> dict:
    from dsa110_contimg.config import Settings
    from dsa110_contimg.conversion.streaming import Streamer, StreamOptions
    from dsa110_contimg.database import dispose_engine, get_data
    from dsa110_contimg.jobs import Worker
    from dsa110_contimg.simulation import simulate_groups
    from dsa110_contimg.simulation.uvh5 import DEFAULT_CORRELATED_ANTENNAS, INTEGRATION_S

    settings = Settings(state_dir=root / "state", stream={"file_settle_seconds": 0.0})
    t0 = time.perf_counter()
    (sim,) = simulate_groups(
        root / "in", n_groups=1, n_channels_per_subband=channels, seed=1, settings=settings
    )
    t_sim = time.perf_counter() - t0
    opts = StreamOptions(
        enable_photometry=True, photometry_catalog="synthetic", warn_no_worker=False
    )
    streamer = Streamer(root / "in", root / "out", options=opts, settings=settings)
    (outcome,) = streamer.run(once=True)
    streamer.close()
    if outcome.status != "completed":
        raise SystemExit(f"{name}: group failed: {outcome.error}")
    t0 = time.perf_counter()
    stats = Worker(settings).run(once=True)
    t_phot = time.perf_counter() - t0
    reg = get_data(outcome.data_id, settings=settings)
    recovery = flux_recovery(settings, outcome.data_id)
    dispose_engine(settings)
    tm = dict(outcome.timings)
    stages = {
        "wait": tm.get("wait", 0.0),
        "read": tm["read"],
        "convert": tm["convert"],
        "image": tm["image"],
        "beam": tm["beam"],
        "qa": tm["qa"],
        "db": tm["db"],
        "photometry_trigger": tm.get("photometry", 0.0),
        "photometry_worker": t_phot,
    }
    # the calibration step's work (flagging, solves, calibrate-and-average, averaging alone)
    stages.update({k: v for k, v in tm.items() if k.startswith("cal_")})
    processing = sum(v for k, v in stages.items() if k != "wait")
    observed = float(len(sim.times_jd) * INTEGRATION_S)
    return {
        "layout": sim.layout,
        "correlated_antennas": len(DEFAULT_CORRELATED_ANTENNAS),
        "channels_per_subband": channels,
        "n_channels": int(len(sim.freqs_hz)),
        "simulated_sources": len(sim.truth),
        "simulate_s": round(t_sim, 2),
        "stages_s": {k: round(v, 3) for k, v in stages.items()},
        "processing_s": round(processing, 2),
        "observed_s": round(observed, 2),
        "realtime_factor": round(observed / processing, 2),
        "photometry_items": stats.completed,
        "photometry_status": reg.photometry_status if reg else None,
        "qa_status": outcome.qa_status,
        "flux_recovery_snr_gt_30": recovery,
    }


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    results = {}
    for name, channels in CASES.items():
        with tempfile.TemporaryDirectory(prefix=f"bench-stream-{name}-") as d:
            r = run_case(name, channels, Path(d))
        results[name] = r
        st = r["stages_s"]
        print(
            f"{name}: {r['layout']} layout, {r['n_channels']} channels, "
            f"{r['correlated_antennas']} antennas, {r['simulated_sources']} sources; "
            f"simulate {r['simulate_s']} s"
        )
        print("  " + ", ".join(f"{k} {v:.2f} s" for k, v in st.items()))
        print(
            f"  processing {r['processing_s']} s for {r['observed_s']} s observed: "
            f"real-time factor {r['realtime_factor']} (QA {r['qa_status']}, "
            f"photometry {r['photometry_status']})"
        )
    out = Path(".bench-out")
    out.mkdir(exist_ok=True)
    (out / "stream.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
