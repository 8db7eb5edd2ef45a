"""The settings reference (``docs/settings.md``), generated from the settings models.

Each section's numpydoc ``Parameters`` block is the one place a setting is described; this
module turns those blocks into the Markdown reference, and the test-suite checks that the
committed file is up to date and that no setting lacks a description.
"""

from __future__ import annotations

import inspect
import re

from pydantic import BaseModel

__all__ = ["describe", "render_markdown"]

_HEAD = re.compile(r"^(?P<names>[A-Za-z_][\w, ]*?)\s*:\s*(?P<type>.*)$")


def describe(model: type[BaseModel]) -> dict[str, str]:
    """Return ``{field: description}`` parsed from a model's numpydoc ``Parameters`` block.

    Examples
    --------
    >>> from dsa110_contimg.config import JobSettings
    >>> "lease" in describe(JobSettings)["lease_seconds"]
    True
    """
    doc = inspect.getdoc(model) or ""
    lines = doc.splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip() == "Parameters") + 2
    except StopIteration:
        return {}
    out: dict[str, str] = {}
    names: list[str] = []
    for line in lines[start:]:
        if line and not line.startswith(" "):
            m = _HEAD.match(line)
            if m is None:
                break
            names = [n.strip() for n in m.group("names").split(",") if n.strip()]
            for n in names:
                out[n] = ""
        elif line.strip() and names:
            for n in names:
                out[n] = (out[n] + " " + line.strip()).strip()
    return out


def _default(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _allowed(loc: list[str]) -> str:
    from . import allowed_values

    text = allowed_values(loc)
    return text.replace("|", "\\|").replace("<", "&lt;") if text else ""


def render_markdown() -> str:
    """Return the Markdown reference of every setting (``docs/settings.md``)."""
    from . import Settings

    parts = [
        "# Settings reference",
        "",
        "Generated from the settings models by `dsa110_contimg.config.reference` (a test keeps",
        "it current). Precedence: defaults < TOML file (`--config`, `CONTIMG_CONFIG`) <",
        "environment < command-line flags. A section's field `name` is `[section] name = ...` in",
        "TOML and `CONTIMG_SECTION__NAME` in the environment.",
        "",
        "## Top level",
        "",
        "| setting | environment | default | allowed | meaning |",
        "|---|---|---|---|---|",
    ]
    top = describe(Settings)
    sections = []
    for name, field in Settings.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            sections.append((name, ann))
            continue
        parts.append(
            f"| `{name}` | `CONTIMG_{name.upper()}` | `{_default(field.default)}` | "
            f"{_allowed([name])} | {top.get(name, '')} |"
        )
    for sec, model in sections:
        desc = describe(model)
        parts += ["", f"## `[{sec}]`", "",
                  "| setting | environment | default | allowed | meaning |",
                  "|---|---|---|---|---|"]
        for name, field in model.model_fields.items():
            default = field.default_factory() if field.default_factory else field.default
            parts.append(
                f"| `{name}` | `CONTIMG_{sec.upper()}__{name.upper()}` | `{_default(default)}` "
                f"| {_allowed([sec, name])} | {desc.get(name, '')} |"
            )
    return "\n".join(parts) + "\n"
