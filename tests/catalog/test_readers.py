"""Every catalog format parsed from the real samples (tests/data/catalogs), units spot-checked."""

import gzip
import shutil

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from dsa110_contimg.catalog.readers import FORMATS, detect_format, read_catalog
from dsa110_contimg.errors import CatalogError

from .tdat import rows_from_vizier, write_heasarc_nvss


@pytest.fixture(scope="module")
def cats(data_dir):
    return data_dir / "catalogs"


def _row(table, source_id):
    i = np.flatnonzero(np.asarray(table["source_id"]) == source_id)
    assert i.size == 1, source_id
    return table[int(i[0])]


def test_nvss_vizier_fits_sexagesimal_and_units(cats):
    r = read_catalog(cats / "nvss_vizier_VIII65_flint_extract.fits")
    assert r.format == "nvss-vizier" and len(r.table) == 639 and r.skipped == {}
    row = _row(r.table, "J060002-314014")  # '06 00 02.02' '-31 40 14.2', S1.4 = 14.6 mJy
    assert row["ra_deg"] == pytest.approx(15 * (6 + 0 / 60 + 2.02 / 3600), abs=1e-9)
    assert row["dec_deg"] == pytest.approx(-(31 + 40 / 60 + 14.2 / 3600), abs=1e-9)
    assert row["flux_mjy"] == pytest.approx(14.6)
    assert row["flux_err_mjy"] == pytest.approx(0.7, abs=1e-6)
    # e_RAJ2000 0.09 s of time -> arcsec on the sky
    assert row["ra_err_arcsec"] == pytest.approx(
        0.09 * 15 * np.cos(np.radians(row["dec_deg"])), rel=1e-6
    )
    assert row["dc_maj_arcsec"] == pytest.approx(26.5) and "dc_maj_limit=1" in row["flags"]
    assert np.isnan(row["dc_pa_deg"])  # blank PA of an unresolved source


def test_nvss_catalog41_jy_and_degrees(cats):
    r = read_catalog(cats / "nvss_CATALOG41_aipsVL_cirada_T22t16.fits")
    assert r.format == "nvss-catalog41" and len(r.table) == 562
    row = r.table[0]
    assert row["source_id"] == "J150000+450750"
    assert row["peak_flux_mjy"] == pytest.approx(37.0595, rel=1e-4)  # 0.0370595 Jy/beam
    assert row["maj_arcsec"] == pytest.approx(0.012816921 * 3600, rel=1e-6)  # degrees -> arcsec
    assert row["rms_mjy"] == pytest.approx(0.479101, rel=1e-4)
    # Gaussian integrated flux: peak * maj * min / beam^2
    assert row["flux_mjy"] == pytest.approx(37.0595 * 46.1409 * 45.2110 / 45.0**2, rel=1e-3)


def test_first_fits_units_and_sidelobes(cats):
    r = read_catalog(cats / "first_14dec17_cirada_T22t16.fits")
    assert r.format == "first-fits"
    raw = fits.getdata(cats / "first_14dec17_cirada_T22t16.fits", 1)
    n_side = int(np.sum(raw["SIDEPROB"] > 0.1))
    assert r.skipped == {"sidelobe": n_side} and len(r.table) == 998 - n_side
    row = r.table[0]  # FPEAK 51.24 mJy/beam, FINT 55.28 mJy (already mJy: no scaling)
    assert row["peak_flux_mjy"] == pytest.approx(51.24, rel=1e-5)
    assert row["flux_mjy"] == pytest.approx(55.2797, rel=1e-5)
    assert row["dc_maj_arcsec"] == pytest.approx(1.88, rel=1e-5)  # deconvolved
    assert row["maj_arcsec"] == pytest.approx(5.72, rel=1e-5)  # fitted
    assert row["source_id"] == "J150348.0+475930"  # FIRST designation JHHMMSS.s+DDMMSS
    assert 0 < row["ra_err_arcsec"] < 1


def test_first_vizier_gives_same_ids_as_fits(cats, tmp_path):
    """A VizieR VIII/92-style export (published sexagesimal precision) names sources alike."""
    from astropy.coordinates import SkyCoord

    d = fits.getdata(cats / "first_14dec17_cirada_T22t16.fits", 1)
    c = SkyCoord(d["RA"], d["DEC"], unit="deg")
    t = Table(
        {
            "RAJ2000": c.ra.to_string(unit="hour", sep=" ", precision=3, pad=True),
            "DEJ2000": c.dec.to_string(sep=" ", precision=2, alwayssign=True, pad=True),
            "p(S)": d["SIDEPROB"],
            "Fpeak": d["FPEAK"],
            "Fint": d["FINT"],
            "Rms": d["RMS"],
            "Maj": d["MAJOR"],
            "Min": d["MINOR"],
            "PA": d["POSANG"],
            "fMaj": d["FITTED_MAJOR"],
            "fMin": d["FITTED_MINOR"],
            "fPA": d["FITTED_POSANG"],
        }
    )
    t.write(tmp_path / "first_vizier.csv", format="ascii.csv")
    viz = read_catalog(tmp_path / "first_vizier.csv")
    ref = read_catalog(cats / "first_14dec17_cirada_T22t16.fits")
    assert viz.format == "first-vizier"
    assert list(viz.table["source_id"]) == list(ref.table["source_id"])
    assert np.allclose(viz.table["ra_deg"], ref.table["ra_deg"], atol=1e-6)


