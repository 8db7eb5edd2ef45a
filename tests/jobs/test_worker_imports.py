"""A broken import of the normalization stage is an error, never "normalization off"."""

import subprocess
import sys

CODE = """
import sys
sys.modules["dsa110_contimg.variability.pipeline"] = None  # importing it now raises ImportError
from dsa110_contimg.config import Settings
from dsa110_contimg.jobs import Worker
try:
    Worker(Settings(state_dir=sys.argv[1]))
except ImportError as exc:
    print("ImportError", exc)
else:
    print("swallowed")
"""


def test_worker_raises_when_normalization_fails_to_import(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", CODE, str(tmp_path / "state")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.startswith("ImportError"), out.stdout + out.stderr
    assert "dsa110_contimg.variability.pipeline" in out.stdout


def test_stream_refuses_normalize_naming_the_failed_import(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['dsa110_contimg.variability.pipeline'] = None\n"
        "from dsa110_contimg.conversion.streaming.streamer import check_normalize_available\n"
        "from dsa110_contimg.errors import ConfigError\n"
        "try:\n"
        "    check_normalize_available()\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "failed to import" in out.stdout, out.stdout + out.stderr
