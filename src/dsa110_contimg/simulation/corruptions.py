"""Instrumental corruptions and RFI for simulated visibilities, with the truth kept.

:func:`corrupt_visibilities` works on plain arrays (one antenna pair, time and frequency per
visibility), so it does not depend on how the simulator lays out its files. It multiplies
each visibility by ``g_i(t, f, p) * conj(g_j(t, f, p))`` where the per-antenna,
per-polarization gain is

``g = A * (1 + a_d sin(2 pi (t - t0) / P + phi_a)) * exp(i (theta + d_theta sin(...)))``
``    * B(f) * exp(-2 pi i f tau)``

with an amplitude ``A`` uniform in ``amp_range`` (0.6-1.4), any phase ``theta``, a slow
sinusoidal drift (``drift_fraction``, ``drift_phase_deg``, period ``drift_period_hours``, in
absolute time so that two groups simulated apart in time see the same gains), a delay ``tau``
of a few ns and a smooth bandpass ripple ``B(f)`` (a few low-order cosines across the band,
amplitude and phase). The per-antenna parameters depend only on ``seed``: every group of a
night simulated with the same :class:`CorruptionSpec` shares them.

Then dead antennas (loud noise, or zeros) and RFI are added: strong narrow-band channels (all
integrations), a broadband burst (all channels of one integration) and a weak intermittent
narrow-band signal (one channel, a random subset of integrations), each with a random phase
per visibility, in units of the thermal noise per visibility. The strong narrow-band channels
are the same in every group of a night (persistent transmitters); the burst, the channel and
the times of the weak signal are seeded by ``seed`` and the group's first time, so groups
differ.

The truth (gains, delays, dead antennas, RFI channels and times) is a JSON-able dict;
:func:`true_gains` evaluates the gains it describes and :func:`rfi_mask` rebuilds the RFI
mask for any (time, frequency) grid.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "CorruptionSpec",
    "corrupt_visibilities",
    "read_truth",
    "rfi_mask",
    "true_gains",
    "truth_antenna_numbers",
    "write_truth",
]

#: Reference time of the gain drift (MJD): the drift depends on absolute time only.
DRIFT_T0_MJD = 60000.0


@dataclass(frozen=True)
class CorruptionSpec:
    """What to corrupt and how much.

    Parameters
    ----------
    seed : int
        Seed of the per-antenna parameters (shared by all groups of a night).
    amp_range : tuple of float
        Range of the gain amplitudes.
    drift_fraction : float
        Amplitude of the slow sinusoidal gain-amplitude drift (fraction).
    drift_phase_deg : float
        Amplitude of the slow gain-phase drift (degrees).
    drift_period_hours : float
        Period of the drift.
    max_delay_ns : float
        Delays are uniform in ``[-max_delay_ns, max_delay_ns]``.
    bandpass_ripple : float
        Amplitude of the smooth bandpass ripple (fraction).
    bandpass_phase_deg : float
        Amplitude of the smooth bandpass phase ripple (degrees).
    dead_noise : int
        Antennas whose visibilities are replaced by loud noise.
    dead_zero : int
        Antennas whose visibilities are zeros.
    dead_noise_factor : float
        The loud noise, in units of the thermal noise per visibility.
    rfi_strong_channels : int
        Channels hit by strong narrow-band RFI in every integration.
    rfi_strong_snr : float
        Amplitude of the strong RFI in units of the thermal noise per visibility.
    rfi_burst : bool
        Add a broadband burst in one integration.
    rfi_burst_snr : float
        Amplitude of the burst (thermal-noise units).
    rfi_weak_fraction : float
        Fraction of the integrations in which the weak narrow-band signal is on (0: none).
    rfi_weak_snr : float
        Amplitude of the weak signal (thermal-noise units).
    rfi_reference_jy : float, optional
        The RFI unit when the visibilities have no noise (default: the thermal noise passed
        to :func:`corrupt_visibilities`, or 1 Jy when that is 0).
    """

    seed: int = 0
    amp_range: tuple[float, float] = (0.6, 1.4)
    drift_fraction: float = 0.002
    drift_phase_deg: float = 0.5
    drift_period_hours: float = 12.0
    max_delay_ns: float = 5.0
    bandpass_ripple: float = 0.05
    bandpass_phase_deg: float = 3.0
    dead_noise: int = 1
    dead_zero: int = 1
    dead_noise_factor: float = 30.0
    rfi_strong_channels: int = 2
    rfi_strong_snr: float = 50.0
    rfi_burst: bool = True
    rfi_burst_snr: float = 20.0
    rfi_weak_fraction: float = 0.3
    rfi_weak_snr: float = 6.0
    rfi_reference_jy: float | None = None
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Return the specification as a JSON-able dict."""
        d = asdict(self)
        d["amp_range"] = list(self.amp_range)
        return d


