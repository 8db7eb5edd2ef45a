"""Read a calibrated test MS back and compare it with the simulator's truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dsa110_contimg.simulation.corruptions import (
    read_truth,
    rfi_mask,
    score_flags,
    truth_antenna_numbers,
)


def truth_of(night, group) -> dict:
    return read_truth(Path(group.paths[0]).parent / f"{group.timestamp}_corruptions.json")


def read_ms(ms: Path, *cols: str, truth: dict | None = None) -> dict:
    from casacore.tables import table

    with table(str(ms), ack=False) as t:
        out = {c: t.getcol(c) for c in ("FLAG", "ANTENNA1", "ANTENNA2", "TIME", *cols)}
    with table(str(ms) + "/SPECTRAL_WINDOW", ack=False) as t:
        out["FREQ"] = np.concatenate([t.getcell("CHAN_FREQ", i) for i in range(t.nrows())])
    with table(str(ms) + "/ANTENNA", ack=False) as t:
        names = t.getcol("NAME")
    # the truth's antenna numbers, matched by name whatever the MS's numbering
    if truth is not None:
        num = truth_antenna_numbers(truth, names)
    else:
        num = np.arange(len(names))
    out["A1"], out["A2"] = num[out["ANTENNA1"]], num[out["ANTENNA2"]]
    out["JD"] = out["TIME"] / 86400.0 + 2400000.5
    return out


def flag_scores(ms: Path, truth: dict) -> dict:
    d = read_ms(ms, truth=truth)
    return score_flags(d["FLAG"], ant1=d["A1"], ant2=d["A2"], times_jd=d["JD"],
                       freqs_hz=d["FREQ"], truth=truth)


def corrected_vs_clean(ms: Path, clean_ms: Path, truth: dict) -> np.ndarray:
    """CORRECTED_DATA / clean DATA on live, RFI-free, unflagged cross-correlations."""
    d = read_ms(ms, "CORRECTED_DATA", truth=truth)
    c = read_ms(clean_ms, "DATA")
    dead = truth["dead_noise"] + truth["dead_zero"]
    ut, ti = np.unique(d["JD"], return_inverse=True)
    rfi = rfi_mask(truth, ut, d["FREQ"])[ti]
    ok = ((d["A1"] != d["A2"]) & ~np.isin(d["A1"], dead) & ~np.isin(d["A2"], dead))[:, None]
    ok = (ok & ~rfi)[:, :, None] & ~d["FLAG"]
    return d["CORRECTED_DATA"][ok] / c["DATA"][ok]
