"""Average calibrated visibilities in frequency before imaging, within a smearing budget.

WSClean's time grows with the number of visibilities; averaging ``factor`` channels of the
calibrated data (CASA ``mstransform``, ``CORRECTED_DATA`` -> ``DATA`` of a new MS) cuts it.
The price is bandwidth smearing: for a channel of width ``dnu`` a source at distance ``theta``
from the phase centre is smeared radially over ``theta * dnu / nu``. For a Gaussian synthesized
beam of FWHM ``theta_b = c / (nu B)`` (``B`` the longest baseline) and a rectangular channel,
the peak keeps (Bridle & Schwab 1999, eq. 18-24)

``R = sqrt(pi) / (2 sqrt(ln 2) beta) * erf(sqrt(ln 2) beta)``, ``beta = dnu theta B / c``

(independent of ``nu``): :func:`smearing_loss` is ``1 - R``; :func:`max_average_factor` the
largest factor keeping it below a budget at the field's edge. Using ``lambda / B`` as the beam
is conservative: the Briggs-weighted restoring beam is wider.

With ``tables`` (:func:`average_channels`), the calibration is applied on the fly by the same
``mstransform`` (a CASA calibration library, ``docallib``): the raw ``DATA`` is read once,
calibrated as ``applycal`` would (K and B nearest, G linear in time, ``calwt=False``, data with
flagged solutions flagged) and averaged, and only the averaged result is written. The stream
uses this instead of ``applycal`` + averaging: it never writes a full-resolution
``CORRECTED_DATA`` column.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from .casa import run_casa_tasks

__all__ = ["average_channels", "max_average_factor", "smearing_loss", "write_callib"]

C_M_S = 299_792_458.0


def smearing_loss(channel_width_hz: float, offset_deg: float, max_baseline_m: float) -> float:
    """Fractional loss of peak flux by bandwidth smearing at ``offset_deg`` from the centre.

    Examples
    --------
    >>> round(smearing_loss(0.0, 1.75, 400.0), 6)
    0.0
    >>> smearing_loss(4e6, 1.75, 400.0) < smearing_loss(8e6, 1.75, 400.0)
    True
    """
    beta = channel_width_hz * math.radians(offset_deg) * max_baseline_m / C_M_S
    if beta == 0:
        return 0.0
    a = math.sqrt(math.log(2.0)) * beta
    return 1.0 - math.sqrt(math.pi) / (2.0 * a) * math.erf(a)


def max_average_factor(n_chan: int, channel_width_hz: float, offset_deg: float,
                       max_baseline_m: float, budget: float = 0.01) -> int:
    """Return the largest divisor of ``n_chan`` keeping the edge smearing below ``budget``."""
    best = 1
    for f in range(1, n_chan + 1):
        if n_chan % f == 0 and smearing_loss(f * channel_width_hz, offset_deg,
                                             max_baseline_m) < budget:
            best = f
    return best


def write_callib(path: Path, tables: Mapping[str, Path], n_spw: int) -> Path:
    """Write a CASA calibration library applying ``tables`` as :func:`apply_calibration` does.

    One line per table in K, B, G order: ``nearest`` in time for K and B (B ``linear`` in
    frequency), ``linear`` for G, ``calwt=False``, each window calibrated by its own
    solutions (an explicit identity ``spwmap``: CASA refuses an empty one).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> lib = write_callib(d / "cal.lib", {"G": "/x/g.G", "K": "/x/k.K"}, 2)
    >>> print(lib.read_text(), end="")
    caltable='/x/k.K' calwt=False tinterp='nearest' spwmap=[0, 1]
    caltable='/x/g.G' calwt=False tinterp='linear' spwmap=[0, 1]
    """
    interp = {"K": "nearest", "B": "nearest", "G": "linear"}
    spwmap = list(range(int(n_spw)))
    lines = [f"caltable={str(tables[k])!r} calwt=False tinterp={interp[k]!r}"
             + (" finterp='linear'" if k == "B" else "") + f" spwmap={spwmap}"
             for k in ("K", "B", "G") if k in tables]
    path = Path(path)
    path.write_text("\n".join(lines) + "\n")
    return path


def average_channels(ms: Path, out: Path, factor: int, *, tables: Mapping[str, Path] | None = None,
                     workdir: Path | None = None, timeout: float = 3600.0) -> Path:
    """Write ``out``: the calibrated data of ``ms`` averaged over ``factor`` channels.

    Without ``tables``, ``CORRECTED_DATA`` (or ``DATA`` when the MS has none) becomes the new
    MS's ``DATA``. With ``tables`` (``{"K": path, "B": path, "G": path}``), ``DATA`` is
    calibrated on the fly with them (see the module's notes) and then averaged. Flagged channels
    are excluded from each average (CASA ``mstransform``); ``factor`` 1 copies (and calibrates).

    Raises
    ------
    CalibrationError
        A table is missing or ``mstransform`` failed.
    """
    from casacore.tables import table

    from ..errors import CalibrationError

    ms, out = Path(ms), Path(out)
    workdir = Path(workdir) if workdir is not None else ms.parent / (ms.name + ".cal")
    kw: dict = {"vis": str(ms), "outputvis": str(out), "chanaverage": int(factor) > 1,
                "chanbin": int(factor)}
    if tables:
        for k, p in tables.items():
            if not Path(p).exists():
                raise CalibrationError(f"calibration table {k} not found: {p}", path=ms)
        workdir.mkdir(parents=True, exist_ok=True)
        with table(str(ms / "SPECTRAL_WINDOW"), ack=False) as t:
            n_spw = t.nrows()
        lib = write_callib(workdir / "callib.txt", tables, n_spw)
        kw.update(datacolumn="corrected", docallib=True, callib=str(lib))
    else:
        with table(str(ms), ack=False) as t:
            kw["datacolumn"] = "corrected" if "CORRECTED_DATA" in t.colnames() else "data"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    run_casa_tasks([("mstransform", kw)], ms=ms, workdir=workdir, label="average",
                   timeout=timeout)
    return out
