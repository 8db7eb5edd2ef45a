"""Server-side list state of the web pages: sort, order, page and filters read from the URL.

Every list page (images, mosaics, jobs, sources, an image's measurements) paginates and sorts
on the server, so a sort applies to the whole list and a page never carries more than
``limit`` rows. :class:`Listing` reads the query string, checks it against the page's allowed
sort keys and builds the links of the sortable headers and the pager.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

__all__ = ["BadListRequest", "Listing", "read_listing"]

MAX_LIMIT = 500


class BadListRequest(ValueError):
    """A list page was asked for with a value it cannot use (the message says which)."""


@dataclass
class Listing:
    """The state of one list page: where it is, its sort and page, and its other filters."""

    path: str
    sort: str
    order: str
    limit: int
    offset: int
    filters: dict = field(default_factory=dict)

    def url(self, **changes) -> str:
        """Return this page's URL with some parameters changed (``None`` removes one)."""
        params = {
            **{k: v for k, v in self.filters.items() if v not in (None, "")},
            "sort": self.sort,
            "order": self.order,
            "limit": self.limit,
            "offset": self.offset,
        }
        for k, v in changes.items():
            if v is None:
                params.pop(k, None)
            else:
                params[k] = v
        if params.get("offset") == 0:
            params.pop("offset")
        return f"{self.path}?{urlencode(params)}"

    def sort_url(self, key: str) -> str:
        """URL that sorts by ``key`` (toggling the order when already sorted by it)."""
        order = "asc" if (self.sort == key and self.order == "desc") else "desc"
        return self.url(sort=key, order=order, offset=0)

    def page_urls(self, total: int | None, n_items: int) -> dict:
        """Return the pager: first/last row shown, total, and prev/next URLs (or None)."""
        prev_off = max(0, self.offset - self.limit) if self.offset > 0 else None
        more = (self.offset + n_items < total) if total is not None else n_items == self.limit
        return {
            "first": self.offset + 1 if n_items else 0,
            "last": self.offset + n_items,
            "total": total,
            "prev": self.url(offset=prev_off) if prev_off is not None else None,
            "next": self.url(offset=self.offset + self.limit) if more else None,
        }

    def cursor_page_urls(
        self, total: int | None, n_items: int, page: dict, cursor: str | None
    ) -> dict:
        """Return the pager of a keyset page: prev/next URLs carry the page's cursors.

        ``page`` is the list envelope (``next_cursor``, ``prev_cursor``). Below the first
        page the rows' position is not known (``first``/``last`` are None).
        """
        nxt, prv = page.get("next_cursor"), page.get("prev_cursor")
        return {
            "first": (self.offset + 1 if n_items else 0) if cursor is None else None,
            "last": self.offset + n_items if cursor is None else None,
            "n_items": n_items,
            "total": total,
            "prev": self.url(cursor=prv, offset=0) if prv else None,
            "next": self.url(cursor=nxt, offset=0) if nxt else None,
        }


def read_listing(
    request,
    *,
    sorts,
    default_sort: str,
    default_order: str = "desc",
    default_limit: int = 50,
    filters: tuple[str, ...] = (),
) -> Listing:
    """Read sort/order/limit/offset (and ``filters``) from the request's query string.

    Raises
    ------
    BadListRequest
        An unknown sort key, an order other than asc/desc, or a non-integer page.
    """
    q = request.query_params
    sort = q.get("sort") or default_sort
    if sort not in sorts:
        raise BadListRequest(f"cannot sort by {sort!r}; choose one of {', '.join(sorts)}")
    order = (q.get("order") or default_order).lower()
    if order not in ("asc", "desc"):
        raise BadListRequest(f"order must be 'asc' or 'desc', not {order!r}")
    try:
        limit = int(q.get("limit") or default_limit)
        offset = int(q.get("offset") or 0)
    except ValueError:
        raise BadListRequest("limit and offset must be whole numbers") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadListRequest(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
    if not 0 <= offset <= 10**12:
        raise BadListRequest(f"offset must be between 0 and 10^12, not {offset}")
    return Listing(
        path=request.url.path,
        sort=sort,
        order=order,
        limit=limit,
        offset=offset,
        filters={k: q.get(k) for k in filters if q.get(k) not in (None, "")},
    )
