"""Every setting has a bound (or is declared free-form with a reason), enforced at start.

The settings models are walked, so a field added later without a bound fails here with a
message saying what to write.
"""

from __future__ import annotations

import enum
import math
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr

from dsa110_contimg.config import Settings
from dsa110_contimg.errors import ConfigError

#: Fields that are free-form on purpose: (section or "", field) -> reason.
UNBOUNDED: dict[tuple[str, str], str] = {
    ("", "state_dir"): "a directory; created (or refused with a DatabaseError) on first use",
    ("", "database_url"): "a URL, parsed when the engine is made (malformed: DatabaseError)",
    ("", "config"): "a TOML file; missing or invalid: ConfigError naming it",
    ("api", "host"): "an interface; a bad one is refused when the socket is bound",
    ("api", "data_roots"): "directories; paths outside them are refused per request",
    ("api", "token"): "a secret",
    ("api", "allowed_hosts"): "extra Host header names; anything else is refused per request",
    ("catalog", "download_urls"): "URLs of catalogs",
    ("imaging", "wsclean_path"): "an executable; missing: ToolMissingError",
    ("imaging", "extra_args"): "arguments passed through to WSClean",
    ("mosaic", "output_dir"): "a directory",
    ("stream", "file_pattern"): "a glob",
    ("alerts", "webhook_url"): "a URL; delivery failures are logged, never fatal",
    ("alerts", "smtp_host"): "a host name",
    ("alerts", "smtp_from"): "an e-mail address",
    ("alerts", "smtp_to"): "e-mail addresses",
}


def _sections():
    yield "", Settings
    for name, field in Settings.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield name, ann


def _fields():
    for sec, model in _sections():
        for name, field in model.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                continue
            yield sec, name, field


def _core(ann):
    """The annotation without Optional."""
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if typing.get_origin(ann) in (typing.Union, __import__("types").UnionType):
        return args[0] if len(args) == 1 else ann
    return ann


def _is_choice(ann) -> bool:
    ann = _core(ann)
    if typing.get_origin(ann) is typing.Literal:
        return True
    if typing.get_origin(ann) is list:
        return _is_choice(typing.get_args(ann)[0])
    return isinstance(ann, type) and issubclass(ann, enum.Enum)


def _bounds(field):
    out = {}
    for m in field.metadata:
        for attr in ("gt", "ge", "lt", "le", "pattern", "min_length", "max_length"):
            if getattr(m, attr, None) is not None:
                out[attr] = getattr(m, attr)
    return out


def _numeric(field) -> bool:
    return _core(field.annotation) in (int, float)


FIELDS = list(_fields())


def _id(x):
    return x if isinstance(x, str) else None


@pytest.mark.parametrize("sec,name,field", FIELDS, ids=[f"{s or 'top'}.{n}" for s, n, _ in FIELDS])
def test_every_setting_has_a_bound(sec, name, field):
    ann = _core(field.annotation)
    where = f"[{sec}] {name}" if sec else name
    if ann is bool or _is_choice(ann) or (sec, name) in UNBOUNDED:
        return
    bounds = _bounds(field)
    if _numeric(field):
        assert {"gt", "ge", "lt", "le"} & set(bounds), (
            f"setting {where} ({ann.__name__}) has no bound: declare it as "
            f"`{name}: {ann.__name__} = Field(<default>, ge=<lowest>, le=<highest>)` (gt/lt for "
            "strict bounds) in its section's module under src/dsa110_contimg/config/, or add "
            f"({sec!r}, {name!r}) to UNBOUNDED in tests/config/test_bounds.py with the reason"
        )
        return
    assert bounds, (
        f"setting {where} ({ann}) is free-form: make it a Literal[...] / Enum choice, give it "
        "Field(pattern=..., max_length=...), or add "
        f"({sec!r}, {name!r}) to UNBOUNDED in tests/config/test_bounds.py with the reason"
    )


def test_unbounded_list_names_real_settings_only():
    known = {(s, n) for s, n, _ in FIELDS}
    assert set(UNBOUNDED) <= known, set(UNBOUNDED) - known


def _bad_value(field):
    b = _bounds(field)
    if "ge" in b:
        bad = b["ge"] - 1
    elif "gt" in b:
        bad = b["gt"]
    elif "le" in b:
        bad = b["le"] + 1
    else:
        bad = b["lt"]
    return int(bad) if _core(field.annotation) is int else float(bad)


NUMERIC = [
    (s, n, f) for s, n, f in FIELDS if _numeric(f) and {"gt", "ge", "lt", "le"} & set(_bounds(f))
]


@pytest.mark.parametrize(
    "sec,name,field", NUMERIC, ids=[f"{s or 'top'}.{n}" for s, n, _ in NUMERIC]
)
def test_out_of_range_refused_at_start_with_name_and_range(monkeypatch, tmp_path, sec, name, field):
    env = f"CONTIMG_{sec.upper()}__{name.upper()}" if sec else f"CONTIMG_{name.upper()}"
    for value in (_bad_value(field), "nan"):
        if value == "nan" and _core(field.annotation) is int:
            continue
        monkeypatch.setenv(env, str(value))
        with pytest.raises(ConfigError) as err:
            Settings(state_dir=tmp_path)
        msg = str(err.value)
        assert name in msg and env in msg and "allowed:" in msg, msg
    monkeypatch.delenv(env)


def test_issue_example_negative_lease(monkeypatch, tmp_path):
    monkeypatch.setenv("CONTIMG_JOBS__LEASE_SECONDS", "-5")
    with pytest.raises(ConfigError, match=r"jobs\.lease_seconds.*allowed: 0 < value <= 86400"):
        Settings(state_dir=tmp_path)


def test_toml_bound_names_the_file(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("[imaging]\nweighting = 'bogus'\n")
    with pytest.raises(ConfigError, match=r"c\.toml.*imaging\.weighting.*one of 'briggs'"):
        Settings(config=f)


def test_log_level_case_insensitive(tmp_path):
    assert Settings(state_dir=tmp_path, log_level="warning").log_level == "WARNING"


def test_min_subbands_not_above_n_subbands(tmp_path):
    with pytest.raises(ConfigError, match="min_subbands"):
        Settings(state_dir=tmp_path, stream={"n_subbands": 4, "min_subbands": 8})


def test_defaults_are_inside_their_bounds(tmp_path):
    s = Settings(state_dir=tmp_path)
    assert math.isfinite(s.jobs.lease_seconds)
    assert isinstance(s.state_dir, Path) and not isinstance(s.api.token, SecretStr)
