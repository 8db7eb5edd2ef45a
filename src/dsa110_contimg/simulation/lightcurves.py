"""Seeded multi-epoch photometry: references, stable sources, dips, per-epoch gain errors.

Shared by the normalization tests, the demo and the benchmark. :func:`simulate_lightcurves`
draws everything in memory (optionally many independent trials at once, for statistical tests);
:func:`write_simulated_photometry` stores one trial in the database exactly as the pipeline
would have (``images`` rows with their mid MJD, the data registry with QA passed, photometry
rows through :func:`dsa110_contimg.database.products.insert_photometry_rows`, the
foundation's bulk upsert) and registers the reference set.

Model: source ``j`` has flux ``S_j(t)`` (constant, or its baseline times ``1 - depth`` during a
dip); image ``i`` has a multiplicative gain ``g_i = 1 + N(0, gain_scatter)`` that scales the
whole image, noise included: ``f_ij = g_i (S_j(t_i) + N(0, noise_jy))`` with error
``g_i * noise_jy`` (the image's local rms scales with it). SNR = baseline / noise.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SimulatedPhotometry", "simulate_lightcurves", "write_simulated_photometry"]


@dataclass
class SimulatedPhotometry:
    """Truth and measurements of a simulated multi-epoch field.

    Attributes
    ----------
    catalog : str
        Catalog name of the rows (``nvss`` by default).
    source_ids : numpy.ndarray of str
        ``(S,)`` J-names.
    ra_deg, dec_deg : numpy.ndarray
        ``(S,)`` positions.
    baseline_flux_jy : numpy.ndarray
        ``(S,)`` true constant flux (outside dips).
    is_reference : numpy.ndarray of bool
        ``(S,)`` the reference set.
    has_dip : numpy.ndarray of bool
        ``(S,)`` sources given a dip.
    noise_jy : float
        Image noise before the gain.
    data_ids : numpy.ndarray of str
        ``(P,)`` image names (P = epochs x images per epoch).
    mjd : numpy.ndarray
        ``(P,)`` mid-exposure MJD of each image.
    epoch_index : numpy.ndarray of int
        ``(P,)`` the epoch (transit) of each image.
    model_flux_jy : numpy.ndarray
        ``(S, P)`` true flux at each image (dips included, no gain).
    gain : numpy.ndarray
        ``(T, P)`` multiplicative gain of each image in each trial.
    flux_jy, flux_err_jy : numpy.ndarray
        ``(T, S, P)`` measured flux and its error.
    dips : list of dict
        ``source``, ``start_epoch``, ``n_epochs``, ``depth`` of each dip.
    """

    catalog: str
    source_ids: np.ndarray
    ra_deg: np.ndarray
    dec_deg: np.ndarray
    baseline_flux_jy: np.ndarray
    is_reference: np.ndarray
    has_dip: np.ndarray
    noise_jy: float
    data_ids: np.ndarray
    mjd: np.ndarray
    epoch_index: np.ndarray
    model_flux_jy: np.ndarray
    gain: np.ndarray
    flux_jy: np.ndarray
    flux_err_jy: np.ndarray
    dips: list = field(default_factory=list)

    @property
    def snr(self) -> np.ndarray:
        """``(S,)`` baseline signal-to-noise ratio."""
        return self.baseline_flux_jy / self.noise_jy


def simulate_lightcurves(
    *,
    n_epochs: int = 100,
    images_per_epoch: int = 1,
    n_references: int = 20,
    reference_snr: tuple[float, float] = (100.0, 500.0),
    targets: Sequence[dict] = (),
    gain_scatter: float = 0.05,
    noise_jy: float = 1e-3,
    n_trials: int = 1,
    start_mjd: float = 60000.0,
    epoch_spacing_days: float = 1.0,
    image_spacing_days: float = 5.0 / 1440.0,
    field_center: tuple[float, float] = (150.0, 54.6),
    field_radius_deg: float = 1.5,
    catalog: str = "nvss",
    image_prefix: str = "sim",
    seed: int = 0,
) -> SimulatedPhotometry:
    """Draw a simulated multi-epoch field (all trials at once).

    Parameters
    ----------
    n_epochs : int
        Epochs (transits).
    images_per_epoch : int
        Consecutive images per transit (``image_spacing_days`` apart).
    n_references : int
        Reference sources, SNR uniform in ``reference_snr``.
    reference_snr : (float, float)
        SNR range of the references.
    targets : sequence of dict
        Further sources: ``{"snr": 50}`` (stable), optionally with ``dip_depth`` (fraction),
        ``dip_epochs`` and ``dip_start`` (epoch index; random in the second half when None).
    gain_scatter : float
        rms of the per-image multiplicative gain error.
    noise_jy : float
        Image noise (before the gain).
    n_trials : int
        Independent realisations of gains and noise (the sky is the same).
    start_mjd, epoch_spacing_days, image_spacing_days : float
        Timing.
    field_center : (float, float)
        RA, Dec of the field, degrees.
    field_radius_deg : float
        Sources are spread uniformly within this radius.
    catalog : str
        Catalog name of the rows.
    image_prefix : str
        Prefix of the image ``data_id`` values.
    seed : int
        Random seed.

    Returns
    -------
    SimulatedPhotometry
        Truth and measurements.

    Examples
    --------
    >>> sim = simulate_lightcurves(n_epochs=5, n_references=3, targets=[{"snr": 50}], seed=1)
    >>> sim.flux_jy.shape, int(sim.is_reference.sum())
    ((1, 4, 5), 3)
    """
    from ..catalog.ids import position_source_ids

    rng = np.random.default_rng(seed)
    n_t = len(targets)
    n_src = n_references + n_t
    snr = np.concatenate(
        [rng.uniform(*reference_snr, n_references), [float(t["snr"]) for t in targets]]
    )
    base = snr * noise_jy
    r = field_radius_deg * np.sqrt(rng.uniform(0, 1, n_src))
    phi = rng.uniform(0, 2 * np.pi, n_src)
    dec = field_center[1] + r * np.sin(phi)
    ra = (field_center[0] + r * np.cos(phi) / np.cos(np.radians(dec))) % 360.0
    ids = np.array(position_source_ids(ra, dec), dtype=object)
    # guarantee unique names (two draws could share a J-name at the catalog precision)
    seen: dict[str, int] = {}
    for i, s in enumerate(ids):
        if s in seen:
            seen[s] += 1
            ids[i] = f"{s}_{seen[s]}"
        else:
            seen[s] = 0
    n_img = n_epochs * images_per_epoch
    epoch = np.repeat(np.arange(n_epochs), images_per_epoch)
    mjd = (
        start_mjd
        + epoch * epoch_spacing_days
        + np.tile(np.arange(images_per_epoch), n_epochs) * image_spacing_days
    )
    data_ids = np.array([f"{image_prefix}-{i:05d}" for i in range(n_img)], dtype=object)
    model = np.repeat(base[:, None], n_img, axis=1)
    has_dip = np.zeros(n_src, dtype=bool)
    dips = []
    for j, t in enumerate(targets):
        depth = t.get("dip_depth")
        if not depth:
            continue
        n_dip = int(t.get("dip_epochs", 5))
        start = t.get("dip_start")
        if start is None:
            start = int(rng.integers(n_epochs // 2, max(n_epochs // 2 + 1, n_epochs - n_dip + 1)))
        src = n_references + j
        sel = (epoch >= start) & (epoch < start + n_dip)
        model[src, sel] *= 1.0 - depth
        has_dip[src] = True
        dips.append(
            {"source": src, "start_epoch": int(start), "n_epochs": n_dip, "depth": float(depth)}
        )
    gain = 1.0 + gain_scatter * rng.standard_normal((n_trials, n_img))
    noise = noise_jy * rng.standard_normal((n_trials, n_src, n_img))
    flux = gain[:, None, :] * (model[None, :, :] + noise)
    err = np.broadcast_to(gain[:, None, :] * noise_jy, flux.shape).copy()
    is_ref = np.zeros(n_src, dtype=bool)
    is_ref[:n_references] = True
    return SimulatedPhotometry(
        catalog=catalog,
        source_ids=ids,
        ra_deg=ra,
        dec_deg=dec,
        baseline_flux_jy=base,
        is_reference=is_ref,
        has_dip=has_dip,
        noise_jy=noise_jy,
        data_ids=data_ids,
        mjd=mjd,
        epoch_index=epoch,
        model_flux_jy=model,
        gain=gain,
        flux_jy=flux,
        flux_err_jy=err,
        dips=dips,
    )


def write_simulated_photometry(
    sim: SimulatedPhotometry,
    *,
    trial: int = 0,
    images: Sequence[int] | slice | None = None,
    register_references: bool = True,
    qa_failed: Sequence[int] = (),
    settings=None,
) -> list[str]:
    """Store one trial's images and photometry rows in the database.

    Parameters
    ----------
    sim : SimulatedPhotometry
        From :func:`simulate_lightcurves`.
    trial : int
        Which trial to store.
    images : sequence of int or slice, optional
        Image indices to store (default all): lets a test ingest epochs one at a time.
    register_references : bool
        Register the simulated reference set (explicit references).
    qa_failed : sequence of int
        Image indices whose QA is recorded as failed.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    list of str
        The ``data_id`` of the stored images, in order.
    """
    from ..config import resolve_settings
    from ..database import get_engine, write_transaction
    from ..database.products import existing_image_ids, insert_image_rows, insert_photometry_rows

    settings = resolve_settings(settings)
    idx = np.arange(len(sim.data_ids))
    if images is not None:
        idx = idx[images] if isinstance(images, slice) else np.asarray(images, dtype=int)
    failed = set(int(i) for i in qa_failed)
    now = time.time()
    half = 2.5 / 1440.0
    engine = get_engine(settings)
    with write_transaction(engine) as conn:
        have = existing_image_ids(conn, [sim.data_ids[i] for i in idx.tolist()])
        img_rows, reg_rows = [], []
        for i in idx.tolist():
            did = str(sim.data_ids[i])
            if did in have:
                continue
            t = float(sim.mjd[i])
            img_rows.append(
                {
                    "data_id": did,
                    "path": f"sim://{did}",
                    "kind": "image",
                    "mjd_start": t - half,
                    "mjd_mid": t,
                    "mjd_end": t + half,
                    "ra_center_deg": float(np.mean(sim.ra_deg)),
                    "dec_center_deg": float(np.mean(sim.dec_deg)),
                    "noise_jy": float(sim.noise_jy * sim.gain[trial, i]),
                    "created_at": now,
                }
            )
            reg_rows.append(
                {
                    "data_id": did,
                    "data_type": "image",
                    "path": f"sim://{did}",
                    "status": "registered",
                    "qa_status": "failed" if i in failed else "passed",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        if img_rows:
            insert_image_rows(conn, img_rows, reg_rows)
        n_src = len(sim.source_ids)
        for i in idx.tolist():
            f = sim.flux_jy[trial, :, i]
            e = sim.flux_err_jy[trial, :, i]
            insert_photometry_rows(
                conn,
                {
                    "data_id": str(sim.data_ids[i]),
                    "catalog": sim.catalog,
                    "source_id": list(sim.source_ids),
                    "ra_deg": sim.ra_deg,
                    "dec_deg": sim.dec_deg,
                    "catalog_flux_mjy": sim.baseline_flux_jy * 1e3,
                    "flux_jy": f,
                    "flux_err_jy": e,
                    "local_rms_jy": e,
                    "snr": f / e,
                    "flags": [""] * n_src,
                    "mjd": float(sim.mjd[i]),
                },
            )
    if register_references:
        from ..variability.pipeline import set_references

        set_references(
            [(sim.catalog, s) for s in sim.source_ids[sim.is_reference]], settings=settings
        )
    return [str(sim.data_ids[i]) for i in idx.tolist()]
