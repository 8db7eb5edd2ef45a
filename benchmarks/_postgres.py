"""The loopback PostgreSQL server of the benchmarks: its admin URL and scratch databases."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def postgres_admin_url() -> str | None:
    """The admin URL from ``CONTIMG_TEST_POSTGRES_URL``, else from ``scripts/pg-test-server.sh``."""
    url = os.environ.get("CONTIMG_TEST_POSTGRES_URL")
    if url:
        return url
    script = ROOT / "scripts" / "pg-test-server.sh"
    try:
        proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.strip().splitlines()
    return lines[-1] if proc.returncode == 0 and lines else None


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """Create an empty database named ``<prefix>_<random>``, yield its URL, drop it after."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with eng.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        eng.dispose()
