"""Set-up of the project's long-running processes (the API, the job worker, the main job).

Python's cyclic garbage collector now and then walks every tracked object of the process
(a generation-2 collection). After the imports of the pipeline (astropy, scipy, SQLAlchemy,
Dask, ...) that is ~130,000 objects: 75-370 ms per collection measured on the 2-core VM,
landing on whichever request or image is being served (the slowest light curve of 200 in
``bench_scale``). :func:`settle` moves the objects alive after start-up (modules, classes,
functions: alive for the whole process) to the collector's permanent generation
(:func:`gc.freeze`), so later collections walk only what the process created since.
Frozen objects are still freed when their last reference goes; only a reference cycle among
them would never be collected, which is why the library's own ``Worker`` and ``create_app``
do not call it (a test process builds and drops many of them): the commands that start the
long-running processes do (``contimg serve``; ``contimg jobs worker`` and ``contimg run``
unless ``--once``).
"""

from __future__ import annotations

import gc

__all__ = ["settle"]


def settle() -> int:
    """Collect once, then freeze the surviving objects; return how many were frozen.

    Call it once a long-running process has imported what it serves with (``contimg serve``
    after building the app, ``contimg jobs worker`` after building the worker, ``contimg
    run`` after ``prepare_per_image_path``). Calling it again freezes what was created in
    between (harmless).
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