def _antenna_parameters(spec: CorruptionSpec, antennas: np.ndarray, band: tuple[float, float]):
    """Per-antenna, per-polarization parameters drawn from ``spec.seed`` (order of ``antennas``)."""
    rng = np.random.default_rng([spec.seed, 13])
    na = len(antennas)
    amp = rng.uniform(*spec.amp_range, size=(na, 2))
    phase = rng.uniform(-180.0, 180.0, size=(na, 2))
    delay = rng.uniform(-spec.max_delay_ns, spec.max_delay_ns, size=(na, 2))
    drift_phi = rng.uniform(0, 2 * np.pi, size=na)
    # smooth bandpass: three cosines across the band (amplitude and phase)
    bp_amp = rng.normal(0, 1, size=(na, 2, 3))
    bp_amp *= spec.bandpass_ripple / np.maximum(np.abs(bp_amp).sum(axis=-1, keepdims=True), 1e-9)
    bp_pha = rng.normal(0, 1, size=(na, 2, 3))
    bp_pha *= spec.bandpass_phase_deg / np.maximum(np.abs(bp_pha).sum(axis=-1, keepdims=True), 1e-9)
    bp_off = rng.uniform(0, 2 * np.pi, size=(na, 2, 3))
    order = rng.permutation(na)
    dead_noise = sorted(int(antennas[i]) for i in order[: spec.dead_noise])
    dead_zero = sorted(
        int(antennas[i]) for i in order[spec.dead_noise : spec.dead_noise + spec.dead_zero]
    )
    return {
        "antennas": [int(a) for a in antennas],
        "band_hz": [float(band[0]), float(band[1])],
        "amp": amp.tolist(),
        "phase_deg": phase.tolist(),
        "delay_ns": delay.tolist(),
        "drift_phi": drift_phi.tolist(),
        "bp_amp": bp_amp.tolist(),
        "bp_phase_deg": bp_pha.tolist(),
        "bp_offset": bp_off.tolist(),
        "dead_noise": dead_noise,
        "dead_zero": dead_zero,
    }


