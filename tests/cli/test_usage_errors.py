"""Every usage error of every command is one clean line plus the usage, exit status 2.

The command tree is walked, so a command added later is checked without touching this file.
Other failures (disk full, numbers out of range, a bad database) are one typed line too.
"""

from __future__ import annotations

import enum

import pytest

from dsa110_contimg.cli import main
from dsa110_contimg.cli._run import build_command, iter_commands

ROOT = build_command()
LEAVES = [(p, c) for p, c in iter_commands(ROOT) if p and not getattr(c, "commands", None)]
GROUPS = [(p, c) for p, c in iter_commands(ROOT) if getattr(c, "commands", None)]

#: Number parameters that may legitimately take any value, with the reason.
UNBOUNDED_NUMBERS: dict[str, str] = {
    "verbose": "a counting flag (-v, -vv): its value is the number of times it is given",
}

#: String parameters that are free text (not a choice), with the reason.
FREE_TEXT: dict[str, str] = {
    "name": "a catalog name: any ingested catalog",
    "url": "a URL",
    "format": "a reader name, checked against the registered readers with a clear error",
    "database_url": "a database URL, checked when the engine is made (typed DatabaseError)",
    "catalog": "a catalog name: any ingested catalog",
    "photometry_catalog": "a catalog name: any ingested catalog",
    "note": "free text",
    "source_id": "a catalog source id",
    "data_id": "a registry id or path",
    "image": "a registry data_id",
    "host": "an interface name or address, checked when the socket is bound",
    "dask_scheduler": "a Dask scheduler address, checked on connection (JobError)",
    "start": "an ISO time, parsed by astropy with a clear error",
    "calibrator": "a calibrator name or 3C name, looked up in the bundled list with a clear error",
}


def _run(capsys, argv):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def _assert_clean_usage(code, err, path):
    assert code == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines[0].startswith("contimg") and ": error: " in lines[0], err
    assert any(ln.startswith(f"Usage: contimg {' '.join(path)}".rstrip()) for ln in lines), err


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    for k in list(__import__("os").environ):
        if k.startswith("CONTIMG_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("CONTIMG_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)


def test_unknown_command(capsys):
    code, _, err = _run(capsys, ["foo"])
    _assert_clean_usage(code, err, [])
    assert "No such command 'foo'" in err


def test_no_command_at_all(capsys):
    code, _, err = _run(capsys, [])
    _assert_clean_usage(code, err, [])


@pytest.mark.parametrize("path", [p for p, _ in GROUPS if p], ids=lambda p: " ".join(p))
def test_group_without_subcommand(capsys, path):
    code, _, err = _run(capsys, list(path))
    _assert_clean_usage(code, err, path)
    assert "a command is needed" in err


@pytest.mark.parametrize("path", [p for p, _ in LEAVES], ids=lambda p: " ".join(p))
def test_unknown_option_on_every_command(capsys, path):
    code, _, err = _run(capsys, [*path, "--no-such-option-xyz"])
    _assert_clean_usage(code, err, path)
    assert "--no-such-option-xyz" in err


@pytest.mark.parametrize(
    "path", [p for p, c in LEAVES if any(q.required for q in c.params)], ids=lambda p: " ".join(p)
)
def test_missing_required_on_every_command(capsys, path):
    code, _, err = _run(capsys, list(path))
    _assert_clean_usage(code, err, path)
    assert "Missing" in err


def _number_params():
    for path, cmd in iter_commands(ROOT):
        for p in cmd.params:
            ann = p.type_descriptor.annotation
            if ann in (int, float) and not getattr(p, "count", False):
                yield path, p


def _opt(p):
    return p.opts[0] if p.opts and p.opts[0].startswith("-") else None


@pytest.mark.parametrize(
    "path,param", list(_number_params()), ids=lambda x: x if isinstance(x, str) else None
)
def test_every_number_is_bounded_and_refuses_garbage(capsys, path, param):
    """Each int/float flag has a range; 'abc', nan and a value outside it are usage errors."""
    if param.name in UNBOUNDED_NUMBERS:
        return
    assert param.min is not None or param.max is not None, (
        f"'contimg {' '.join(path)}' parameter {param.name!r} has no bound: give its "
        "typer.Option/Argument min= and/or max= (or add it to UNBOUNDED_NUMBERS with a reason)"
    )
    opt = _opt(param)
    bad = [
        "abc",
        "nan" if param.type_descriptor.annotation is float else "1.5",
        str(param.min - 1) if param.min is not None else str(param.max + 1),
    ]
    for value in bad:
        argv = [*path, opt, value] if opt else [*path, value]
        code, _, err = _run(capsys, argv)
        _assert_clean_usage(code, err, path)
        shown = opt or param.name
        assert shown in err, err


def test_every_string_is_a_choice_or_declared_free_text():
    missing = []
    for path, cmd in iter_commands(ROOT):
        for p in cmd.params:
            if p.type_descriptor.annotation is str and p.name not in FREE_TEXT:
                missing.append(f"contimg {' '.join(path)} {p.name}")
    assert not missing, (
        "string parameters that are neither an Enum choice nor declared free text in "
        f"tests/cli/test_usage_errors.py FREE_TEXT: {missing}"
    )


