"""Every sample DICOM goes through the whole pipeline and comes back bit-exact."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from medseal.errors import MedsealError
from medseal.ingest import discover, read_dicom


def test_every_sample_dicom_round_trips_through_the_vault(vault, shared_data, tmp_path):
    files = [p for p in discover(shared_data / "dicom-samples") if p.suffix.lower() != ".png"]
    assert len(files) >= 40
    checked = 0
    for path in files:
        try:
            source = read_dicom(path, deidentify=False)
        except MedsealError:
            continue  # not an image (DICOMDIR, ...): covered by the ingest tests
        img = read_dicom(path, deidentifier=vault.deidentifier)
        ref = vault.put(img, dataset="samples", as_="olivia")
        back = vault.get(ref.id, as_="olivia")
        assert back.pixels.dtype == source.pixels.dtype, path.name
        assert np.array_equal(back.pixels, source.pixels), path.name
        if checked < 5:  # export a few as standard DICOM and read them back
            out = vault.export_dicom(ref.id, tmp_path / f"{checked}.dcm", as_="olivia")
            assert np.array_equal(pydicom.dcmread(out).pixel_array, source.pixels), path.name
        checked += 1
    assert checked >= 40
    assert vault.verify(as_="olivia").ok


@pytest.mark.parametrize("patient", ["A002304", "A067967"])
def test_ct_follow_up_pairs_keep_their_interval(vault, shared_data, patient):
    """Dates are shifted per patient, so the days between two studies survive de-identification."""
    from datetime import date

    folder = shared_data / "covid19-ny-sbu-ct-followup" / patient / "axial"
    report = vault.ingest(folder, dataset="covid", as_="olivia")
    assert len(report.refs) == 2
    originals = sorted(pydicom.dcmread(p).StudyDate for p in sorted(folder.glob("*.dcm")))
    shifted = sorted(str(vault.get(r.id, as_="olivia").header.StudyDate) for r in report.refs)

    def days(a, b):
        return (
            date(int(b[:4]), int(b[4:6]), int(b[6:])) - date(int(a[:4]), int(a[4:6]), int(a[6:]))
        ).days

    assert shifted != originals
    assert days(*shifted) == days(*originals)