def true_gains(truth: dict, times_mjd: np.ndarray, freqs_hz: np.ndarray) -> np.ndarray:
    """Evaluate the injected complex gains.

    Parameters
    ----------
    truth : dict
        The truth returned by :func:`corrupt_visibilities` (or read by :func:`read_truth`).
    times_mjd : numpy.ndarray
        Times (MJD).
    freqs_hz : numpy.ndarray
        Frequencies (Hz).

    Returns
    -------
    numpy.ndarray
        ``(n_antennas, n_times, n_freqs, 2)`` complex gains, antennas in ``truth["antennas"]``
        order, polarizations XX/YY.
    """
    spec = truth["spec"]
    times = np.atleast_1d(np.asarray(times_mjd, dtype=float))
    freqs = np.atleast_1d(np.asarray(freqs_hz, dtype=float))
    amp = np.asarray(truth["amp"])  # (na, 2)
    pha = np.radians(np.asarray(truth["phase_deg"]))
    tau = np.asarray(truth["delay_ns"]) * 1e-9
    phi = np.asarray(truth["drift_phi"])  # (na,)
    lo, hi = truth["band_hz"]
    x = (freqs - lo) / (hi - lo)  # 0..1 across the band
    k = np.arange(1, 4)
    arg = 2 * np.pi * k[None, None, None, :] * x[None, None, :, None] / 2.0  # (1,1,nf,3)
    off = np.asarray(truth["bp_offset"])[:, :, None, :]  # (na,2,1,3)
    bpa = 1 + (np.asarray(truth["bp_amp"])[:, :, None, :] * np.cos(arg + off)).sum(-1)
    bpp = np.radians(
        (np.asarray(truth["bp_phase_deg"])[:, :, None, :] * np.sin(arg + off)).sum(-1)
    )  # (na, 2, nf)
    period = spec["drift_period_hours"] / 24.0
    s = np.sin(2 * np.pi * (times[None, :] - DRIFT_T0_MJD) / period + phi[:, None])  # (na, nt)
    drift_amp = 1 + spec["drift_fraction"] * s
    drift_pha = np.radians(spec["drift_phase_deg"]) * s
    g = (
        amp[:, None, None, :]
        * drift_amp[:, :, None, None]
        * np.exp(1j * (pha[:, None, None, :] + drift_pha[:, :, None, None]))
        * np.moveaxis(bpa * np.exp(1j * bpp), 1, 2)[:, None, :, :]
        * np.exp(-2j * np.pi * freqs[None, None, :, None] * tau[:, None, None, :])
    )
    return g


