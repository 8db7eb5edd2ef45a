"""``contimg demo``: the whole pipeline, end to end, on embedded defaults.

What it does (``make demo`` runs it with ``--output-dir demo-output``):

1. **Forced photometry** on a synthetic DSA-110-like image: measured against true fluxes.
2. **Catalogs**: ingests the bundled real NVSS (CATALOG41), FIRST and VLASS samples of one sky
   area (RA 225-231 deg, Dec 45-48 deg) and builds the master catalog.
3. **Stream**: simulates a short stretch of a *corrupted* night, as the telescope delivers it:
   the transit of the VLA calibrator 0903+468 through the beam, then drift-scan UVH5 groups of
   the field from the NVSS sample, all with per-antenna gains, delays, bandpass ripple, dead
   antennas and RFI (``--no-corrupt``: clean, already calibrated data). The stream recognizes
   the calibrator group, flags it, solves and registers its tables; every science group is
   flagged, calibrated with them and imaged, registered, measured (worker); then a mosaic of
   the images is built and measured. Prints the solution set, and per image the calibration,
   the sources measured, the median measured/catalog flux and the registry status.
4. **Variability**: a month of daily images of the same field with 5% per-epoch gain errors and
   one compact source in an ESE-like dip; each image is measured by the worker and normalized
   against the master catalog's reference sources. Prints the raw and normalized scatter of the
   stable sources and the ESE candidates.

Everything is stored in the demo's state directory; ``contimg serve`` then shows it in the web
UI (the command to run is printed at the end; ``make serve-demo`` runs it).
"""

from __future__ import annotations

import logging
import shutil
import time
from importlib.resources import files
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table as RichTable

from ..config import Settings
from ._common import Groups, console, get_settings
from .serve import ui_url

log = logging.getLogger(__name__)

#: Centre of the bundled catalog sample (NVSS CATALOG41 / FIRST / VLASS, tile T22t16).
FIELD_RA_DEG = 227.5
FIELD_DEC_DEG = 46.5


def _bundled(name: str) -> Path:
    return Path(str(files("dsa110_contimg.simulation") / "data" / name))


def _demo_settings(settings: Settings, output_dir: Path) -> Settings:
    """Return the demo's settings: the caller's, with a short mosaic cadence and own folders."""
    data = settings.child_kwargs()
    data["mosaic"].update({"images_per_mosaic": 4, "overlap": 1, "min_images": 3,
                           "output_dir": str(output_dir / "mosaics")})
    # The sample's VLASS tile covers a sixth of the field: without a spectral index a compact,
    # unconfused, bright NVSS source may still serve as a reference here.
    data["catalog"]["reference_allow_unknown_spectral_index"] = True
    data["normalize"].update({"baseline_epochs": 8, "min_references": 5})
    return Settings(**data)


def _section(title: str) -> None:
    console.rule(f"[bold]{title}")


# -- 1. forced photometry ------------------------------------------------------------------


def _forced_photometry(output_dir: Path) -> None:
    from ..photometry import measure_many
    from ..simulation import make_fits_image

    _section("1. Forced photometry on a synthetic image")
    path = output_dir / "synthetic" / "forced_demo.fits"
    path.parent.mkdir(parents=True, exist_ok=True)
    truth = make_fits_image(path, shape=(800, 800), center=(FIELD_RA_DEG, FIELD_DEC_DEG),
                            pixel_scale_arcsec=15.0, beam=(75.0, 55.0, 20.0), n_sources=40,
                            flux_range_jy=(0.01, 0.5), noise_jy=1.5e-3, seed=7)
    t0 = time.perf_counter()
    res = measure_many(path, np.column_stack([truth["ra_deg"], truth["dec_deg"]]))
    dt = time.perf_counter() - t0
    pulls = (np.asarray(res["flux_jy"]) - truth["flux_jy"]) / np.asarray(res["flux_err_jy"])
    table = RichTable("source", "true mJy", "measured mJy", "error mJy", "pull", "flags")
    order = np.argsort(-np.asarray(truth["flux_jy"]))
    for i in order[:8]:
        table.add_row(str(res["source_id"][i]), f"{truth['flux_jy'][i] * 1e3:.2f}",
                      f"{res['flux_jy'][i] * 1e3:.2f}", f"{res['flux_err_jy'][i] * 1e3:.2f}",
                      f"{pulls[i]:+.2f}", str(res["flags"][i]) or "-")
    console.print(table)
    ok = np.isfinite(pulls)
    console.print(f"{len(res)} positions measured in {dt * 1e3:.0f} ms; pull std "
                  f"{np.std(pulls[ok]):.2f} (1 means calibrated errors)")


