"""The references check shared by ``contimg catalog build-master`` and ``contimg run``."""

from __future__ import annotations

import logging

from ..config import Settings
from ._common import console, err_console

__all__ = ["warn_reference_coverage"]


def warn_reference_coverage(settings: Settings, *, show_strips: bool = False) -> bool:
    """Print the references per declination strip; loudly (stderr, bold red) when too few.

    Used by ``contimg catalog build-master`` (with ``show_strips``) and at the start of
    ``contimg run``. Returns True when a warning was printed.
    """
    from ..catalog.coverage import reference_report, too_few_message

    report = reference_report(settings=settings)
    if show_strips:
        for s in report.strips:
            console.print(
                f"  {s.label}: {s.n_references:,} references of {s.n_sources:,} sources "
                f"(~{s.refs_per_image:.0f} per image; {s.n_nvss_only:,} NVSS-only)",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
    message = too_few_message(report)
    if message is None:
        return False
    logging.getLogger("dsa110_contimg.catalog").warning(message.splitlines()[0])
    err_console.print(message, style="bold red", markup=False, highlight=False, soft_wrap=True)
    return True
