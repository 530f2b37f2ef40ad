"""`vault init --codec`, `ingest --codec` and `vault get --transfer-syntax`, as a user types them."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest
from clirun import run_cli
from PIL import Image as PILImage

from medseal.codec import available_codecs

pytestmark = pytest.mark.skipif(
    available_codecs()["htj2k"] is not None or available_codecs()["jpegls"] is not None,
    reason="imagecodecs (OpenJPH, CharLS) is not installed here",
)


run = run_cli


def test_the_codec_is_chosen_at_init_and_per_ingest_and_export_follows_the_receiver(
    tmp_path, env
) -> None:
    folder = tmp_path / "pngs"
    folder.mkdir()
    arr = (np.arange(40 * 36).reshape(40, 36) * 7 % 256).astype(np.uint8)
    PILImage.fromarray(arr).save(folder / "a.png")
    run(["keys", "init"], env, tmp_path)

    bad = run(
        ["vault", "init", str(tmp_path / "vault"), "--codec", "jpeg-xl"], env, tmp_path, False
    )
    assert bad.returncode == 1 and "unknown codec 'jpeg-xl'" in bad.stderr
    assert not (tmp_path / "vault").exists()

    out = run(["vault", "init", str(tmp_path / "vault"), "--codec", "jpegls"], env, tmp_path)
    assert "codec jpegls" in out.stdout
    assert json.loads((tmp_path / "vault" / "vault.json").read_text())["codec"] == "jpegls"
    run(["ingest", str(folder), "--dataset", "ls"], env, tmp_path)
    run(["ingest", str(folder), "--dataset", "jk", "--codec", "j2k"], env, tmp_path)
    assert json.loads((tmp_path / "vault" / "vault.json").read_text())["codec"] == "jpegls"
    items = {
        i["dataset"]: i["id"]
        for i in json.loads(run(["vault", "ls", "--json"], env, tmp_path).stdout)
    }
    for dataset, codec in (("ls", "jpegls"), ("jk", "j2k")):
        shown = json.loads(run(["vault", "show", items[dataset]], env, tmp_path).stdout)
        assert shown["manifest"]["codec"] == codec

    oid = items["ls"]
    run(["vault", "get", oid, "-o", str(tmp_path / "s.dcm")], env, tmp_path)
    assert (
        pydicom.dcmread(tmp_path / "s.dcm").file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"
    )
    for name, uid in (("j2k", "1.2.840.10008.1.2.4.90"), ("htj2k", "1.2.840.10008.1.2.4.201"),
                      ("explicit-little-endian", "1.2.840.10008.1.2.1")):  # fmt: skip
        path = tmp_path / f"{name}.dcm"
        run(["vault", "get", oid, "-o", str(path), "--transfer-syntax", name], env, tmp_path)
        ds = pydicom.dcmread(path)
        assert ds.file_meta.TransferSyntaxUID == uid
        np.testing.assert_array_equal(ds.pixel_array, arr)

    bad = run(["vault", "get", oid, "-o", str(tmp_path / "x.dcm"), "--transfer-syntax", "jpeg"],
              env, tmp_path, False)  # fmt: skip
    assert bad.returncode == 2 and "unknown transfer syntax 'jpeg'" in bad.stderr  # input error
    assert not (tmp_path / "x.dcm").exists()
    bad = run(["vault", "get", oid, "-o", str(tmp_path / "x.npy"), "--transfer-syntax", "j2k"],
              env, tmp_path, False)  # fmt: skip
    assert bad.returncode != 0 and not (tmp_path / "x.npy").exists()
    bad = run(["ingest", str(folder), "--dataset", "z", "--codec", "webp"], env, tmp_path, False)
    assert bad.returncode == 1 and "unknown codec 'webp'" in bad.stderr