# -- 2. catalogs ---------------------------------------------------------------------------


def _catalogs(settings: Settings) -> None:
    from ..catalog import build_master_catalog, ingest_catalog, query_sources

    _section("2. Catalogs: bundled NVSS, FIRST and VLASS samples -> master catalog")
    for name, fname in (("nvss", "nvss_CATALOG41_aipsVL_cirada_T22t16.fits"),
                        ("first", "first_14dec17_cirada_T22t16.fits"),
                        ("vlass", "vlass1ql_components_cirada_T22t16.csv")):
        info = ingest_catalog(name, _bundled(fname), settings=settings)
        console.print(f"ingested {name}: {info.row_count} sources from {fname}")
    master = build_master_catalog(settings=settings)
    refs = query_sources("master", FIELD_RA_DEG, FIELD_DEC_DEG, 3.0, settings=settings)
    n_ref = int(np.sum(np.asarray(refs["is_reference"], dtype=bool)))
    console.print(f"master catalog: {master.row_count} sources, {n_ref} reference candidates")


# -- 3. stream -----------------------------------------------------------------------------


def _start_for_meridian(ra_deg: float, dec_deg: float, date: str) -> str:
    """UTC start of a group whose mid-group meridian passes ``ra_deg`` on ``date``."""
    from astropy.time import Time, TimeDelta

    from ..simulation.uvh5 import group_pointing

    t = Time(f"{date}T00:00:00", scale="utc")
    for _ in range(4):
        ra, _dec = group_pointing(t.isot, dec_deg)
        dra = ((ra_deg - ra + 180.0) % 360.0) - 180.0
        t = t + TimeDelta(dra / 360.0 * 86164.0905, format="sec")
    return t.strftime("%Y-%m-%dT%H:%M:%S")


def _photometry_summary(data_id: str, settings: Settings) -> tuple[int, float]:
    from ..database import photometry_for_data

    rows = photometry_for_data(data_id, settings=settings)
    flux = np.asarray(rows["flux_jy"], dtype=float) * 1e3
    cat = np.asarray(rows["catalog_flux_mjy"], dtype=float)
    snr = np.asarray(rows["snr"], dtype=float)
    good = np.isfinite(flux) & np.isfinite(cat) & (cat > 0) & (snr > 10)
    ratio = float(np.median(flux[good] / cat[good])) if good.any() else float("nan")
    return len(rows), ratio


#: The demo night's calibrator: 2.3 Jy at 20 cm, Dec +46.85 (0.35 deg from the field's
#: pointing), transiting about 6 h before the field.
DEMO_CALIBRATOR = "0903+468"


def _calibrator_group(incoming: Path, first_start: str, spec, settings: Settings):
    """Simulate the night's calibrator transit (before ``first_start``); return the night."""
    from astropy.time import Time, TimeDelta

    from ..simulation.scenarios import simulate_calibrator_night

    # the first transit in the 12 h before the field: inside the solution's validity window
    date = (Time(first_start, scale="utc") - TimeDelta(0.5, format="jd")).strftime(
        "%Y-%m-%dT%H:%M:%S"
    )
    night = simulate_calibrator_night(
        incoming, calibrator=DEMO_CALIBRATOR, date=date, dec_deg=FIELD_DEC_DEG,
        n_science_groups=0, corruption=spec, n_channels_per_subband=4, seed=99,
        settings=settings,
    )
    console.print(f"simulated the transit of {night.calibrator.name} "
                  f"({night.calibrator.flux_20cm_jy:g} Jy at 20 cm) at "
                  f"{Time(night.transit_mjd, format='mjd').isot[:19]} UTC")
    return night


