"""The sequence study's report helpers under their earlier module name (aliases of
:mod:`medseal.evaluate.studies.sequences.report`; :func:`render_html` is the one
writer's, :func:`medseal.evaluate.report.render_html`)."""

from __future__ import annotations

from medseal.evaluate.report import render_html
from medseal.evaluate.studies.sequences.report import (
    NIH_FOLLOWUP_REFERENCE,
    level_rows,
    summary_lines,
    table1_rows,
)

__all__ = [
    "NIH_FOLLOWUP_REFERENCE",
    "level_rows",
    "render_html",
    "summary_lines",
    "table1_rows",
]