def corrupt_visibilities(
    data: np.ndarray,
    *,
    ant1: np.ndarray,
    ant2: np.ndarray,
    times_jd: np.ndarray,
    freqs_hz: np.ndarray,
    spec: CorruptionSpec,
    noise_jy: float,
    band_hz: tuple[float, float] | None = None,
    antenna_names: dict | None = None,
) -> dict:
    """Corrupt visibilities in place and return the truth.

    Parameters
    ----------
    data : numpy.ndarray
        ``(n_vis, n_freqs, 2)`` complex visibilities (XX, YY), modified in place.
    ant1, ant2 : numpy.ndarray
        Antenna numbers of each visibility (``V = g1 conj(g2) V_true``).
    times_jd : numpy.ndarray
        Time (JD UTC) of each visibility.
    freqs_hz : numpy.ndarray
        Frequencies of the channels.
    spec : CorruptionSpec
        What to inject.
    noise_jy : float
        Thermal noise per visibility (real and imaginary part): the unit of the RFI and of the
        dead antennas' loud noise.
    band_hz : tuple of float, optional
        Band over which the bandpass ripple is defined (default: the edges of ``freqs_hz``);
        pass the full band when corrupting a part of it.
    antenna_names : dict, optional
        ``{antenna number: name}``; kept in the truth (``antenna_names``, aligned with
        ``antennas``) so that a Measurement Set's antennas can be matched by name whatever
        their numbering.

    Returns
    -------
    dict
        The truth: ``spec``, ``antennas``, per-antenna gain parameters (see :func:`true_gains`),
        ``delay_ns``, ``dead_noise``, ``dead_zero`` and ``rfi`` (``strong_freqs_hz``,
        ``burst_time_jd``, ``weak_freq_hz``, ``weak_times_jd``).
    """
    ant1 = np.asarray(ant1)
    ant2 = np.asarray(ant2)
    times_jd = np.asarray(times_jd, dtype=float)
    freqs = np.asarray(freqs_hz, dtype=float)
    if band_hz is None:
        band_hz = (float(freqs.min()), float(freqs.max()))
    antennas = np.unique(np.concatenate([ant1, ant2]))
    truth = _antenna_parameters(spec, antennas, band_hz)
    truth["spec"] = spec.to_dict()
    if antenna_names is not None:
        truth["antenna_names"] = [str(antenna_names[int(a)]) for a in antennas]
    index = {int(a): i for i, a in enumerate(antennas)}
    i1 = np.array([index[int(a)] for a in ant1])
    i2 = np.array([index[int(a)] for a in ant2])
    utimes, tidx = np.unique(times_jd, return_inverse=True)
    g = true_gains(truth, utimes - 2400000.5, freqs).astype(np.complex64)  # (na, nt, nf, 2)
    step = max(1, 2_000_000 // max(1, data.shape[1] * data.shape[2]))  # bounded memory
    for start in range(0, len(data), step):
        sl = slice(start, start + step)
        data[sl] *= g[i1[sl], tidx[sl]] * np.conj(g[i2[sl], tidx[sl]])

    unit = spec.rfi_reference_jy or (noise_jy if noise_jy > 0 else 1.0)
    rng = np.random.default_rng([spec.seed, 7, int(round(utimes[0] * 86400.0)) % (2**31)])
    nf, nt = len(freqs), len(utimes)

    def rand_phase(shape):
        return np.exp(2j * np.pi * rng.random(shape)).astype(np.complex64)

    # RFI: channels away from the band edges, distinct; the strong narrow-band channels are
    # persistent (same frequencies every group of the night, like real transmitters)
    chans = np.random.default_rng([spec.seed, 11]).permutation(
        np.arange(1, nf - 1) if nf > 3 else np.arange(nf)
    )
    strong = sorted(int(c) for c in chans[: spec.rfi_strong_channels])
    # the weak intermittent signal comes and goes: its channel differs from group to group
    free = chans[spec.rfi_strong_channels :]
    weak = int(rng.choice(free)) if spec.rfi_weak_fraction > 0 and len(free) else None
    for c in strong:
        data[:, c, :] += spec.rfi_strong_snr * unit * rand_phase(data[:, c, :].shape)
    burst_t = None
    if spec.rfi_burst and nt > 2:
        burst_t = int(rng.integers(1, nt - 1))
        rows = tidx == burst_t
        data[rows] += spec.rfi_burst_snr * unit * rand_phase(data[rows].shape)
    weak_times = []
    if weak is not None:
        on = np.flatnonzero(rng.random(nt) < spec.rfi_weak_fraction)
        if len(on) == 0:
            on = np.array([nt // 2])
        weak_times = [float(utimes[i]) for i in on]
        rows = np.isin(tidx, on)
        data[rows, weak, :] += spec.rfi_weak_snr * unit * rand_phase(data[rows, weak, :].shape)
    # dead antennas (after the RFI: a dead antenna delivers nothing but its own noise)
    for a in truth["dead_noise"]:
        rows = (ant1 == a) | (ant2 == a)
        shape = data[rows].shape
        loud = spec.dead_noise_factor * unit
        data[rows] = (
            loud * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
        ).astype(np.complex64)
    for a in truth["dead_zero"]:
        data[(ant1 == a) | (ant2 == a)] = 0
    auto = ant1 == ant2  # autocorrelations stay real (a power)
    data[auto] = np.abs(data[auto])
    truth["rfi"] = {
        "unit_jy": float(unit),
        "strong_freqs_hz": [float(freqs[c]) for c in strong],
        "burst_time_jd": float(utimes[burst_t]) if burst_t is not None else None,
        "weak_freq_hz": float(freqs[weak]) if weak is not None else None,
        "weak_times_jd": weak_times,
    }
    return truth


def rfi_mask(truth: dict, times_jd: np.ndarray, freqs_hz: np.ndarray, *, kind: str = "all"):
    """Return the injected RFI on a (time, frequency) grid.

    Parameters
    ----------
    truth : dict
        From :func:`corrupt_visibilities` / :func:`read_truth`.
    times_jd, freqs_hz : numpy.ndarray
        The grid (times as JD UTC; matched within 1 s, frequencies within 1 Hz).
    kind : str
        ``"all"``, ``"strong"`` (narrow-band channels and the burst) or ``"weak"``.

    Returns
    -------
    numpy.ndarray
        ``(n_times, n_freqs)`` boolean.
    """
    t = np.asarray(times_jd, dtype=float)[:, None]
    f = np.asarray(freqs_hz, dtype=float)[None, :]
    rfi = truth["rfi"]
    mask = np.zeros((t.shape[0], f.shape[1]), dtype=bool)
    if kind in ("all", "strong"):
        for fs in rfi["strong_freqs_hz"]:
            mask |= np.abs(f - fs) < 1.0
        if rfi["burst_time_jd"] is not None:
            mask |= np.abs(t - rfi["burst_time_jd"]) * 86400 < 1.0
    if kind in ("all", "weak") and rfi["weak_freq_hz"] is not None:
        on = np.zeros(t.shape, dtype=bool)
        for tw in rfi["weak_times_jd"]:
            on |= np.abs(t - tw) * 86400 < 1.0
        mask |= on & (np.abs(f - rfi["weak_freq_hz"]) < 1.0)
    return mask


def write_truth(truth: dict, path: str | Path) -> Path:
    """Write the truth as JSON (beside the simulated files)."""
    path = Path(path)
    path.write_text(json.dumps(truth, indent=1))
    return path


def read_truth(path: str | Path) -> dict:
    """Read a truth file written by :func:`write_truth`."""
    return json.loads(Path(path).read_text())


def score_flags(
    flags: np.ndarray,
    *,
    ant1: np.ndarray,
    ant2: np.ndarray,
    times_jd: np.ndarray,
    freqs_hz: np.ndarray,
    truth: dict,
) -> dict[str, float]:
    """Compare flags with the injected RFI (cross-correlations of live antennas only).

    Parameters
    ----------
    flags : numpy.ndarray
        ``(n_vis, n_freqs)`` or ``(n_vis, n_freqs, n_pol)`` boolean (any polarization flagged
        counts).
    ant1, ant2 : numpy.ndarray
        Antenna numbers of each visibility (as in ``truth["antennas"]``).
    times_jd : numpy.ndarray
        Time of each visibility (JD UTC).
    freqs_hz : numpy.ndarray
        Channel frequencies.
    truth : dict
        The injected corruptions.

    Returns
    -------
    dict
        ``recall`` (all RFI), ``recall_strong``, ``recall_weak``, ``false_flag`` (fraction of the
        RFI-free visibilities flagged) and ``flagged`` (fraction of all).
    """
    f = np.asarray(flags, dtype=bool)
    if f.ndim == 3:
        f = f.any(axis=-1)
    dead = set(truth["dead_noise"]) | set(truth["dead_zero"])
    live = (ant1 != ant2) & ~np.isin(ant1, list(dead)) & ~np.isin(ant2, list(dead))
    utimes, tidx = np.unique(np.asarray(times_jd, float), return_inverse=True)
    out = {"flagged": float(f[live].mean())}
    for kind in ("all", "strong", "weak"):
        m = rfi_mask(truth, utimes, freqs_hz, kind=kind)[tidx][live]
        key = "recall" if kind == "all" else f"recall_{kind}"
        out[key] = float(f[live][m].mean()) if m.any() else float("nan")
        if kind == "all":
            out["false_flag"] = float(f[live][~m].mean())
    return out


def truth_antenna_numbers(truth: dict, names) -> np.ndarray:
    """Map antenna names (e.g. a Measurement Set's ``ANTENNA.NAME``) to the truth's numbers.

    Names the truth does not know map to -1.
    """
    lookup = dict(zip(truth.get("antenna_names", []), truth["antennas"], strict=True))
    return np.array([lookup.get(str(n), -1) for n in names])
