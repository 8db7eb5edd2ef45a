"""runtime.settle: a long-running process's start-up objects out of the collector's walks."""

import subprocess
import sys


def test_settle_freezes_the_imports_and_collection_still_frees_later_garbage():
    """In a fresh interpreter (freezing the test process would keep its objects forever)."""
    code = (
        "import gc, weakref\n"
        "import dsa110_contimg.variability.pipeline\n"
        "from dsa110_contimg.runtime import settle\n"
        "n = settle()\n"
        "assert gc.get_freeze_count() == n > 10000, n\n"
        "class Node: pass\n"
        "a, b = Node(), Node(); a.b, b.a = b, a  # a cycle made after start-up\n"
        "alive = weakref.ref(a); del a, b\n"
        "gc.collect()\n"
        "assert alive() is None\n"
        "print(n)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 10000
