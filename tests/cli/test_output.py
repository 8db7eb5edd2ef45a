"""Operator output: tables not cut at 80 columns in files, repeated log lines summarized."""

from __future__ import annotations

import io
import logging

from dsa110_contimg.cli._common import RepeatSummary, _width


def test_tables_written_to_a_file_are_wide(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert _width(io.StringIO()) == 200
    monkeypatch.setenv("COLUMNS", "90")
    assert _width(io.StringIO()) is None  # Rich then honours COLUMNS


def test_repeated_messages_give_one_summary_line():
    f = RepeatSummary(keep=3)
    shown = []
    for i in range(25):
        rec = logging.LogRecord("x", logging.INFO, __file__, 1, "image %s not normalizable: %s",
                                (f"img{i}", "too few references"), None)  # fmt: skip
        if f.filter(rec):
            shown.append(rec.getMessage())
    other = logging.LogRecord("x", logging.WARNING, __file__, 1, "something else", (), None)
    assert f.filter(other)
    assert len(shown) == 3
    assert f.summary() == ["... 22 more like: image … not normalizable: …"]


def test_summary_shows_a_percent_sign_as_the_log_does():
    f = RepeatSummary(keep=1)
    for _ in range(2):
        f.filter(logging.LogRecord("x", logging.INFO, __file__, 1, "flagged %s: %.2f%% -> %.1e%%",
                                   ("ms", 1.0, 2.0), None))  # fmt: skip
    assert f.summary() == ["... 1 more like: flagged …: …% -> …%"]


def test_each_command_ends_its_own_summary(capsys):
    """Two commands in one process: the second shows its first records again."""
    from dsa110_contimg.cli import main
    from dsa110_contimg.cli._common import flush_repeats

    root = logging.getLogger()
    f = RepeatSummary(keep=3)
    handler = logging.NullHandler()
    handler.addFilter(f)
    root.addHandler(handler)
    try:

        def records():
            rec = logging.LogRecord("x", logging.INFO, __file__, 1, "group %s failed", ("g",), None)
            return [f.filter(rec) for _ in range(5)]

        assert records() == [True] * 3 + [False] * 2
        main(["--help"])  # the end of a command flushes the summary and resets the counts
        assert "... 2 more like: group … failed" in capsys.readouterr().err
        assert records() == [True] * 3 + [False] * 2
        flush_repeats()
        assert f.counts == {}
    finally:
        root.removeHandler(handler)
