"""A small simulated group in the telescope's layout (1 channel per subband, 3 integrations, the
default 96 correlated antennas), written once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dsa110_contimg.simulation import group_pointing, make_uvh5_group

START = "2025-01-15T12:00:00"


@pytest.fixture(scope="session")
def small_group(tmp_path_factory):
    ra, dec = group_pointing(START, 37.0, n_integrations=3)
    sky = {"ra_deg": [ra, ra + 0.4], "dec_deg": [dec, dec - 0.3], "flux_jy": [1.0, 0.5]}
    return make_uvh5_group(
        tmp_path_factory.mktemp("small"),
        start_time=START,
        dec_deg=37.0,
        sources=sky,
        n_channels_per_subband=1,
        n_integrations=3,
        seed=1,
    )


def copy_group(
    paths, dest: Path, timestamp: str, *, subbands=None, jitter_s=None, suffix=".hdf5"
) -> list[Path]:
    """Copy subband files under another timestamp (a cheap new group for queue tests).

    ``jitter_s``: ``{subband: seconds}`` added to that subband's name timestamp, as the
    telescope's nodes date their files; ``suffix``: e.g. ``"_incomplete.hdf5"``.
    """
    from datetime import datetime, timedelta

    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for p in paths:
        sb = int(p.name.split("_sb")[1][:2])
        if subbands is not None and sb not in subbands:
            continue
        ts = timestamp
        if jitter_s and jitter_s.get(sb):
            t = datetime.fromisoformat(timestamp) + timedelta(seconds=jitter_s[sb])
            ts = t.strftime("%Y-%m-%dT%H:%M:%S")
        q = dest / f"{ts}_sb{sb:02d}{suffix}"
        shutil.copyfile(p, q)
        out.append(q)
    return out


def truncate(path: Path, fraction: float = 0.6) -> None:
    """Cut a file short, like an interrupted copy."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