def test_vlass_cirada_filters_and_units(cats):
    r = read_catalog(cats / "vlass1ql_components_cirada_T22t16.csv")
    assert r.format == "vlass-cirada"
    assert len(r.table) == 658  # as PROVENANCE states for the recommended cuts
    assert r.skipped == {"empty_island": 377, "duplicate": 47, "quality": 173}
    row = _row(r.table, "VLASS1QLCIR J151140.45+475808.1")
    assert row["flux_mjy"] == pytest.approx(2.92640888973)
    assert row["ra_err_arcsec"] == pytest.approx(0.176048806428, rel=1e-6)  # deg -> arcsec
    assert "Quality_flag=0" in row["flags"] and "Duplicate_flag=1" in row["flags"]
    flags = np.asarray(r.table["flags"])
    assert not any("S_Code=E" in f for f in flags)
    assert all(("Quality_flag=0" in f) or ("Quality_flag=4" in f) for f in flags)


def test_racs_casda_sources_gaussians_and_lowercase_csv(cats, tmp_path):
    s = read_catalog(cats / "racs_low_dr1_sources_M87_arrakis.fits")
    assert s.format == "racs-casda" and len(s.table) == 1
    row = s.table[0]
    assert row["source_id"] == "J123049.4+122322"
    assert row["flux_mjy"] == pytest.approx(186673.179) and row["peak_flux_mjy"] == pytest.approx(
        60494.664
    )
    assert row["dc_maj_arcsec"] == pytest.approx(44.75) and row["maj_arcsec"] == pytest.approx(
        51.26
    )
    g = read_catalog(cats / "racs_low_dr1_gaussians_M87_arrakis.fits")
    assert len(g.table) == 3 and set(g.table["source_id"]) >= {"RACS_1237+12A_3630"}
    assert g.table["flux_mjy"][0] == pytest.approx(25908.131)
    # CASDA CSV/TAP export: lower-case names
    t = Table.read(cats / "racs_low_dr1_sources_M87_arrakis.fits", unit_parse_strict="silent")
    t.rename_columns(t.colnames, [c.lower() for c in t.colnames])
    t.rename_column("maj", "maj_axis")
    t.write(tmp_path / "racs.csv", format="ascii.csv")
    low = read_catalog(tmp_path / "racs.csv")
    assert low.format == "racs-casda" and low.table["source_id"][0] == "J123049.4+122322"
    assert low.table["maj_arcsec"][0] == pytest.approx(51.26)
    assert low.table["dc_maj_arcsec"][0] == pytest.approx(44.75)
    # VizieR J/other/PASA/38.58 layout of the same source gives the same id
    viz = Table(
        {
            "ID": ["RACS_1237+12A_3165"],
            "RACS-DR1": ["J123049.4+122322"],
            "RAJ2000": ["12 30 49.449"],
            "DEJ2000": ["+12 23 22.39"],
            "Ftot": [186673.179],
            "Fpk": [60494.664],
            "Noise": [179.419],
        }
    )
    viz.write(tmp_path / "racs_vizier.vot", format="votable")
    v = read_catalog(tmp_path / "racs_vizier.vot")
    assert v.format == "racs-vizier" and v.table["source_id"][0] == "J123049.4+122322"
    assert v.table["ra_deg"][0] == pytest.approx(187.706036, abs=1e-5)


def test_selavy_csv(cats):
    r = read_catalog(cats / "casda_selavy_components_1row_vastpipeline.csv")
    assert r.format == "selavy" and len(r.table) == 1
    row = r.table[0]
    assert row["source_id"] == "SB11711_component_9b"
    assert row["flux_mjy"] == pytest.approx(116.161) and row["peak_flux_mjy"] == pytest.approx(
        110.481
    )
    assert row["dc_maj_arcsec"] == pytest.approx(3.83) and row["rms_mjy"] == pytest.approx(0.377)


