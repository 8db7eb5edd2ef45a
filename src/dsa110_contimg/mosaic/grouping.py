"""Cutting a time-ordered stream of images into mosaic groups.

Rule (settings in :class:`~dsa110_contimg.config.MosaicSettings`):

* Images are taken in order of mid-exposure time. A group holds ``images_per_mosaic`` (N)
  consecutive images; the next group starts with the last ``overlap`` images of a *complete*
  group (10 and 2: one mosaic per 8 new images).
* Two consecutive images belong together only if their mid times differ by at most
  ``max_gap_seconds`` (default 1.5 x the 309 s cadence: one missing image breaks it) and their
  declination centres by at most ``dec_tolerance_deg`` (one strip).
* A break closes the open group. It is built as a shorter mosaic when it has at least
  ``min_images`` images (``complete`` false, reason recorded); otherwise it is ``abandoned``
  with the reason. The group after a break starts afresh: no overlap is carried across a
  break, so distant epochs or strips are never mixed. An open group holding only images
  carried over from the previous group is simply dropped at a break.
* A group still short of N images with no break after it stays open (not stored) until more
  images arrive.
* Only images later than the last formed group are considered: an image registered late with
  an earlier mid time is not added to groups already formed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Candidate", "FormedGroup", "cut_groups"]


@dataclass(frozen=True)
class Candidate:
    """A registered image as the grouping sees it."""

    data_id: str
    mjd_mid: float
    dec_deg: float | None


@dataclass(frozen=True)
class FormedGroup:
    """A group decided by :func:`cut_groups`.

    Attributes
    ----------
    members : tuple of Candidate
        Member images in time order.
    status : str
        ``pending`` (to be built) or ``abandoned``.
    complete : bool
        Whether it has the full number of images.
    reason : str or None
        Why it closed early or was abandoned.
    """

    members: tuple[Candidate, ...]
    status: str
    complete: bool
    reason: str | None


def _break_reason(prev: Candidate, cur: Candidate, *, max_gap_s: float,
                  dec_tol: float) -> str | None:
    gap_s = (cur.mjd_mid - prev.mjd_mid) * 86400.0
    if gap_s > max_gap_s:
        return f"gap of {gap_s:.0f} s before {cur.data_id} (max {max_gap_s:.0f} s)"
    if prev.dec_deg is not None and cur.dec_deg is not None and abs(
        cur.dec_deg - prev.dec_deg
    ) > dec_tol:
        return (f"declination changes from {prev.dec_deg:.3f} to {cur.dec_deg:.3f} deg at "
                f"{cur.data_id} (tolerance {dec_tol} deg)")
    return None


def cut_groups(
    carry: Sequence[Candidate],
    new: Sequence[Candidate],
    *,
    size: int,
    overlap: int,
    max_gap_s: float,
    min_images: int,
    dec_tol: float,
) -> tuple[list[FormedGroup], list[Candidate]]:
    """Cut ``carry + new`` into groups by the module's rule.

    Parameters
    ----------
    carry : sequence of Candidate
        Images carried over from the last complete group (its last ``overlap`` images), or
        empty when the last group closed at a break or there is none.
    new : sequence of Candidate
        Images after the last formed group, in time order.
    size, overlap, max_gap_s, min_images, dec_tol
        The rule's parameters.

    Returns
    -------
    (groups, open_members)
        Groups formed now, and the members of the still-open group.

    Examples
    --------
    >>> imgs = [Candidate(f"i{k}", 60000 + k * 309 / 86400, 55.0) for k in range(12)]
    >>> groups, rest = cut_groups([], imgs, size=4, overlap=1, max_gap_s=463.5, min_images=3,
    ...                           dec_tol=0.5)
    >>> [[m.data_id for m in g.members] for g in groups]
    [['i0', 'i1', 'i2', 'i3'], ['i3', 'i4', 'i5', 'i6'], ['i6', 'i7', 'i8', 'i9']]
    >>> [m.data_id for m in rest]
    ['i9', 'i10', 'i11']
    """
    groups: list[FormedGroup] = []
    current: list[Candidate] = list(carry)
    n_new_in_current = 0
    for cand in new:
        if current:
            reason = _break_reason(current[-1], cand, max_gap_s=max_gap_s, dec_tol=dec_tol)
            if reason is not None:
                if n_new_in_current > 0:
                    if len(current) >= min_images:
                        groups.append(FormedGroup(tuple(current), "pending", False,
                                                  f"closed early: {reason}"))
                    else:
                        groups.append(FormedGroup(
                            tuple(current), "abandoned", False,
                            f"only {len(current)} image(s) (minimum {min_images}) before a "
                            f"break: {reason}"))
                current, n_new_in_current = [], 0
        current.append(cand)
        n_new_in_current += 1
        if len(current) >= size:
            groups.append(FormedGroup(tuple(current), "pending", True, None))
            current = current[len(current) - overlap:] if overlap else []
            n_new_in_current = 0
    return groups, current
