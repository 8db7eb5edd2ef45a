"""Flag, predict, solve and apply on a corrupted 3C286 transit; transfer to a group 1 h later.

Truth: the same night simulated without corruptions (same noise), and the injected
corruptions written beside the files.
"""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_contimg.calibration import (
    apply_calibration,
    find_calibrator,
    flag_calibrator_ms,
    flag_science_ms,
    predict_model,
    solve_calibrator,
)
from dsa110_contimg.config import Settings
from dsa110_contimg.simulation.corruptions import truth_antenna_numbers

from .conftest import needs_casa
from .helpers import corrected_vs_clean, flag_scores, read_ms, truth_of

pytestmark = [needs_casa, pytest.mark.slow]


@pytest.fixture(scope="module")
def solved(cal_night, tmp_path_factory):
    import shutil

    root = tmp_path_factory.mktemp("solved")
    settings = Settings(state_dir=root)
    night, (cal_src, sci_src) = cal_night["corrupt"]
    cal, sci = root / "cal.ms", root / "sci.ms"
    shutil.copytree(cal_src, cal)
    shutil.copytree(sci_src, sci)
    jd = read_ms(cal)["JD"]
    match = find_calibrator(night.calibrator_group.pointing_dec_deg, jd.min() - 2400000.5,
                            jd.max() - 2400000.5, settings)
    predict_model(cal, match, settings)
    fs_cal = flag_calibrator_ms(cal, settings)
    sol = solve_calibrator(cal, match, root / "tables", settings)
    apply_calibration(cal, sol.tables, settings)
    fs_sci = flag_science_ms(sci, settings, sol.channel_mask)
    apply_calibration(sci, sol.tables, settings)
    return dict(night=night, match=match, sol=sol, cal=cal, sci=sci, fs_cal=fs_cal,
                fs_sci=fs_sci, clean=cal_night["clean"][1])


def test_calibrator_recognized(solved):
    m = solved["match"]
    assert m.calibrator.alt_name == "3C286"
    assert m.transit_mjd == pytest.approx(solved["night"].transit_mjd, abs=2 / 86400)


def test_corrected_matches_truth_on_calibrator(solved):
    night = solved["night"]
    truth = truth_of(night, night.calibrator_group)
    r = corrected_vs_clean(solved["cal"], solved["clean"][0], truth)
    assert np.median(np.abs(r)) == pytest.approx(1.0, abs=0.002)
    mad = 1.4826 * np.median(np.abs(np.abs(r) - np.median(np.abs(r))))
    assert mad < 0.01
    assert np.degrees(np.median(np.abs(np.angle(r)))) < 0.5


def test_tables_transfer_to_science_group(solved):
    night = solved["night"]
    g = night.science_groups[0]
    r = corrected_vs_clean(solved["sci"], solved["clean"][1], truth_of(night, g))
    assert np.median(np.abs(r)) == pytest.approx(1.0, abs=0.003)
    assert np.std(np.abs(r)) < 0.02
    assert np.degrees(np.std(np.angle(r))) < 1.0


def test_delays_within_0p2_ns(solved):
    from casacore.tables import table

    night, sol = solved["night"], solved["sol"]
    truth = truth_of(night, night.calibrator_group)
    with table(str(sol.tables["K"]), ack=False) as t:
        k, kflag = t.getcol("FPARAM")[:, 0, :], t.getcol("FLAG")[:, 0, :]
        kant = t.getcol("ANTENNA1")
    with table(str(solved["cal"]) + "/ANTENNA", ack=False) as t:
        names = list(t.getcol("NAME"))
    numbers = truth_antenna_numbers(truth, names)
    num = {i: int(n) for i, n in enumerate(numbers) if n >= 0}
    tau = {a: np.array(d) for a, d in zip(truth["antennas"], truth["delay_ns"], strict=True)}
    ref = int(truth_antenna_numbers(truth, [sol.refant])[0])
    dead = set(truth["dead_noise"]) | set(truth["dead_zero"])
    errs = []
    for row, a in enumerate(kant):
        n = num.get(int(a))
        if n is None or n in dead or n not in tau or kflag[row].all():
            continue
        # CASA's K is the delay of the antenna relative to the reference; the simulator's
        # gains carry exp(-2 pi i f tau)
        errs.append(k[row] - (tau[n] - tau[ref]))
    errs = np.array(errs)
    assert len(errs) == len(tau) - len(dead)
    assert np.max(np.abs(errs)) < 0.2


def test_solution_qa(solved):
    night, qa = solved["night"], solved["sol"].qa
    truth = truth_of(night, night.calibrator_group)
    with_data = set(truth["antennas"])
    assert qa.n_antennas == len(with_data)
    from casacore.tables import table

    with table(str(solved["cal"]) + "/ANTENNA", ack=False) as t:
        names = list(t.getcol("NAME"))
    numbers = truth_antenna_numbers(truth, names)
    flagged = {int(numbers[a]) for a in qa.antennas_flagged}
    assert flagged == set(truth["dead_noise"]) | set(truth["dead_zero"])
    assert qa.snr_median > 50
    assert qa.delay_scatter_ns > 0.5  # the injected delays are uniform in +-5 ns


def test_rfi_found_on_calibrator(solved):
    night = solved["night"]
    s = flag_scores(solved["cal"], truth_of(night, night.calibrator_group))
    assert s["recall_strong"] >= 0.99
    assert s["recall_weak"] >= 0.95
    assert s["false_flag"] <= 0.01


def test_rfi_found_on_science_cheaply(solved):
    night = solved["night"]
    s = flag_scores(solved["sci"], truth_of(night, night.science_groups[0]))
    assert s["recall_strong"] >= 0.99
    assert s["recall_weak"] >= 0.95
    assert s["false_flag"] <= 0.01
    assert "rflag" not in solved["fs_sci"].steps
    assert "residual_tfcrop" in solved["fs_cal"].steps  # the model was there


def test_on_the_fly_calibration_and_averaging_equals_applycal(solved, tmp_path):
    """One mstransform pass (DATA calibrated on the fly, averaged) = applycal, then average."""
    from casacore.tables import table

    from dsa110_contimg.calibration.average import average_channels

    sci, tables = solved["sci"], solved["sol"].tables  # sci holds applycal's CORRECTED_DATA
    ref = average_channels(sci, tmp_path / "ref.ms", 2, workdir=tmp_path / "w1")
    otf = average_channels(sci, tmp_path / "otf.ms", 2, tables=tables, workdir=tmp_path / "w2")
    with table(str(ref), ack=False) as a, table(str(otf), ack=False) as b:
        assert b.nrows() == a.nrows()
        da, db_ = a.getcol("DATA"), b.getcol("DATA")
        fa, fb = a.getcol("FLAG"), b.getcol("FLAG")
    with table(str(sci), ack=False) as t:
        n_chan = t.getcell("DATA", 0).shape[0]
    assert da.shape[1] * 2 == n_chan
    np.testing.assert_array_equal(fb, fa)
    ok = ~fa
    assert ok.mean() > 0.5
    np.testing.assert_allclose(db_[ok], da[ok], rtol=1e-5, atol=1e-6)
