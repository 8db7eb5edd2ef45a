"""``contimg images add``: one's own FITS images -> measured, normalized, light curves."""

from __future__ import annotations

import numpy as np

from dsa110_contimg.cli import main
from dsa110_contimg.database import get_image
from dsa110_contimg.database.data_registry import get_photometry_status
from dsa110_contimg.photometry import get_lightcurve
from dsa110_contimg.photometry.normalize import get_image_normalization, set_references
from tests.integration.seed import make_seed_field


def test_images_add_measures_normalizes_and_builds_light_curves(tmp_path, settings, capsys):
    folder = tmp_path / "mine"
    folder.mkdir()
    f = make_seed_field(folder, settings, 12)
    (folder / "notes.txt").write_text("not an image")
    bad = folder / "broken.fits"
    bad.write_bytes(b"not fits" * 100)
    ids = list(f.catalog["source_id"])
    set_references([("nvss", s) for s in ids[:-1]], settings=settings)
    argv = ["--database-url", settings.database_url, "--state-dir", str(settings.state_dir),
            "images", "add", str(folder), "--catalog", "nvss"]  # fmt: skip
    code = main(argv)
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "12 image(s) registered" in out.out and "(1 skipped)" in out.out
    assert "broken.fits" in out.err
    assert "12 completed, 0 failed" in out.out
    for p in f.paths:
        did = get_image(p, settings=settings).data_id
        assert get_photometry_status(did, settings=settings)["status"] == "completed"
        assert get_image_normalization(did, settings=settings).status == "normalized"
    lc = get_lightcurve("nvss", ids[-1], series="epoch", settings=settings)
    assert len(lc) == 12
    raw = np.std(lc["flux_jy"]) / np.mean(lc["flux_jy"])
    norm = np.std(lc["normalized_flux_jy"]) / np.mean(lc["normalized_flux_jy"])
    assert norm < raw / 2


def test_images_add_refuses_missing_paths(tmp_path, settings, capsys):
    code = main(["--state-dir", str(settings.state_dir), "images", "add", str(tmp_path / "nope")])
    assert code == 2 and "no such file or directory" in capsys.readouterr().err
