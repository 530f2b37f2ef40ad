"""`medseal vault …` imports only what it needs (issue 10, part 5)."""

from __future__ import annotations

import subprocess
import sys

PROBE = (
    "import sys\n"
    "from medseal.cli import main\n"
    "try:\n"
    "    main(['vault', 'get', '--help'])\n"
    "except SystemExit:\n"
    "    pass\n"
    "heavy = ['medseal.ingest', 'torch', 'sklearn', 'matplotlib', 'medseal.models']\n"
    "print('loaded:' + ','.join(m for m in heavy if m in sys.modules))\n"
)


def test_a_vault_command_loads_no_ingest_model_or_plotting_stack():
    proc = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    assert proc.stdout.strip().splitlines()[-1] == "loaded:"


def test_the_full_help_still_lists_every_command():
    from medseal.cli import main

    proc = subprocess.run(
        [sys.executable, "-m", "medseal.cli", "--help"], capture_output=True, text=True, timeout=120
    )
    assert main is not None and "demo" in proc.stdout and "vault" in proc.stdout


GET_PROBE = (
    "import sys\n"
    "from medseal.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "print('rc:%d pydicom:%s' % (rc, 'pydicom' in sys.modules))\n"
)


def test_vault_get_of_a_dicom_object_as_npy_never_imports_pydicom(tmp_path):
    import os

    import numpy as np
    from pydicom.data import get_testdata_file

    from medseal.crypto import KeyRing
    from medseal.ingest import read_dicom
    from medseal.vault import Vault

    KeyRing.create(tmp_path / "ring.json", "pw", scrypt_n=2**10)
    ring = KeyRing.open(tmp_path / "ring.json", "pw")
    with Vault.init(tmp_path / "v", keyring=ring, owner="olivia") as v:
        ct = read_dicom(get_testdata_file("CT_small.dcm"), deidentifier=v.deidentifier)
        ref = v.put(ct, dataset="ct", as_="olivia")
    env = dict(os.environ, MEDSEAL_PASSPHRASE="pw", MEDSEAL_KEYRING=str(tmp_path / "ring.json"))
    out = tmp_path / "x.npy"
    args = ["vault", "get", ref.id, "-o", str(out), "-V", str(tmp_path / "v"), "--as", "olivia"]
    proc = subprocess.run(
        [sys.executable, "-c", GET_PROBE, *args], capture_output=True, text=True, timeout=120,
        env=env, check=True,
    )  # fmt: skip
    assert proc.stdout.strip().splitlines()[-1] == "rc:0 pydicom:False"
    np.testing.assert_array_equal(np.load(out), ct.pixels)
