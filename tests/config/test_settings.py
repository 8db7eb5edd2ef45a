import pytest

from dsa110_contimg.config import Settings
from dsa110_contimg.errors import ConfigError


def test_precedence_toml_env_flags(tmp_path, monkeypatch):
    toml = tmp_path / "c.toml"
    toml.write_text('log_level = "WARNING"\n[jobs]\nlease_seconds = 11\nmax_attempts = 7\n')
    monkeypatch.setenv("CONTIMG_CONFIG", str(toml))
    monkeypatch.setenv("CONTIMG_JOBS__MAX_ATTEMPTS", "5")
    s = Settings(state_dir=tmp_path)
    assert s.log_level == "WARNING"  # TOML
    assert s.jobs.lease_seconds == 11  # TOML
    assert s.jobs.max_attempts == 5  # env beats TOML
    s = Settings(state_dir=tmp_path, log_level="DEBUG")
    assert s.log_level == "DEBUG"  # flags beat everything


def test_job_lease_shorthand(monkeypatch, tmp_path):
    monkeypatch.setenv("CONTIMG_JOB_LEASE_SECONDS", "3.5")
    assert Settings(state_dir=tmp_path).jobs.lease_seconds == 3.5


def test_default_database_in_state_dir(tmp_path):
    s = Settings(state_dir=tmp_path / "st")
    assert s.database_url == f"sqlite:///{(tmp_path / 'st').resolve()}/contimg.sqlite3"


def test_bad_toml_names_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(ConfigError, match="bad.toml"):
        Settings(config=bad)


def test_unknown_key_is_an_error(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text("no_such_setting = 1\n")
    with pytest.raises(ConfigError, match="no_such_setting"):
        Settings(config=f)


def test_child_kwargs_roundtrip(tmp_path):
    s = Settings(state_dir=tmp_path, api={"token": "s3cret"})
    t = Settings(**s.child_kwargs())
    assert t.database_url == s.database_url
    assert t.api.token.get_secret_value() == "s3cret"