def test_aegean_jy_to_mjy_and_unfitted_errors(cats, tmp_path):
    path = cats / "racs_SB38959_RACS_1357-18_aegean_components_flint.fits"
    r = read_catalog(path)
    assert r.format == "aegean" and len(r.table) == 7225
    row = r.table[0]
    assert row["peak_flux_mjy"] == pytest.approx(16.557442, rel=1e-6)  # 0.016557 Jy
    assert row["rms_mjy"] == pytest.approx(2.3418816, rel=1e-6)
    assert "FIXED2PSF" in row["flags"]
    # an error of -1 means "not fitted": stored as NaN, never as -1 mJy or -3600 arcsec
    with fits.open(path) as hdul:
        hdul[1].data["err_int_flux"][1] = -1.0
        hdul[1].data["err_ra"][1] = -1.0
        hdul.writeto(tmp_path / "aegean.fits")
    r2 = read_catalog(tmp_path / "aegean.fits")
    assert np.isnan(r2.table["flux_err_mjy"][1]) and np.isnan(r2.table["ra_err_arcsec"][1])
    assert np.nanmin(r2.table["ra_err_arcsec"]) >= 0


def test_lsmtool_sky_model(cats):
    r = read_catalog(cats / "nvss_vizier_VIII65_lsmtool_extract.sky")
    assert r.format == "lsmtool-sky" and len(r.table) == 48 and r.skipped == {"patch": 1}
    row = _row(r.table, "J131726+445655")  # I = 0.0042 Jy, 13:17:26.56 44.56.55
    assert row["flux_mjy"] == pytest.approx(4.2)
    assert row["ra_deg"] == pytest.approx(15 * (13 + 17 / 60 + 26.56 / 3600))
    assert row["dec_deg"] == pytest.approx(44 + 56 / 60 + 55 / 3600)


# ---------------------------------------------------------------- HEASARC (generated)


@pytest.fixture(scope="module")
def vizier_nvss(cats):
    return read_catalog(cats / "nvss_vizier_VIII65_flint_extract.fits").table


@pytest.mark.parametrize("gz", [False, True])
def test_heasarc_tdat_parsed_from_header_column_order(vizier_nvss, tmp_path, gz):
    rows = rows_from_vizier(vizier_nvss, 0, 40)
    a = write_heasarc_nvss(tmp_path / ("a.tdat.gz" if gz else "a.tdat"), rows, gz=gz)
    b = write_heasarc_nvss(tmp_path / "b.tdat", rows, extra_comment_lines=17, name_prefix="")
    ra, rb = read_catalog(a), read_catalog(b)
    assert ra.format == rb.format == "nvss-heasarc"
    assert len(ra.table) == 40
    assert list(ra.table["source_id"]) == list(rb.table["source_id"])
    assert list(ra.table["source_id"]) == list(vizier_nvss["source_id"][:40])
    assert np.allclose(ra.table["flux_mjy"], vizier_nvss["flux_mjy"][:40])
    assert np.allclose(ra.table["ra_err_arcsec"], vizier_nvss["ra_err_arcsec"][:40], rtol=0.06)
    assert list(ra.table["flags"]) == list(vizier_nvss["flags"][:40])


def test_heasarc_malformed_and_truncated(vizier_nvss, tmp_path):
    rows = rows_from_vizier(vizier_nvss, 0, 5)
    path = write_heasarc_nvss(tmp_path / "bad.tdat", rows)
    lines = path.read_text().splitlines()
    data_start = lines.index("<DATA>") + 1
    bad = list(lines)
    bad[data_start + 2] = bad[data_start + 2].replace("|", "|x|", 1)  # one extra field
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(CatalogError, match=rf"bad.tdat: line {data_start + 3}: expected 26"):
        read_catalog(path)
    bad = list(lines)
    fields = bad[data_start + 1].split("|")
    fields[7] = "12..5"  # flux_20_cm
    bad[data_start + 1] = "|".join(fields)
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(CatalogError, match=rf"line {data_start + 2}: column 'flux_20_cm'"):
        read_catalog(path)
    trunc = write_heasarc_nvss(tmp_path / "trunc.tdat.gz", rows, gz=True, trailer="")
    with pytest.raises(CatalogError, match="truncated"):
        read_catalog(trunc)