def _print_caltables(settings: Settings) -> None:
    from ..database.caltables import list_caltables

    for c in list_caltables(settings=settings):
        qa = (f"median SNR {c.snr_median:.0f}, {len(c.antennas_flagged)} of {c.n_antennas} "
              f"antennas flagged, delay scatter {c.delay_scatter_ns or 0:.3f} ns")
        why = f" ({c.reason})" if c.reason else ""
        console.print(f"calibration solution {c.id}: {c.calibrator} transit MJD "
                      f"{c.transit_mjd:.4f}, {c.status}{why}: {qa}")


def _stream(settings: Settings, output_dir: Path, n_groups: int, corrupt: bool = True) -> None:
    from astropy.table import Table

    from ..catalog import query_sources
    from ..conversion.streaming import StreamOptions, run_pipeline
    from ..database import get_data, list_mosaics
    from ..simulation import make_uvh5_group
    from ..simulation.uvh5 import INTEGRATION_S

    _section(f"3. Stream: {n_groups} simulated drift-scan groups -> images -> photometry -> mosaic")
    incoming = output_dir / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    sky = query_sources("nvss", FIELD_RA_DEG, FIELD_DEC_DEG, 4.0, settings=settings)
    sky_table = Table({"ra_deg": sky["ra_deg"], "dec_deg": sky["dec_deg"],
                       "flux_jy": np.asarray(sky["flux_mjy"], dtype=float) / 1e3,
                       "source_id": sky["source_id"]})
    # Groups are 24 x 12.884902 s = 309 s apart: the sky drifts 1.29 deg between them. The
    # files are in the telescope's own layout (the simulator's default; docs/dsa110-files.md),
    # 4 channels per subband instead of 48 to keep the demo quick.
    first_ra = FIELD_RA_DEG - 1.29 * (n_groups - 1) / 2
    start = _start_for_meridian(first_ra, FIELD_DEC_DEG, "2025-06-01")
    from astropy.time import Time, TimeDelta

    t0 = Time(start, scale="utc")
    spec = None
    if corrupt:
        from ..simulation.corruptions import CorruptionSpec

        spec = CorruptionSpec(seed=2025)
        _calibrator_group(incoming, start, spec, settings)
    for g in range(n_groups):
        t = (t0 + TimeDelta(g * 24 * INTEGRATION_S, format="sec")).strftime("%Y-%m-%dT%H:%M:%S")
        make_uvh5_group(incoming, start_time=t, dec_deg=FIELD_DEC_DEG, sources=sky_table,
                        n_channels_per_subband=4, seed=100 + g, corruption=spec)
    console.print(f"simulated {n_groups} groups x 16 subbands into {incoming}"
                  + (" (corrupted: gains, delays, bandpass, dead antennas, RFI)" if corrupt
                     else ""))
    tic = time.perf_counter()
    result = run_pipeline(incoming, output_dir / "products",
                          options=StreamOptions(enable_photometry=True, photometry_normalize=True),
                          settings=settings, once=True, handle_signals=False)
    console.print(f"pipeline finished in {time.perf_counter() - tic:.0f} s: "
                  f"{len(result.groups)} groups, {result.photometry_items} photometry items, "
                  f"{len(result.mosaic_groups)} mosaic(s)")
    _print_caltables(settings)
    table = RichTable("image (data_id)", "group", "QA", "calibration", "sources measured",
                      "median measured/catalog", "photometry status")
    for g in result.groups:
        if g.data_id is None:
            table.add_row("-", g.group_key, "-", "-", "-", "-", f"[red]{g.status}: {g.error}")
            continue
        n, ratio = _photometry_summary(g.data_id, settings)
        rec = get_data(g.data_id, settings=settings)
        table.add_row(g.data_id, g.group_key, str(g.qa_status), str(g.calibration_status),
                      str(n), f"{ratio:.3f}", str(rec.photometry_status if rec else None))
    console.print(table)
    for m in list_mosaics(settings=settings):
        n, ratio = _photometry_summary(m.data_id, settings)
        rec = get_data(m.data_id, settings=settings)
        console.print(f"mosaic {m.data_id}: {m.n_images} images, {n} sources measured, median "
                      f"measured/catalog {ratio:.3f}, photometry "
                      f"{rec.photometry_status if rec else None}")


