"""Waiting for a state without timing assumptions: poll with a generous bound, never assert time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Seconds a test waits for a state before failing (generous: a loaded machine is slow, and
#: the bound is never what a test asserts).
BOUND = 180.0


def poll(predicate: Callable[[], T], what: str, bound: float = BOUND) -> T:
    """Return the first truthy value of ``predicate()``; fail naming ``what`` after ``bound``."""
    end = time.monotonic() + bound
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"never reached: {what}")
