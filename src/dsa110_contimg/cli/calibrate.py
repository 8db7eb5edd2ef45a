"""``contimg calibrate``: flag, solve and apply calibration by hand, on one MS or one group.

The same steps as the stream: a group whose time range contains the transit of a listed
calibrator (:func:`~dsa110_contimg.calibration.find_calibrator`) is a calibrator group: its
``MODEL_DATA`` is predicted through the primary beam, it is flagged with the full recipe, K,
B and G are solved and applied. Any other group needs ``--tables DIR`` (tables written by an
earlier ``contimg calibrate`` of a calibrator group): it is flagged cheaply and calibrated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ._common import console, get_settings

__all__ = ["register"]


def _ms_of(inputs: list[Path], workdir: Path) -> Path:
    """Return the Measurement Set named, or convert the group's UVH5 files into ``workdir``."""
    from ..errors import CalibrationError

    if len(inputs) == 1 and (inputs[0] / "table.dat").exists():
        return inputs[0]
    files: list[Path] = []
    for p in inputs:
        files += sorted(p.glob("*_sb[0-9][0-9].hdf5")) if p.is_dir() else [p]
    if not files:
        raise CalibrationError("neither a Measurement Set nor UVH5 subband files",
                               path=inputs[0] if inputs else None)
    stamps = {f.name.split("_sb")[0] for f in files}
    if len(stamps) != 1:
        raise CalibrationError(f"more than one group given ({', '.join(sorted(stamps))})",
                               path=files[0].parent)
    from ..conversion.uvh5_to_ms import convert_group

    stamp = stamps.pop()
    console.print(f"converting {len(files)} subbands of {stamp}")
    return convert_group(files, workdir / f"{stamp}.ms").ms_path


def _ms_range(ms: Path) -> tuple[float, float, float]:
    """Return the start and end MJD and the phase-centre declination of a Measurement Set."""
    import numpy as np
    from casacore.tables import table

    with table(str(ms), ack=False) as t:
        tm = t.getcol("TIME")
    with table(str(ms) + "/FIELD", ack=False) as t:
        dec = float(np.degrees(t.getcol("PHASE_DIR")[0, 0, 1]))
    return float(tm.min() / 86400.0), float(tm.max() / 86400.0), dec


def register(app: typer.Typer, groups) -> None:
    """Add ``calibrate``."""

    @app.command("calibrate")
    def calibrate_cmd(
        ctx: typer.Context,
        inputs: Annotated[
            list[Path],
            typer.Argument(help="A Measurement Set, or the UVH5 subband files (or their "
                           "directory) of one group."),
        ],
        workdir: Annotated[
            Path | None,
            typer.Option("--workdir", help="Where converted MSs, tables and CASA logs go "
                         "(default <state_dir>/calibration)."),
        ] = None,
        tables: Annotated[
            Path | None,
            typer.Option("--tables", help="Apply the K/B/G tables in this directory (science "
                         "group) instead of solving."),
        ] = None,
        calibrator: Annotated[
            str | None,
            typer.Option("--calibrator", help="Treat the group as a transit of this listed "
                         "calibrator (name or 3C name) even if the look-up finds none."),
        ] = None,
        no_flag: Annotated[bool, typer.Option("--no-flag", help="Do not flag.")] = False,
    ) -> None:
        """Flag and calibrate one group by hand (the stream's steps)."""
        from ..calibration import (
            CalibratorMatch,
            apply_calibration,
            find_calibrator,
            flag_calibrator_ms,
            flag_science_ms,
            get_calibrator,
            predict_model,
            solve_calibrator,
        )
        from ..calibration.calibrators import calibrator_flux_jy
        from ..errors import CalibrationError

        settings = get_settings(ctx)
        work = workdir or Path(settings.state_dir) / "calibration"
        work.mkdir(parents=True, exist_ok=True)
        ms = _ms_of(inputs, work)
        start, end, dec = _ms_range(ms)
        if tables is not None:
            found = {k: tables / name for k in ("K", "B", "G")
                     for name in [p.name for p in tables.glob(f"*.{k}")][:1]}
            if set(found) != {"K", "B", "G"}:
                raise CalibrationError("expected one *.K, *.B and *.G table", path=tables)
            if not no_flag:
                fs = flag_science_ms(ms, settings)
                console.print(f"flagged {100 * fs.flagged_before:.2f}% -> "
                              f"{100 * fs.flagged_after:.2f}% in {fs.seconds:.0f} s")
            apply_calibration(ms, found, settings)
            console.print(f"applied {', '.join(str(p) for p in found.values())} -> {ms} "
                          "(CORRECTED_DATA)")
            return
        if calibrator is not None:
            cal = get_calibrator(calibrator)
            mid = 0.5 * (start + end)
            match = CalibratorMatch(cal, mid, float(calibrator_flux_jy(cal, 1.4e9)), 0.0, 0.0)
        else:
            match = find_calibrator(dec, start, end, settings)
        if match is None:
            raise CalibrationError(
                "no listed calibrator transits in this group: pass --tables DIR (tables of a "
                "calibrator group) or --calibrator NAME", path=ms)
        console.print(f"calibrator {match.calibrator.name} ({match.calibrator.alt_name or '-'}) "
                      f"transit MJD {match.transit_mjd:.5f}, beam-weighted "
                      f"{match.beam_weighted_flux_jy:.2f} Jy, confusion "
                      f"{match.contamination_ratio:.3f}")
        predict_model(ms, match, settings)
        if not no_flag:
            fs = flag_calibrator_ms(ms, settings)
            console.print(f"flagged {100 * fs.flagged_before:.2f}% -> "
                          f"{100 * fs.flagged_after:.2f}% in {fs.seconds:.0f} s ("
                          + ", ".join(f"{k} {100 * v:.2f}%" for k, v in fs.steps.items()) + ")")
        sol = solve_calibrator(ms, match, work / (ms.name.removesuffix(".ms") + "_tables"),
                               settings)
        apply_calibration(ms, sol.tables, settings)
        q = sol.qa
        console.print(f"solved (refant {sol.refant}): SNR {q.snr_median:.0f}, "
                      f"{100 * q.flagged_fraction:.1f}% of solutions flagged, antennas flagged "
                      f"{list(q.antennas_flagged)}, delay scatter {q.delay_scatter_ns:.2f} ns, "
                      f"{q.n_antennas} antennas")
        for k, p in sol.tables.items():
            console.print(f"  {k}: {p}")