# -- 4. variability ------------------------------------------------------------------------


def _pick_dip_source(sky, refs: set[str], noise_jy: float) -> int:
    """Return a compact, isolated, non-reference source near SNR 50."""
    ra = np.asarray(sky["ra_deg"], dtype=float)
    dec = np.asarray(sky["dec_deg"], dtype=float)
    flux = np.asarray(sky["flux_mjy"], dtype=float) / 1e3
    best, best_cost = 0, np.inf
    for i in range(len(sky)):
        sep = np.hypot((ra - ra[i]) * np.cos(np.radians(dec[i])), dec - dec[i]) * 3600
        sep[i] = np.inf
        if sep.min() < 240 or str(sky["source_id"][i]) in refs:
            continue
        if np.hypot((ra[i] - FIELD_RA_DEG) * np.cos(np.radians(dec[i])),
                    dec[i] - FIELD_DEC_DEG) > 1.2:
            continue
        cost = abs(np.log(flux[i] / (50 * noise_jy)))
        if cost < best_cost:
            best, best_cost = i, cost
    return best


def _variability(settings: Settings, output_dir: Path, n_epochs: int) -> None:
    from astropy.table import Table
    from astropy.time import Time, TimeDelta

    from ..catalog import query_sources
    from ..jobs import Worker, trigger_photometry
    from ..simulation import make_fits_image
    from ..variability.pipeline import get_lightcurve, list_candidates

    _section(f"4. Variability: {n_epochs} daily images with 5% gain errors and one ESE-like dip")
    noise_jy = 1.5e-3
    sky = query_sources("nvss", FIELD_RA_DEG, FIELD_DEC_DEG, 2.4, settings=settings)
    master = query_sources("master", FIELD_RA_DEG, FIELD_DEC_DEG, 2.4, settings=settings)
    refs = {str(s) for s, r in zip(master["source_id"], master["is_reference"], strict=True) if r}
    dip = _pick_dip_source(sky, refs, noise_jy)
    dip_id = str(sky["source_id"][dip])
    dip_epochs = range(n_epochs // 2, n_epochs // 2 + 7)
    rng = np.random.default_rng(2025)
    gains = 1.0 + 0.05 * rng.standard_normal(n_epochs)
    epochs_dir = output_dir / "epochs"
    epochs_dir.mkdir(parents=True, exist_ok=True)
    t0 = Time("2025-07-01T08:00:00", scale="utc")
    worker = Worker(settings)
    flux0 = np.asarray(sky["flux_mjy"], dtype=float) / 1e3
    for e in range(n_epochs):
        flux = flux0 * gains[e]
        if e in dip_epochs:
            flux[dip] *= 0.75
        start = t0 + TimeDelta(e, format="jd")
        path = epochs_dir / f"epoch{e:03d}-image-pb.fits"
        make_fits_image(path, shape=(900, 900), center=(FIELD_RA_DEG, FIELD_DEC_DEG),
                        pixel_scale_arcsec=15.0, beam=(75.0, 55.0, 20.0),
                        sources=Table({"ra_deg": sky["ra_deg"], "dec_deg": sky["dec_deg"],
                                       "flux_jy": flux}),
                        noise_jy=noise_jy, seed=1000 + e, date_obs=start.isot,
                        date_end=(start + TimeDelta(309, format="sec")).isot)
        trigger_photometry(path, catalog="nvss", normalize=True, settings=settings)
    # One worker drains the queue in job order: each image is normalized as it is measured,
    # and the images measured before the baselines exist are back-filled when they do.
    worker.run(once=True)
    console.print(f"dip source: nvss {dip_id} ({flux0[dip] * 1e3:.0f} mJy, SNR ~"
                  f"{flux0[dip] / noise_jy:.0f}), 25% dip over epochs "
                  f"{dip_epochs.start}-{dip_epochs.stop - 1}")

    raw_rms, norm_rms, noise_rms = [], [], []
    bright = np.argsort(-flux0)[:40]
    for i in bright:
        if i == dip:
            continue
        lc = get_lightcurve("nvss", str(sky["source_id"][i]), series="image", settings=settings)
        lc = lc[np.asarray(lc["mjd"], dtype=float) >= t0.mjd - 0.5]
        f = np.asarray(lc["flux_jy"], dtype=float)
        nf = np.asarray(lc["normalized_flux_jy"], dtype=float)
        if np.sum(np.isfinite(nf)) >= n_epochs // 2:
            raw_rms.append(np.nanstd(f) / np.nanmean(f))
            norm_rms.append(np.nanstd(nf) / np.nanmean(nf))
            noise_rms.append(np.nanmedian(np.asarray(lc["flux_err_jy"], dtype=float) / f))
    console.print(f"{len(raw_rms)} bright stable sources: median fractional rms raw "
                  f"{np.median(raw_rms) * 100:.1f}% -> normalized {np.median(norm_rms) * 100:.1f}% "
                  f"(their measurement errors alone: {np.median(noise_rms) * 100:.1f}%)")
    cands = list_candidates(preset="moderate", settings=settings)
    table = RichTable("id", "catalog", "source", "score", "status")
    for row in cands[:8]:
        mark = " [green](the injected dip)" if str(row["source_id"]) == dip_id else ""
        table.add_row(str(row["id"]), str(row["catalog"]), f"{row['source_id']}{mark}",
                      f"{float(row['score']):.1f}", str(row["status"]))
    console.print(table)
    found = dip_id in {str(s) for s in cands["source_id"]}
    console.print("[bold green]dip flagged by the moderate preset" if found
                  else "[bold red]dip NOT flagged")


_MARKER = ".contimg-demo"


def _clear(output_dir: Path, state_dir: Path) -> None:
    """Remove a previous demo's output (only a folder the demo wrote: it holds the marker)."""
    from ..errors import ConfigError

    if output_dir.exists() and any(output_dir.iterdir()):
        if not (output_dir / _MARKER).exists():
            raise ConfigError("not a previous demo's output; choose an empty or new folder, "
                              "or pass --no-fresh", path=output_dir)
        shutil.rmtree(output_dir)
    if state_dir.exists() and state_dir.resolve().is_relative_to(output_dir):
        shutil.rmtree(state_dir)


def register(app: typer.Typer, groups: Groups) -> None:
    """Add ``contimg demo``."""

    @app.command("demo")
    def demo(
        ctx: typer.Context,
        output_dir: Annotated[Path, typer.Option(help="Where the demo writes its files.")] = Path(
            "demo-output"),
        n_groups: Annotated[
            int, typer.Option("--groups", min=1, max=1000, help="Drift-scan groups to stream.")
        ] = 4,
        n_epochs: Annotated[
            int, typer.Option("--epochs", min=1, max=10_000, help="Daily images of the field.")
        ] = 30,
        fresh: Annotated[bool, typer.Option(help="Start from an empty state and output.")] = True,
        corrupt: Annotated[bool, typer.Option(
            help="Stream a corrupted night (calibrator transit, gains, RFI) and calibrate it; "
            "--no-corrupt streams clean, already calibrated groups.")] = True,
    ) -> None:
        """Run the whole pipeline on simulated data and bundled catalogs."""
        settings = get_settings(ctx)
        output_dir = output_dir.resolve()
        if fresh:
            _clear(output_dir, Path(settings.state_dir))
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / _MARKER).write_text("written by contimg demo\n")
        settings = _demo_settings(settings, output_dir)
        _forced_photometry(output_dir)
        _catalogs(settings)
        _stream(settings, output_dir, n_groups, corrupt)
        _variability(settings, output_dir, n_epochs)
        _section("Browse the results")
        console.print(f"contimg --state-dir {settings.state_dir} serve --data-root {output_dir}"
                      "   (or: make serve-demo)")
        console.print(f"then open {ui_url(settings.api.host, settings.api.port)}")
