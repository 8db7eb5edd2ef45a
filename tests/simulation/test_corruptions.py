"""Corruptions: seeded, applied as documented, the truth reproduces what was injected."""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_contimg.simulation.corruptions import (
    CorruptionSpec,
    corrupt_visibilities,
    rfi_mask,
    score_flags,
    true_gains,
)


def _layout(n_ant=6, n_t=10, n_f=24):
    a1, a2 = np.triu_indices(n_ant)
    ants = np.arange(1, n_ant + 1)
    nbl = len(a1)
    t0 = 2460690.5
    times = t0 + np.arange(n_t) * 12.885 / 86400
    ant1 = np.tile(ants[a1], n_t)
    ant2 = np.tile(ants[a2], n_t)
    tt = np.repeat(times, nbl)
    freqs = np.linspace(1.28e9, 1.53e9, n_f)
    return ant1, ant2, tt, freqs


def test_gains_applied_and_truth_consistent():
    ant1, ant2, tt, freqs = _layout()
    spec = CorruptionSpec(seed=5, dead_noise=0, dead_zero=0, rfi_strong_channels=0,
                          rfi_burst=False, rfi_weak_fraction=0)
    data = np.ones((len(ant1), len(freqs), 2), np.complex64)
    truth = corrupt_visibilities(data, ant1=ant1, ant2=ant2, times_jd=tt, freqs_hz=freqs,
                                 spec=spec, noise_jy=1.0)
    g = true_gains(truth, np.unique(tt) - 2400000.5, freqs)
    idx = {a: i for i, a in enumerate(truth["antennas"])}
    k = 7  # any cross-correlation
    it = np.searchsorted(np.unique(tt), tt[k])
    expect = g[idx[ant1[k]], it] * np.conj(g[idx[ant2[k]], it])
    np.testing.assert_allclose(data[k], expect, rtol=1e-5)
    amp = np.asarray(truth["amp"])
    assert amp.min() >= 0.6 and amp.max() <= 1.4
    assert np.abs(truth["delay_ns"]).max() <= 5.0
    # autocorrelations stay real
    auto = ant1 == ant2
    assert np.all(data[auto].imag == 0)


def test_seeded_and_shared_across_groups():
    ant1, ant2, tt, freqs = _layout()
    spec = CorruptionSpec(seed=9)
    d1 = np.ones((len(ant1), len(freqs), 2), np.complex64)
    d2 = d1.copy()
    t1 = corrupt_visibilities(d1, ant1=ant1, ant2=ant2, times_jd=tt, freqs_hz=freqs,
                              spec=spec, noise_jy=1.0)
    t2 = corrupt_visibilities(d2, ant1=ant1, ant2=ant2, times_jd=tt + 1 / 24, freqs_hz=freqs,
                              spec=spec, noise_jy=1.0)
    # same antennas, gains, delays, dead antennas and strong RFI channels an hour later
    for key in ("amp", "phase_deg", "delay_ns", "dead_noise", "dead_zero"):
        assert t1[key] == t2[key]
    assert t1["rfi"]["strong_freqs_hz"] == t2["rfi"]["strong_freqs_hz"]
    assert t1["rfi"]["burst_time_jd"] != t2["rfi"]["burst_time_jd"]
    d3 = np.ones_like(d1)
    corrupt_visibilities(d3, ant1=ant1, ant2=ant2, times_jd=tt, freqs_hz=freqs, spec=spec,
                         noise_jy=1.0)
    np.testing.assert_array_equal(d1, d3)


def test_dead_antennas_and_rfi_mask():
    ant1, ant2, tt, freqs = _layout(n_ant=8)
    spec = CorruptionSpec(seed=2, rfi_weak_snr=6.0)
    data = np.zeros((len(ant1), len(freqs), 2), np.complex64)
    truth = corrupt_visibilities(data, ant1=ant1, ant2=ant2, times_jd=tt, freqs_hz=freqs,
                                 spec=spec, noise_jy=1.0)
    (zero,), (loud,) = truth["dead_zero"], truth["dead_noise"]
    assert np.all(data[(ant1 == zero) | (ant2 == zero)] == 0)
    assert np.std(data[((ant1 == loud) | (ant2 == loud)) & (ant1 != ant2)]) > 10
    mask = rfi_mask(truth, np.unique(tt), freqs)
    assert mask.sum(axis=0).max() == len(np.unique(tt))  # strong channels: every integration
    assert mask.sum(axis=1).max() == len(freqs)  # the burst: every channel
    # perfect flags score 1 / 0; no flags score 0 recall
    ut, ti = np.unique(tt, return_inverse=True)
    perfect = rfi_mask(truth, ut, freqs)[ti]
    s = score_flags(perfect, ant1=ant1, ant2=ant2, times_jd=tt, freqs_hz=freqs, truth=truth)
    assert s["recall"] == 1.0 and s["false_flag"] == 0.0 and s["recall_weak"] == 1.0
    s0 = score_flags(np.zeros_like(perfect), ant1=ant1, ant2=ant2, times_jd=tt,
                     freqs_hz=freqs, truth=truth)
    assert s0["recall"] == 0.0


@pytest.mark.parametrize("n", [1])
def test_simulator_writes_truth_beside_files(tmp_path, n):
    from dsa110_contimg.simulation import make_uvh5_group
    from dsa110_contimg.simulation.corruptions import read_truth

    g = make_uvh5_group(tmp_path, sources={"ra_deg": [0.0], "dec_deg": [37.0], "flux_jy": [1.0]},
                        n_channels_per_subband=1, n_integrations=3, subbands=[0, 1],
                        antennas=[1, 2, 3, 60], corruption=CorruptionSpec(seed=n))
    truth = read_truth(tmp_path / f"{g.timestamp}_corruptions.json")
    assert truth["antennas"] == g.corruption["antennas"]
    assert len(truth["antennas"]) == 4
