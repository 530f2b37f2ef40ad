"""Measure de-identification on the seeded E.1-1 file and on the real sample DICOMs.

Usage (from the repository root, ../shared/data beside it or --data)::

    PYTHONPATH=src python scripts/deid_measure.py [--options basic|default] [--data DIR]

Prints how many seeded markers survive de-identification and export (and in
which attributes), and, for every DICOM under dicom-samples and
covid19-ny-sbu-ct-followup, whether an identifying value of the source (the
definition of tests/security/test_deid_samples.py) survives and how many dciodvfy
errors the exported file has that its source has not.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "security"))

import pydicom  # noqa: E402
from _deid_seed import scan, write_seeded  # noqa: E402

from medseal import codec  # noqa: E402
from medseal.config import shared_data_dir  # noqa: E402
from medseal.ingest import read_dicom  # noqa: E402
from medseal.ingest.deid import DEFAULT_OPTIONS, Deidentifier  # noqa: E402


def _samples_module():
    spec = importlib.util.spec_from_file_location(
        "deid_samples", ROOT / "tests" / "security" / "test_deid_samples.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _export(image, out: Path) -> Path:
    enc, header = codec.unpack(codec.pack(codec.encode(image), image.header))
    return codec.write_dicom(out, enc, header)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--options", choices=("basic", "default"), default="default")
    ap.add_argument("--data", type=Path, default=shared_data_dir())
    args = ap.parse_args()
    options = () if args.options == "basic" else DEFAULT_OPTIONS
    deid = Deidentifier(b"measure-secret-0123456789abcdef", options=options)
    tmp = Path(tempfile.mkdtemp(prefix="deid-measure-"))
    try:
        seed = write_seeded(tmp / "seeded.dcm")
        image = read_dicom(tmp / "seeded.dcm", deidentifier=deid)
        left = scan(pydicom.dcmread(_export(image, tmp / "seeded-out.dcm")), seed)
        kept = sorted({pydicom.datadict.keyword_for_tag(seed.markers[t]) for _, t in left})
        print(
            f"seeded ({args.options} options): {len(seed.markers)} markers in "
            f"{len(seed.seeded_tags)} attributes x 3 places + private/UN/overlay extras; "
            f"left after export: {len(left)} in {len(kept)} attributes"
        )
        if kept:
            print("  kept by the options:", ", ".join(kept))
        if args.data is None:
            print("no shared data: samples skipped")
            return 0
        samples = _samples_module()
        samples.DATA = args.data
        files = [
            p
            for p in sorted((args.data / "dicom-samples").rglob("*"))
            if p.is_file() and p.suffix not in (".md", ".txt") and "DICOMDIR" not in p.name
        ]
        files += sorted((args.data / "covid19-ny-sbu-ct-followup").rglob("*.dcm"))
        has_dciodvfy = shutil.which("dciodvfy") is not None
        leaked_files = leaked_values = new_errors = 0
        for i, src in enumerate(files):
            out = _export(
                read_dicom(src, deidentifier=deid, allow_burned_in=True), tmp / f"{i}.dcm"
            )
            identifying = samples._identifying(pydicom.dcmread(src, stop_before_pixels=True))
            values = samples._values(pydicom.dcmread(out))
            leak = identifying.intersection(values) | {
                v for v in identifying if len(v) >= 6 for w in values if v in w
            }
            new = (
                samples._dciodvfy_errors(out) - samples._dciodvfy_errors(src)
                if has_dciodvfy
                else set()
            )
            leaked_files += bool(leak)
            leaked_values += len(leak)
            new_errors += len(new)
            if leak or new:
                print(
                    f"  {src.relative_to(args.data)}: {len(leak)} values left, {len(new)} new errors"
                )
        print(
            f"samples: {len(files)} files; identifying values left in {leaked_files} files "
            f"({leaked_values} values); new dciodvfy errors: "
            + (str(new_errors) if has_dciodvfy else "not measured (no dciodvfy)")
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
