"""Masking schemes that cannot change a pixel are refused, so no "masked" copy equals the plaintext.

``medseal mask --block 1`` built ``shuffle+negpos`` with 1x1 blocks: the
shuffle had one value to move and negative-positive flipped round(0.5) = 0 of
them, so the stored masked copies were the plaintext.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from medseal.errors import InputError
from medseal.privacy.masking import (
    DEFAULT_SCHEME,
    BlockScramble,
    Compose,
    NegativePositive,
    PixelShuffle,
    _keys,
    make_scheme,
)

KEY = bytes(range(32))
SPECS = ["shuffle", "negpos", "shuffle+negpos", "negpos+shuffle", "block+shuffle+negpos"]


def _image(shape=(32, 32), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


@pytest.mark.parametrize("spec", SPECS)
def test_every_in_block_scheme_refuses_block_1_naming_the_parameter(spec):
    assert DEFAULT_SCHEME in SPECS
    with pytest.raises(InputError, match="block=1"):
        make_scheme(spec, key=KEY, block=1)


@pytest.mark.parametrize("cls", [PixelShuffle, NegativePositive])
def test_the_in_block_classes_refuse_block_1_when_built_directly(cls):
    with pytest.raises(InputError, match="block=1"):
        cls(key=KEY, block=1)


@pytest.mark.parametrize("fraction", [0.0, 0.004, 1.0, 0.999])
def test_negpos_refuses_a_fraction_that_flips_nothing_or_everything(fraction):
    # block 8: round(fraction * 64) is 0 or 64
    with pytest.raises(InputError, match="fraction="):
        NegativePositive(key=KEY, block=8, fraction=fraction)


def test_a_shuffle_key_whose_permutation_is_the_identity_is_refused():
    # block 2 has 4! = 24 in-block permutations: some small key index draws the identity
    found = None
    for i in range(2000):
        key = i.to_bytes(32, "big")
        perm = _keys.keyed_permutation(_keys.derive_key(key, "shuffle"), 4)
        if (perm == np.arange(4)).all():
            found = key
            break
    assert found is not None
    with pytest.raises(InputError, match="identity"):
        PixelShuffle(key=found, block=2)
    assert PixelShuffle(key=KEY, block=2).pixel_permutation().tolist() != [0, 1, 2, 3]


def test_block_scrambling_of_a_one_block_image_is_refused_when_masking():
    scheme = BlockScramble(key=KEY, block=8)
    with pytest.raises(InputError, match="in place"):
        scheme.mask(_image((8, 8)))


def test_block_scrambling_with_1x1_blocks_moves_pixels():
    # a pixel-level permutation: not the identity, so it stays allowed
    x = _image((16, 16))
    y = BlockScramble(key=KEY, block=1).mask(x)
    assert not np.array_equal(x, y)
    np.testing.assert_array_equal(np.sort(x, axis=None), np.sort(y, axis=None))


def test_a_composition_that_cancels_out_is_refused_when_masking():
    shuffle = PixelShuffle(key=KEY, block=4)

    class _Inverse(PixelShuffle):
        def _parts(self, n_blocks, k):
            _, perm, _ = shuffle._parts(n_blocks, k)
            return None, np.argsort(perm), None

    with pytest.raises(InputError, match="in place"):
        Compose([shuffle, _Inverse(key=KEY, block=4)]).mask(_image((16, 16)))


@pytest.mark.parametrize("spec", [*SPECS, "block"])
@pytest.mark.parametrize("block", [2, 4, 8])
def test_valid_schemes_change_the_image_and_still_round_trip(spec, block):
    x = _image((32, 32), seed=block)
    scheme = make_scheme(spec, key=KEY, block=block)
    y = scheme.mask(x)
    assert not np.array_equal(x, y)
    np.testing.assert_array_equal(scheme.unmask(y), x)


def test_the_defaults_are_accepted():
    scheme = make_scheme(key=KEY)
    assert scheme.block == 8 and scheme.steps == ("shuffle", "negpos")
    assert NegativePositive(key=KEY).fraction == 0.5
    x = _image((64, 64))
    assert np.mean(scheme.mask(x) != x) > 0.5


def test_medseal_mask_with_block_1_is_refused_in_one_line(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p
    )
    env.update(
        MEDSEAL_PASSPHRASE="guard test passphrase",
        MEDSEAL_KEYRING=str(tmp_path / "ring.json"),
        MEDSEAL_USER="olivia",
        MEDSEAL_VAULT=str(tmp_path / "vault"),
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "medseal.cli", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )

    assert run("keys", "init").returncode == 0
    assert run("vault", "init", str(tmp_path / "vault")).returncode == 0
    proc = run("mask", "--block", "1")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "block=1" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
