"""A small calibrator night (3C286 transit + a science group 1 h later), clean and corrupted.

21 antennas, 16 subbands x 4 channels, 12 integrations: small enough for two shared cores.
The clean and the corrupted runs share the noise (same seeds), so corrected/clean ratios
measure the calibration alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dsa110_contimg.calibration.casa import casa_available

ANTENNAS = list(range(1, 103, 5))  # 21 antennas on both arms
# 4 channels per subband: the recipe flags the channel of the intermittent weak RFI whole, and
# at 2 channels that one channel is 1/32 of the band, alone ~1% false flags (at the real 48
# channels it is 1/768)
N_CHAN = 4
N_INT = 24

needs_casa = pytest.mark.skipif(not casa_available(), reason="casatasks not installed")


@pytest.fixture(scope="session")
def cal_night(tmp_path_factory):
    """dict: 'clean'/'corrupt' -> (CalibratorNight, [cal MS, science MS])."""
    from dsa110_contimg.conversion.uvh5_to_ms import convert_group
    from dsa110_contimg.simulation.corruptions import CorruptionSpec
    from dsa110_contimg.simulation.scenarios import simulate_calibrator_night

    root = tmp_path_factory.mktemp("calnight")
    out = {}
    for tag, spec in (("clean", None), ("corrupt", CorruptionSpec(seed=3))):
        night = simulate_calibrator_night(
            root / tag, corruption=spec, n_channels_per_subband=N_CHAN, n_integrations=N_INT,
            antennas=ANTENNAS, seed=1,
        )
        mss = []
        for g in [night.calibrator_group, *night.science_groups]:
            r = convert_group(g.paths, root / f"{tag}_{g.timestamp}.ms")
            mss.append(r.ms_path)
        out[tag] = (night, mss)
    return out


@pytest.fixture
def fresh_ms(tmp_path):
    """Copy a session MS so a test may modify it."""
    import shutil

    def _copy(ms: Path) -> Path:
        dest = tmp_path / ms.name
        shutil.copytree(ms, dest)
        return dest

    return _copy