def test_same_nvss_source_same_id_from_every_nvss_format(vizier_nvss, cats, tmp_path):
    """VizieR (FITS, CSV strings, VOTable), HEASARC tdat and CATALOG41 name a source alike.

    The real CATALOG41 and VizieR samples cover different sky areas, so the same 60 VizieR
    rows are written in the other layouts here and read back.
    """
    n = 60
    raw = Table.read(cats / "nvss_vizier_VIII65_flint_extract.fits", unit_parse_strict="silent")[:n]
    ids = list(vizier_nvss["source_id"][:n])
    # VizieR CSV with only the sexagesimal strings, and a VOTable
    csv = raw.copy()
    csv.remove_columns(["_RAJ2000", "_DEJ2000"])
    csv.write(tmp_path / "nvss.csv", format="ascii.csv")
    raw.write(tmp_path / "nvss.vot", format="votable")
    # HEASARC tdat
    write_heasarc_nvss(tmp_path / "nvss.tdat.gz", rows_from_vizier(vizier_nvss, 0, n), gz=True)
    # CATALOG41 (AIPS VL) rows at the same positions
    ra, dec = np.asarray(vizier_nvss["ra_deg"][:n]), np.asarray(vizier_nvss["dec_deg"][:n])
    vl = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="RA(2000)", format="D", unit="DEGREE", array=ra),
            fits.Column(name="DEC(2000)", format="D", unit="DEGREE", array=dec),
            fits.Column(name="PEAK INT", format="E", unit="JY/BEAM", array=np.full(n, 0.01)),
            fits.Column(name="MAJOR AX", format="E", unit="DEGREE", array=np.full(n, 0.0125)),
            fits.Column(name="MINOR AX", format="E", unit="DEGREE", array=np.full(n, 0.0125)),
            fits.Column(name="POSANGLE", format="E", unit="DEGREEE", array=np.zeros(n)),
            fits.Column(name="I RMS", format="E", unit="JY/BEAM", array=np.full(n, 4.5e-4)),
            fits.Column(name="CENTER X", format="E", unit="PIXEL", array=np.full(n, 500.0)),
            fits.Column(name="CENTER Y", format="E", unit="PIXEL", array=np.full(n, 500.0)),
            fits.Column(name="FIELD", format="8A", array=np.full(n, "C0600M32")),
        ],
        name="AIPS VL",
    )
    vl.writeto(tmp_path / "CATALOG41.FIT")
    # VizieR ASCII (TSV): '#' comments, header, units line, dashes line, then data
    cols = csv.colnames
    lines = ["#RESOURCE=yCat_8065", "#Name: VIII/65/nvss", "\t".join(cols)]
    lines.append("\t".join("" if csv[c].unit is None else str(csv[c].unit) for c in cols))
    lines.append("\t".join("-" * max(len(c), 3) for c in cols))
    for row in csv:
        lines.append("\t".join("" if np.ma.is_masked(row[c]) else str(row[c]) for c in cols))
    (tmp_path / "nvss.tsv").write_text("\n".join(lines) + "\n")
    for name, fmt in [
        ("nvss.tsv", "nvss-vizier"),
        ("nvss.csv", "nvss-vizier"),
        ("nvss.vot", "nvss-vizier"),
        ("nvss.tdat.gz", "nvss-heasarc"),
        ("CATALOG41.FIT", "nvss-catalog41"),
    ]:
        r = read_catalog(tmp_path / name)
        assert r.format == fmt, name
        assert list(r.table["source_id"]) == ids, name


def test_malformed_csv_row_names_file_and_line(cats, tmp_path):
    src = cats / "vlass1ql_components_cirada_T22t16.csv"
    lines = src.read_text().splitlines()
    fields = lines[600].split(",")
    fields[3] = "22x.5"  # RA
    lines[600] = ",".join(fields)
    bad = tmp_path / "vlass_bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(CatalogError, match=r"vlass_bad.csv: line 601: column 'RA'"):
        read_catalog(bad)
    lines[600] = "a,b,c"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(CatalogError, match=r"line 601: expected 70 fields, found 3"):
        read_catalog(bad)


def test_fits_row_without_position_is_refused(cats, tmp_path):
    with fits.open(cats / "nvss_CATALOG41_aipsVL_cirada_T22t16.fits") as hdul:
        hdul[1].data["DEC(2000)"][9] = np.nan
        hdul.writeto(tmp_path / "vl.fits")
    with pytest.raises(CatalogError, match=r"vl.fits: row 10: invalid position"):
        read_catalog(tmp_path / "vl.fits")


def test_detection_and_forced_format(cats, tmp_path):
    assert detect_format(cats / "vlass1ql_components_cirada_T22t16.csv") == "vlass-cirada"
    with pytest.raises(CatalogError, match="unrecognized catalog format"):
        read_catalog(cats / "vlass1ql_subtile_info_cirada_T22t16.csv")
    with pytest.raises(CatalogError, match="unknown format"):
        read_catalog(cats / "vlass1ql_components_cirada_T22t16.csv", format="nope")
    # a gzip-compressed CSV is read transparently, and --format forces a reader
    gz = tmp_path / "v.csv.gz"
    with (
        open(cats / "vlass1ql_components_cirada_T22t16.csv", "rb") as src,
        gzip.open(gz, "wb") as dst,
    ):
        shutil.copyfileobj(src, dst)
    assert len(read_catalog(gz, format="vlass-cirada").table) == 658
    assert "nvss-heasarc" in FORMATS and "lsmtool-sky" in FORMATS
    with pytest.raises(CatalogError, match="not found"):
        read_catalog(tmp_path / "missing.fits")
