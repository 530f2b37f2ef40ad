"""The one report writer of the studies: a self-contained HTML page and a JSON file.

Where it sits: the last step of evaluate. :func:`write_report` writes any
study's result as ``<stem>.json`` (:func:`write_json`: arrays and ``_``-keys
left out) and ``<stem>.html`` (:func:`render_html`): one page shell
(:func:`page`, :func:`table`) around the sections of the study that made the
result (:class:`Study`, found by :func:`study_of`). Each study keeps its own
sections in its ``report`` module (:mod:`medseal.evaluate.studies.masking.report`,
:mod:`medseal.evaluate.studies.sequences.report`); :mod:`medseal.evaluate.report_modes`
uses the same shell. Nothing on a page is a key or a plaintext value beyond
the few gallery images the data owner chose to show.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Study", "page", "render_html", "study_of", "table", "write_json", "write_report"]

_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;font-size:14px;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:3px 7px;"
    "vertical-align:top;text-align:left}th{background:#eee}img{max-width:100%}"
    ".warn{background:#fff3cd;border:1px solid #e0c060;padding:8px}"
)


class Study(StrEnum):
    """The studies whose results the writer renders, with their report file stem."""

    MASKING = "masking"
    SEQUENCES = "sequences"

    @property
    def stem(self) -> str:
        """The file name (no suffix) the CLI has always used: the seed number."""
        return "seed003" if self is Study.SEQUENCES else "seed000"


def study_of(result: Mapping[str, Any]) -> Study:
    """The study that made ``result`` (the sequence study marks its result ``seed: "003"``)."""
    return Study.SEQUENCES if result.get("seed") == "003" else Study.MASKING


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(_cell(x) for x in v) + "]"
    return str(v)


def table(
    rows: Iterable[Mapping[str, Any]], cols: list[str], fmt: Callable[[Any], str] = _cell
) -> str:
    """An HTML table of ``rows`` in the columns ``cols`` (missing cells empty), escaped."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(r.get(c, '')))}</td>" for c in cols) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def page(title: str, sections: Iterable[str]) -> str:
    """One self-contained HTML page (no scripts, no external files) around ``sections``."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>\n"
        + "\n".join(s for s in sections if s)
        + "\n</body></html>\n"
    )


def render_html(result: Mapping[str, Any]) -> str:
    """The report page of any study's result, as a string."""
    if study_of(result) is Study.SEQUENCES:
        from medseal.evaluate.studies.sequences.report import sections
    else:
        from medseal.evaluate.studies.masking.report import sections
    title, parts = sections(result)
    return page(title, parts)


def _json_default(obj: object) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def write_json(result: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``result`` as indented JSON, without its ``_``-keys (arrays kept for figures)."""
    path = Path(path)
    clean = {k: v for k, v in result.items() if not k.startswith("_")}
    path.write_text(json.dumps(clean, indent=2, default=_json_default) + "\n", encoding="utf-8")
    return path


def write_report(
    result: Mapping[str, Any], out_dir: str | Path, *, stem: str | None = None
) -> tuple[Path, Path]:
    """Write ``<stem>.html`` and ``<stem>.json`` into ``out_dir`` (``stem``: the study's,
    e.g. ``seed000``); returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = stem or study_of(result).stem
    html_path = out / f"{stem}.html"
    html_path.write_text(render_html(result), encoding="utf-8")
    return html_path, write_json(result, out / f"{stem}.json")
