"""Storage apart from the science: where SQL may live, and the old import paths."""

import re
from pathlib import Path

import dsa110_contimg

SRC = Path(dsa110_contimg.__file__).parent
RAW = re.compile(r"raw_connection\(|\.cursor\(|dbapi_connection|\"(BEGIN|COMMIT|ROLLBACK)\b")
SQL = re.compile(
    r"(?<!\.)\b(select|insert|update|delete|text)\(|\.execute\(|\bfetch_raw\b"
    r"|(from|import) sqlalchemy"
)


def _files(*parts):
    for p in sorted((SRC.joinpath(*parts)).rglob("*.py")):
        yield p, p.read_text()


def test_raw_cursors_and_transactions_only_in_database():
    offenders = [
        str(p.relative_to(SRC))
        for p, text in _files()
        if p.relative_to(SRC).parts[0] != "database" and RAW.search(text)
    ]
    assert offenders == []


def test_variability_and_its_pipeline_hold_no_sql():
    offenders = [str(p.relative_to(SRC)) for p, text in _files("variability") if SQL.search(text)]
    offenders += [
        str(p.relative_to(SRC))
        for name in ("cli/variability.py", "catalog/store.py")
        for p, text in [(SRC / name, (SRC / name).read_text())]
        if SQL.search(text)
    ]
    assert offenders == []


def test_old_addresses_are_the_new_functions():
    from dsa110_contimg import photometry
    from dsa110_contimg.photometry import ese, lightcurve, normalize, variability
    from dsa110_contimg.variability import metrics, pipeline

    assert photometry.normalize_measurement is pipeline.normalize_measurement
    assert photometry.get_lightcurve is pipeline.get_lightcurve
    assert normalize.on_photometry_written is pipeline.on_photometry_written
    assert variability.recompute_metrics is pipeline.recompute_metrics
    assert ese.list_candidates is pipeline.list_candidates
    assert lightcurve.advance is metrics.advance
