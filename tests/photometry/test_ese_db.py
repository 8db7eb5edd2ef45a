"""ESE candidates: presets, list/dismiss/confirm/reopen, and the command line."""

import csv

import pytest

from dsa110_contimg.cli import main
from dsa110_contimg.errors import ConfigError, NotFoundError
from dsa110_contimg.photometry.ese import (
    PRESETS,
    EseThresholds,
    confirm_candidate,
    dismiss_candidate,
    list_candidates,
    reopen_candidate,
)
from dsa110_contimg.photometry.normalize import normalize_all
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry


@pytest.fixture
def field():
    return simulate_lightcurves(
        n_epochs=30,
        n_references=8,
        targets=[
            {"snr": 300},
            {"snr": 50, "dip_depth": 0.3, "dip_epochs": 8, "dip_start": 15},
            {"snr": 40, "dip_depth": 0.08, "dip_epochs": 8, "dip_start": 15},
        ],
        seed=21,
    )


def test_presets_and_status_changes(db_settings, field):
    write_simulated_photometry(field, settings=db_settings)
    normalize_all(settings=db_settings)
    deep = field.source_ids[field.dips[0]["source"]]
    sensitive = list_candidates(preset="sensitive", settings=db_settings)
    conservative = list_candidates(preset="conservative", settings=db_settings)
    assert deep in list(conservative["source_id"])
    assert set(conservative["source_id"]) <= set(sensitive["source_id"])
    assert field.source_ids[field.is_reference][0] not in list(sensitive["source_id"])
    custom = list_candidates(
        preset=EseThresholds(min_cusum=1e6, min_dip_sigma=0, min_depth=0), settings=db_settings
    )
    assert len(custom) == 0
    cid = int(conservative["id"][0])
    row = dismiss_candidate(cid, note="known calibrator problem", settings=db_settings)
    assert row["status"] == "dismissed" and row["note"] == "known calibrator problem"
    assert cid not in list(
        list_candidates(preset="sensitive", status="active", settings=db_settings)["id"]
    )
    assert confirm_candidate(cid, settings=db_settings)["status"] == "confirmed"
    row = reopen_candidate(cid, note="confirmation withdrawn", settings=db_settings)
    assert row["status"] == "active" and row["note"] == "confirmation withdrawn"
    assert cid in list(
        list_candidates(preset="sensitive", status="active", settings=db_settings)["id"]
    )
    assert confirm_candidate(cid, settings=db_settings)["status"] == "confirmed"
    # re-normalization keeps the decision
    normalize_all(settings=db_settings)
    again = list_candidates(preset="conservative", settings=db_settings)
    assert dict(zip(again["id"], again["status"], strict=True))[cid] == "confirmed"
    with pytest.raises(NotFoundError):
        dismiss_candidate(99999, settings=db_settings)
    with pytest.raises(ConfigError):
        list_candidates(preset="reckless", settings=db_settings)
    assert list(PRESETS) == ["conservative", "moderate", "sensitive"]


def test_command_line(settings, field, tmp_path):
    write_simulated_photometry(field, settings=settings)
    base = ["--state-dir", str(settings.state_dir)]
    assert main([*base, "photometry", "normalize", "--all"]) == 0
    assert main([*base, "photometry", "normalize", "--image", str(field.data_ids[3])]) == 0
    assert main([*base, "photometry", "normalize"]) == 2
    out = tmp_path / "lc.csv"
    sid = field.source_ids[field.dips[0]["source"]]
    assert main([*base, "lightcurve", sid, "--series", "image", "--output", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 30 and rows[0]["image"] == str(field.data_ids[0])
    assert {
        "mjd",
        "image",
        "flux_jy",
        "flux_err_jy",
        "normalized_flux_jy",
        "normalized_flux_err_jy",
    } <= set(rows[0])
    assert main([*base, "lightcurve", sid]) == 0
    assert main([*base, "lightcurve", "J999999+999999"]) == 2
    cands = tmp_path / "ese.csv"
    assert main([*base, "ese", "list", "--preset", "moderate", "--output", str(cands)]) == 0
    found = list(csv.DictReader(cands.open()))
    assert sid in [r["source_id"] for r in found]
    assert main([*base, "ese", "list"]) == 0
    cid = [r["id"] for r in found if r["source_id"] == sid][0]
    assert main([*base, "ese", "dismiss", cid, "--note", "test"]) == 0
    assert main([*base, "ese", "confirm", cid]) == 0
    assert main([*base, "ese", "reopen", cid, "--note", "withdrawn"]) == 0
    assert main([*base, "ese", "confirm", "424242"]) == 2
