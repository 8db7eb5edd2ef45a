"""Normalization references per declination strip, and the loud "too few references" report.

DSA-110 drift-scans one declination strip at a time; an image is ~3.5 deg across. Every image
needs ``normalize.min_references`` references measured cleanly on it, or it is recorded
``not_normalizable``. :func:`record_reference_strips` (called by
:func:`~dsa110_contimg.catalog.master.build_master_catalog`) counts the master catalog's
references in strips of height ``catalog.reference_strip_deg`` and estimates how many fall
on one image of that size::

    refs_per_image = n_references / n_sources * NVSS_DENSITY_PER_DEG2 * reference_strip_deg**2

(the strip's reference fraction times the NVSS sources expected on an image, so that a
catalog extract covering part of a strip is judged by its density, not its size).
:func:`reference_report` reads them back; a strip below ``catalog.reference_warn_per_image``
is *short*, and ``build-master``, ``contimg run`` and the dashboard print
:func:`too_few_message`, which names the strips and what an operator can do.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..config import Settings, resolve_settings
from ..simulation.catalogs import NVSS_DENSITY_PER_DEG2

__all__ = [
    "ReferenceReport",
    "ReferenceStrip",
    "record_reference_strips",
    "reference_report",
    "too_few_message",
]


@dataclass(frozen=True)
class ReferenceStrip:
    """References of the master catalog in one declination strip.

    Attributes
    ----------
    dec_lo_deg, dec_hi_deg : float
        The strip.
    n_sources : int
        Master (NVSS) sources in it.
    n_references : int
        Reference candidates (``is_reference``), of which ``n_nvss_only`` by the fallback.
    n_nvss_only : int
        References selected on NVSS alone.
    refs_per_image : float
        Estimated references on one image of side ``reference_strip_deg``.
    """

    dec_lo_deg: float
    dec_hi_deg: float
    n_sources: int
    n_references: int
    n_nvss_only: int
    refs_per_image: float

    @property
    def label(self) -> str:
        """``Dec +45.5..+49.0``."""
        return f"Dec {self.dec_lo_deg:+.1f}..{self.dec_hi_deg:+.1f}"


@dataclass(frozen=True)
class ReferenceReport:
    """What the master catalog offers normalization, strip by strip.

    Attributes
    ----------
    has_master : bool
        A master catalog was built (``contimg catalog build-master``).
    strips : list of ReferenceStrip
        Strips holding master sources, south to north.
    short : list of ReferenceStrip
        Strips with fewer than ``threshold`` references per image.
    threshold : float
        ``catalog.reference_warn_per_image``.
    newer : list of str
        Catalogs ingested after the master catalog was built (it does not reflect them).
    """

    has_master: bool
    strips: list[ReferenceStrip] = field(default_factory=list)
    short: list[ReferenceStrip] = field(default_factory=list)
    threshold: float = 0.0
    newer: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """A master catalog exists, reflects every ingested catalog and no strip is short."""
        return self.has_master and bool(self.strips) and not self.short and not self.newer


def _strip_edges(dec: np.ndarray, height: float) -> tuple[np.ndarray, int]:
    k = np.floor((np.asarray(dec, dtype=float) + 90.0) / height).astype(np.int64)
    n = int(math.ceil(180.0 / height))
    return np.clip(k, 0, n - 1), n


def record_reference_strips(
    dec_deg: np.ndarray,
    is_reference: np.ndarray,
    nvss_only: np.ndarray,
    *,
    settings: Settings | None = None,
) -> list[ReferenceStrip]:
    """Count references per declination strip and store them (replacing the previous counts).

    Parameters
    ----------
    dec_deg : numpy.ndarray
        Declinations of all master sources.
    is_reference, nvss_only : numpy.ndarray of bool
        The master catalog's references, and those chosen by the NVSS-only fallback.
    settings : Settings, optional
        Database and ``catalog.reference_strip_deg``.

    Returns
    -------
    list of ReferenceStrip
    """
    from ..database import get_engine
    from ..database.catalogs import replace_reference_strips

    settings = resolve_settings(settings)
    h = settings.catalog.reference_strip_deg
    k, n_strips = _strip_edges(dec_deg, h)
    n_src = np.bincount(k, minlength=n_strips)
    n_ref = np.bincount(k, weights=np.asarray(is_reference, dtype=float), minlength=n_strips)
    n_fb = np.bincount(k, weights=np.asarray(nvss_only, dtype=float), minlength=n_strips)
    per_image_nvss = NVSS_DENSITY_PER_DEG2 * h * h
    strips = []
    for i in np.flatnonzero(n_src):
        lo = -90.0 + i * h
        strips.append(
            ReferenceStrip(
                float(lo),
                float(min(lo + h, 90.0)),
                int(n_src[i]),
                int(n_ref[i]),
                int(n_fb[i]),
                float(n_ref[i] / n_src[i] * per_image_nvss),
            )
        )
    now = time.time()
    replace_reference_strips(
        get_engine(settings),
        [
            {
                "dec_lo_deg": s.dec_lo_deg,
                "dec_hi_deg": s.dec_hi_deg,
                "n_sources": s.n_sources,
                "n_references": s.n_references,
                "n_nvss_only": s.n_nvss_only,
                "refs_per_image": s.refs_per_image,
                "built_at": now,
            }
            for s in strips
        ],
    )
    return strips


def reference_report(*, settings: Settings | None = None) -> ReferenceReport:
    """Read the reference counts per strip recorded by the last ``build-master``.

    Parameters
    ----------
    settings : Settings, optional
        Database and ``catalog.reference_warn_per_image``.

    Returns
    -------
    ReferenceReport
    """
    from ..database import get_engine
    from ..database.catalogs import catalog_build_times, reference_strip_rows

    settings = resolve_settings(settings)
    threshold = settings.catalog.reference_warn_per_image
    engine = get_engine(settings)
    built = catalog_build_times(engine)
    rows = reference_strip_rows(engine)
    strips = [
        ReferenceStrip(
            r.dec_lo_deg, r.dec_hi_deg, r.n_sources, r.n_references, r.n_nvss_only, r.refs_per_image
        )
        for r in rows
    ]
    has_master = "master" in built
    short = [s for s in strips if s.refs_per_image < threshold] if has_master else []
    newer = sorted(
        name
        for name in ("nvss", "first", "vlass", "racs")
        if has_master and name in built and built[name] > built["master"]
    )
    return ReferenceReport(has_master, strips if has_master else [], short, threshold, newer)


#: What an operator can do about too few references (also in docs/photometry-references.md).
REMEDIES = (
    "ingest a spectral-index catalog covering these declinations "
    "('contimg catalog ingest vlass FILE' or '... racs FILE') and run "
    "'contimg catalog build-master' again",
    "keep the NVSS-only fallback on ([catalog] reference_fallback = true, the default)",
    "lower [catalog] reference_min_snr (default 50) or set "
    "reference_allow_unknown_spectral_index = true, then rebuild the master catalog",
    "or register an explicit reference set (photometry.normalize.set_references)",
)


def too_few_message(report: ReferenceReport) -> str | None:
    """Return the loud warning for a report, or None when every strip has enough references.

    Examples
    --------
    >>> too_few_message(ReferenceReport(has_master=False)).splitlines()[0]
    'WARNING: no master catalog: normalization has no reference sources.'
    """
    if not report.has_master:
        return (
            "WARNING: no master catalog: normalization has no reference sources.\n"
            "Every image will be 'not_normalizable'. Ingest NVSS ('contimg catalog ingest nvss "
            "FILE') and run 'contimg catalog build-master'."
        )
    if report.ok:
        return None
    if report.newer and not report.short and report.strips:
        return (
            f"WARNING: {', '.join(report.newer)} ingested after the master catalog was built: "
            "its references do not reflect them. Run 'contimg catalog build-master'."
        )
    if not report.strips:
        return (
            "WARNING: no reference counts recorded for the master catalog (built by an older "
            "version, or empty): run 'contimg catalog build-master' again."
        )
    lines = [
        f"WARNING: too few normalization references in {len(report.short)} declination "
        f"strip(s) (want >= {report.threshold:g} per image; images there will be "
        "'not_normalizable'):"
    ]
    for s in report.short:
        lines.append(
            f"  {s.label}: {s.n_references} references of {s.n_sources} sources "
            f"(~{s.refs_per_image:.1f} per image, {s.n_nvss_only} NVSS-only)"
        )
    if report.newer:
        lines.append(
            f"  ({', '.join(report.newer)} ingested after the master catalog was built: "
            "run 'contimg catalog build-master' first)"
        )
    lines.append("What to do:")
    lines += [f"  - {r}" for r in REMEDIES]
    return "\n".join(lines)
