"""``[photometry] default_catalog`` is read: flags > environment > TOML > built-in default."""

from __future__ import annotations

from dsa110_contimg.cli import stream as stream_cli
from dsa110_contimg.cli._run import build_command
from dsa110_contimg.config import Settings


def _catalog(settings, flag):
    return stream_cli._options(settings, True, flag, None, False, None, False).photometry_catalog


def test_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("CONTIMG_PHOTOMETRY__DEFAULT_CATALOG", raising=False)
    toml = tmp_path / "c.toml"
    toml.write_text('[photometry]\ndefault_catalog = "first"\n')
    assert _catalog(Settings(state_dir=tmp_path), None) == "nvss"
    s = Settings(state_dir=tmp_path, config=toml)
    assert _catalog(s, None) == "first"
    monkeypatch.setenv("CONTIMG_PHOTOMETRY__DEFAULT_CATALOG", "vlass")
    s = Settings(state_dir=tmp_path, config=toml)
    assert _catalog(s, None) == "vlass"
    assert _catalog(s, "racs") == "racs"


def test_commands_do_not_hard_code_the_catalog():
    """Every --photometry-catalog flag defaults to None, so the setting decides."""
    root = build_command()
    seen = 0
    stack = [root]
    while stack:
        cmd = stack.pop()
        stack.extend(getattr(cmd, "commands", {}).values())
        for p in cmd.params:
            if p.name == "photometry_catalog":
                seen += 1
                assert p.default is None, cmd.name
    assert seen >= 3
