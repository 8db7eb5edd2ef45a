"""Set-up of the project's long-running processes (the API server, job workers, the stream).

Python's cyclic garbage collector now and then walks every tracked object of the process
(a generation-2 collection). After the imports of the pipeline (astropy, scipy, SQLAlchemy,
Dask, ...) that is ~130,000 objects: 75-370 ms per collection measured on the 2-core VM,
landing on whichever request or image is being served (the slowest light curve of 200 in
``bench_scale``). :func:`settle` moves the objects alive after start-up (modules, classes,
functions: alive for the whole process) to the collector's permanent generation
(:func:`gc.freeze`), so later collections walk only what the process created since.
Garbage made later is still collected; what is frozen is never freed, which is what a
module is anyway.
"""

from __future__ import annotations

import gc

__all__ = ["settle"]


def settle() -> int:
    """Collect once, then freeze the surviving objects; return how many were frozen.

    Call it once a long-running process has imported what it serves with (the API's
    lifespan, the worker after ``prepare_per_image_path``). Calling it again freezes what
    was created in between (harmless).

    Examples
    --------
    >>> settle() > 0
    True
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
