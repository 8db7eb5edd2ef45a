"""A worker whose measurements wait at a gate (a named pipe) the test opens: no timing.

``python -m tests.jobs.gate ARGS...`` runs ``contimg ARGS...`` with the task replaced by
:func:`gated_measure`, which blocks reading the FIFO named by ``CONTIMG_TEST_GATE`` until the
test writes to it (and closes it), then measures for real. The task runs in the worker's real
process pool, so signals, pool processes and the database are all the real ones.
"""

from __future__ import annotations

import os
import sys


def gated_measure(fits_path, *args):
    """Wait for the test to open the gate, then measure the item."""
    from dsa110_contimg.jobs.tasks import measure_item

    with open(os.environ["CONTIMG_TEST_GATE"], "rb") as fh:
        fh.read()
    return measure_item(fits_path, *args)


def main() -> int:
    import dsa110_contimg.jobs.worker as worker
    from dsa110_contimg.cli import main as cli_main

    worker.measure_item = gated_measure
    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
