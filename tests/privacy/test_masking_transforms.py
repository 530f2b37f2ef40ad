"""MONAI-style array and dictionary transforms around a masking scheme."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from medseal.errors import InputError
from medseal.privacy.masking import MaskImage, MaskImaged, make_scheme

KEY = bytes(range(32))


def _image(seed: int = 0, shape=(1, 32, 32)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def test_mask_image_and_inverse():
    scheme = make_scheme(key=KEY)
    t = MaskImage(scheme, channel_axis=0)
    x = _image()
    y = t(x)
    np.testing.assert_array_equal(y, scheme.mask(x, channel_axis=0))
    np.testing.assert_array_equal(t.inverse(y), x)
    untr = MaskImage(scheme, channel_axis=0, inverse=True)
    np.testing.assert_array_equal(untr(y), x)
    np.testing.assert_array_equal(untr.inverse(x), y)
    assert "key_id=" in repr(t) and KEY.hex()[:16] not in repr(t)


def test_mask_imaged_masks_listed_keys_and_leaves_others_untouched():
    scheme = make_scheme("block+shuffle+negpos", key=KEY)
    label = np.array([1.0, 0.0])
    meta = {"spacing": (0.5, 0.5)}
    data = {"image": _image(1), "seg": _image(2), "label": label, "meta": meta}
    original = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in data.items()}
    out = MaskImaged(keys=("image", "seg"), scheme=scheme, channel_axis=0)(data)
    assert out is not data
    assert out["label"] is label and out["meta"] is meta
    np.testing.assert_array_equal(out["image"], scheme.mask(data["image"], channel_axis=0))
    np.testing.assert_array_equal(out["seg"], scheme.mask(data["seg"], channel_axis=0))
    # the input dict and arrays are not modified
    assert set(data) == set(original)
    np.testing.assert_array_equal(data["image"], original["image"])
    back = MaskImaged(keys=("image", "seg"), scheme=scheme, channel_axis=0).inverse(out)
    np.testing.assert_array_equal(back["image"], data["image"])
    np.testing.assert_array_equal(back["seg"], data["seg"])


def test_mask_imaged_single_key_missing_keys_and_per_image_ids():
    scheme = make_scheme(key=KEY)
    data = {"image": _image(3), "id": "study-42"}
    with pytest.raises(InputError, match="missing"):
        MaskImaged("mask", scheme=scheme)(data)
    assert (
        MaskImaged("mask", scheme=scheme, allow_missing_keys=True)(data)["image"] is data["image"]
    )
    per_image = MaskImaged("image", scheme=scheme, image_id_key="id")
    out = per_image(data)
    np.testing.assert_array_equal(out["image"], scheme.for_image("study-42").mask(data["image"]))
    assert not np.array_equal(out["image"], scheme.mask(data["image"]))
    np.testing.assert_array_equal(per_image.inverse(out)["image"], data["image"])
    with pytest.raises(InputError, match="'id'"):
        per_image({"image": data["image"]})


def test_transforms_work_on_torch_tensors():
    torch = pytest.importorskip("torch")
    scheme = make_scheme(key=KEY)
    x = torch.from_numpy(_image(4))
    out = MaskImaged(keys="image", scheme=scheme, channel_axis=0)({"image": x, "y": 1})
    assert isinstance(out["image"], torch.Tensor) and out["y"] == 1
    assert torch.equal(MaskImage(scheme, channel_axis=0).inverse(out["image"]), x)


def test_numpy_path_does_not_import_torch():
    code = (
        "import sys, numpy as np\n"
        "from medseal.privacy.masking import make_scheme, MaskImaged\n"
        "s = make_scheme('block+shuffle+negpos', key=bytes(32))\n"
        "x = np.zeros((2, 16, 16), np.uint8)\n"
        "assert (s.unmask(s.mask(x)) == x).all()\n"
        "MaskImaged('image', scheme=s)({'image': x})\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
