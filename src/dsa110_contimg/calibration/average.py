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
"""

from __future__ import annotations

import math
from pathlib import Path

from .casa import run_casa_tasks

__all__ = ["average_channels", "max_average_factor", "smearing_loss"]

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


def average_channels(ms: Path, out: Path, factor: int, *, workdir: Path | None = None,
                     timeout: float = 3600.0) -> Path:
    """Write ``out``: the calibrated data of ``ms`` averaged over ``factor`` channels.

    ``CORRECTED_DATA`` (or ``DATA`` when the MS has none) becomes the new MS's ``DATA``;
    flagged channels are excluded from each average (CASA ``mstransform``).
    """
    from casacore.tables import table

    ms, out = Path(ms), Path(out)
    with table(str(ms), ack=False) as t:
        col = "corrected" if "CORRECTED_DATA" in t.colnames() else "data"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    run_casa_tasks(
        [("mstransform", {"vis": str(ms), "outputvis": str(out), "datacolumn": col,
                          "chanaverage": True, "chanbin": int(factor)})],
        ms=ms, workdir=workdir or ms.parent / (ms.name + ".cal"), label="average",
        timeout=timeout,
    )
    return out
