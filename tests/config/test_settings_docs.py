"""Every setting is described, and docs/settings.md is the generated reference."""

from pathlib import Path

from pydantic import BaseModel

from dsa110_contimg.config import Settings
from dsa110_contimg.config.reference import describe, render_markdown

DOC = Path(__file__).parents[2] / "docs" / "settings.md"


def test_every_setting_has_a_description():
    missing = [n for n in Settings.model_fields if not describe(Settings).get(n)
               and not (isinstance(Settings.model_fields[n].annotation, type)
                        and issubclass(Settings.model_fields[n].annotation, BaseModel))]
    for name, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            desc = describe(model)
            missing += [f"{name}.{f}" for f in model.model_fields if not desc.get(f)]
    assert missing == []


def test_reference_is_current():
    assert DOC.read_text() == render_markdown(), (
        "docs/settings.md is stale: regenerate with "
        "python -c 'from dsa110_contimg.config.reference import render_markdown as r; "
        "open(\"docs/settings.md\", \"w\").write(r())'"
    )
