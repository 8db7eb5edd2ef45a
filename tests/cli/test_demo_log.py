"""The demo's variability section, as an operator reads its log: one ESE score, and every
warning explained where it appears.

Runs the demo's own code (bundled catalogs, 30 simulated daily images, the real worker with its
normalization hook) on a fresh SQLite database; ~30 s.
"""

from __future__ import annotations

import logging
import re

import pytest

from dsa110_contimg.cli import demo
from dsa110_contimg.jobs.trigger import NO_SOURCES_MESSAGE
from dsa110_contimg.mosaic.orchestrator import ABANDONED_MESSAGE
from dsa110_contimg.variability.pipeline.references import DROPPED_MESSAGE

#: Warning templates that say in the line itself what they mean and what to do. A warning the
#: demo logs must be one of these (or carry the same kind of explanation: add it here).
EXPLAINED = {DROPPED_MESSAGE, ABANDONED_MESSAGE, NO_SOURCES_MESSAGE}


@pytest.fixture
def demo_run(tmp_path, settings, caplog, capsys):
    caplog.set_level(logging.INFO)
    s = demo._demo_settings(settings, tmp_path)
    demo._catalogs(s)
    capsys.readouterr()
    demo._variability(s, tmp_path, 30)
    return capsys.readouterr().out, caplog.records


def test_the_log_and_the_table_give_one_ese_score_and_warnings_are_explained(demo_run):
    out, records = demo_run
    rows = [line for line in out.splitlines() if "(the injected dip)" in line]
    assert len(rows) == 1, out
    cells = [c.strip() for c in rows[0].strip("│ ").split("│")]
    source_id = cells[2].split(" ")[0]
    table_score = cells[3]
    assert re.fullmatch(r"\d+\.\d", table_score), cells
    # what the log says of this candidate: its last word is the stored score (the table's)
    said = [r.getMessage() for r in records
            if "ESE candidate" in r.getMessage() and source_id in r.getMessage()]  # fmt: skip
    assert said, [r.getMessage() for r in records]
    scores = [re.search(r"score (\d+\.\d)", m).group(1) for m in said]
    assert scores[-1] == table_score, said
    assert "as stored" in said[-1]
    # the first flagging line says its score is that moment's, not the final one
    if len(said) > 1:
        assert said[0].startswith("new ESE candidate") and "follows the light curve" in said[0]

    # every warning of the section is explained where it appears
    warnings = [r for r in records if r.levelno >= logging.WARNING]
    unexplained = [r.getMessage() for r in warnings if r.msg not in EXPLAINED]
    assert unexplained == []