def test_choices_refuse_unknown_values(capsys):
    code, _, err = _run(capsys, ["jobs", "list", "--status", "bogus"])
    _assert_clean_usage(code, err, ["jobs", "list"])
    assert "'bogus' is not one of" in err and "pending" in err


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["stream", "--photometry-max-sources", "-5"], "--photometry-max-sources"),
        (["stream", "--photometry-radius", "-1"], "--photometry-radius"),
        (["stream", "--photometry-radius", "nan"], "0.0 <= value <= 180.0"),
        (["stream", "--max-groups", "-1"], "--max-groups"),
        (["jobs", "list", "--limit", "-5"], "--limit"),
        (["worker", "--concurrency", "-1"], "--concurrency"),
        (["worker", "--concurrency", "abc"], "--concurrency"),
        (["simulate", "--output-dir", "x", "--dec", "100"], "-90.0 <= value <= 90.0"),
        (["simulate", "--output-dir", "x", "--groups", "0"], "--groups"),
        (["jobs", "retry", "99999999999999999999999"], "job_id"),
        (["jobs", "show", "abc"], "job_id"),
        (["serve", "--port", "99999"], "--port"),
        (["catalog", "query", "nvss", "--ra", "1", "--dec", "1", "--radius", "abc"], "--radius"),
        (["lightcurve"], "source_id"),
    ],
)
def test_issue_examples(capsys, argv, needle):
    code, _, err = _run(capsys, argv)
    path = [a for a in argv if not a.startswith("-")][: len(argv)]
    assert code == 2 and "Traceback" not in err, err
    assert needle in err, err
    assert "Usage: contimg" in err
    del path


def test_help_shows_no_types_for_flags(capsys):
    code, out, _ = _run(capsys, ["--help"])
    assert code == 0
    assert "<bool>" not in out and "<int>" not in out.split("--verbose")[1].splitlines()[0]
    code, out, _ = _run(capsys, ["jobs", "show", "--help"])
    assert "<bool>" not in out
    assert "required" in out


# -- errors that are not usage errors -------------------------------------------------------


def _image(tmp_path):
    from dsa110_contimg.simulation import make_fits_image

    path = tmp_path / "img.fits"
    truth = make_fits_image(path, shape=(64, 64), n_sources=2, seed=1)
    pos = tmp_path / "pos.csv"
    pos.write_text(
        "ra_deg,dec_deg\n"
        + "".join(f"{r},{d}\n" for r, d in zip(truth["ra_deg"], truth["dec_deg"], strict=False))
    )
    return path, pos


def test_disk_full_output_is_one_line(capsys, tmp_path):
    img, pos = _image(tmp_path)
    code, _, err = _run(
        capsys, ["photometry", "measure", str(img), "-p", str(pos), "-o", "/dev/full"]
    )
    assert code == 2, err
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0, err
    assert "no space left" in err.lower()


def test_traceback_only_with_verbose(capsys, tmp_path):
    img, pos = _image(tmp_path)
    argv = ["photometry", "measure", str(img), "-p", str(pos), "-o", "/dev/full"]
    code, _, err = _run(capsys, ["-v", *argv])
    assert code == 2 and "Traceback" in err


@pytest.mark.parametrize(
    "url,needle",
    [
        ("foo:/bar", "malformed database URL"),
        ("postgresql+psycopg://u:secret@127.0.0.1:1/x", "cannot use the database"),
        ("NOTDB", "file is not a database"),
    ],
)
def test_bad_database_is_one_typed_line(capsys, tmp_path, url, needle):
    if url == "NOTDB":
        f = tmp_path / "notadb.sqlite3"
        f.write_bytes(b"this is not an SQLite file\n" * 200)
        url = f"sqlite:///{f}"
    code, _, err = _run(capsys, ["--database-url", url, "jobs", "list"])
    assert code == 2, err
    assert "Traceback" not in err and needle in err, err
    assert "secret" not in err
    assert len(err.strip().splitlines()) == 1, err


def test_internal_fault_exits_1_without_traceback(capsys, monkeypatch):
    import dsa110_contimg.jobs as jobs

    def boom(*a, **k):
        raise ZeroDivisionError("synthetic bug")

    monkeypatch.setattr(jobs, "list_jobs", boom)
    code, _, err = _run(capsys, ["jobs", "list"])
    assert code == 1 and "Traceback" not in err and "internal error" in err
    code, _, err = _run(capsys, ["-v", "jobs", "list"])
    assert code == 1 and "Traceback" in err


def test_typer_is_pinned_to_the_tested_range():
    import tomllib
    from importlib.metadata import version
    from pathlib import Path

    spec = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    deps = [d for d in spec["project"]["dependencies"] if d.replace(" ", "").startswith("typer")]
    assert deps and "<" in deps[0], deps
    from packaging.specifiers import SpecifierSet

    assert version("typer") in SpecifierSet(deps[0].replace(" ", "")[len("typer") :])


def test_enums_used_for_choices_are_str_enums():
    for _path, cmd in iter_commands(ROOT):
        for p in cmd.params:
            ann = p.type_descriptor.annotation
            if isinstance(ann, type) and issubclass(ann, enum.Enum):
                assert issubclass(ann, str)
