"""``contimg mosaic build|run|list`` in-process and as a real subprocess."""

import json
import subprocess
import sys
from pathlib import Path

from astropy.io import fits

from dsa110_contimg.cli import main
from dsa110_contimg.database.products import register_image
from dsa110_contimg.simulation.mosaic_inputs import make_pb_image_set
from tests.conftest import make_settings

SMALL = {"shape": (96, 96), "ra_step_deg": 0.2, "n_sources": 0, "noise_jy": 1e-3}


def test_build_command_writes_mosaic_and_registers(tmp_path, capsys):
    s = make_pb_image_set(tmp_path / "in", n_images=3, seed=1, **SMALL)
    out = tmp_path / "out" / "m.fits"
    state = tmp_path / "state"
    rc = main(["--state-dir", str(state), "mosaic", "build", *map(str, s.pb_paths),
               "--output", str(out), "--register"])
    assert rc == 0
    assert fits.getheader(out)["NIMAGES"] == 3
    assert (tmp_path / "out" / "m-weight.fits").exists()
    assert "registered as" in capsys.readouterr().out


def test_build_command_bad_input_is_one_line_error(tmp_path, capsys):
    rc = main(["--state-dir", str(tmp_path / "st"), "mosaic", "build",
               str(tmp_path / "nope-image-pb.fits"), "--output", str(tmp_path / "m.fits")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "nope-image-pb.fits" in err and err.count("\n") == 1


def test_run_once_and_list_subprocess(tmp_path, capsys):
    state = tmp_path / "state"
    settings = make_settings(state)
    s = make_pb_image_set(tmp_path / "in", n_images=4, seed=2, **SMALL)
    for p in s.pb_paths:
        register_image(p, settings=settings)
    cfg = tmp_path / "c.toml"
    cfg.write_text("[mosaic]\nimages_per_mosaic = 4\noverlap = 1\n")
    exe = Path(sys.executable).with_name("contimg")
    base = [str(exe), "--state-dir", str(state), "--config", str(cfg)]
    run = subprocess.run([*base, "mosaic", "run", "--once"], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "mosaic groups built: 1" in run.stdout
    listed = subprocess.run([*base, "mosaic", "list", "--json"], capture_output=True, text=True,
                            timeout=60)
    assert listed.returncode == 0, listed.stderr
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["status"] == "built" and row["n_images"] == 4
    assert Path(row["mosaic_path"]).is_file()
    inproc = ["--state-dir", str(state), "--config", str(cfg), "mosaic", "list"]
    assert main(inproc) == 0
    assert "built" in capsys.readouterr().out
    assert main([*inproc, "--status", "weird"]) == 2
    assert "'weird' is not one of" in capsys.readouterr().err
