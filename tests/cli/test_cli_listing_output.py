"""`medseal vault ls` output: plain text columns and JSON, written a batch at a time."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

from medseal.cli.vault_cmd import _json_lines, _write_aligned, _write_batches


class CountingWriter(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def write(self, s: str) -> int:
        self.calls += 1
        return super().write(s)


def test_ls_columns_are_aligned_plain_text_without_trailing_spaces():
    out = io.StringIO()
    _write_aligned(out, ("id", "name", "shape"), [("a1", "", "8x8"), ("b", "lung", "512x512")])
    assert out.getvalue().splitlines() == [
        "id  name  shape",
        "a1        8x8",
        "b   lung  512x512",
    ]


def test_lines_are_written_one_batch_per_call_and_nothing_is_lost():
    out = CountingWriter()
    lines = [f"{n}\n" for n in range(2500)]
    _write_batches(out, iter(lines), size=1000)
    assert out.calls == 3 and out.getvalue() == "".join(lines)


def _info(n: int) -> SimpleNamespace:
    return SimpleNamespace(
        id=f"id{n}", dataset="d", kind="image", name=None, label=n,
        manifest={"shape": [8, 8]}, blob_size=400 + n,
    )  # fmt: skip


def test_json_listing_is_one_array_with_one_object_per_line_even_when_empty():
    assert "".join(_json_lines([])) == "[\n]\n"
    text = "".join(_json_lines([_info(0), _info(1)]))
    assert len(text.splitlines()) == 4  # "[", one line per object, "]"
    assert json.loads(text) == [
        {"id": f"id{n}", "dataset": "d", "kind": "image", "name": None, "label": n,
         "shape": [8, 8], "bytes": 400 + n}
        for n in (0, 1)
    ]  # fmt: skip
