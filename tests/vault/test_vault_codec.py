"""The vault's codec: recorded at init, chosen per ingest, recorded per object, every one decodes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import make_image
from medseal.codec import available_codecs, default_codec
from medseal.codec.registry import UnknownCodecError
from medseal.errors import ConfigError
from medseal.ingest.records import Record
from medseal.types import Image
from medseal.vault import Vault, _objects
from medseal.vault._config import read_config, set_default_codec, write_config

needs_imagecodecs = pytest.mark.skipif(
    available_codecs()["htj2k"] is not None or available_codecs()["jpegls"] is not None,
    reason="imagecodecs (OpenJPH, CharLS) is not installed here",
)


def _records(n: int, dtype: type = np.int16) -> list[Record]:
    out = []
    for i in range(n):
        px = np.random.default_rng(i).integers(-1000, 3000, (33, 29)).astype(dtype)

        def load(px: np.ndarray = px) -> Image:
            return Image(pixels=px, bits_stored=16)

        out.append(Record(f"r{i}", None, None, None, {}, load))
    return out


@needs_imagecodecs
def test_a_new_vault_records_htj2k_as_its_default_codec(vault: Vault, tmp_path) -> None:
    assert read_config(tmp_path / "vault")["codec"] == "htj2k"
    ref = vault.put(make_image(), dataset="d", as_="olivia")
    assert vault.show(ref.id, as_="olivia").manifest["codec"] == "htj2k"


@needs_imagecodecs
@pytest.mark.parametrize("codec", ["jpegls", "j2k", "htj2k"])
def test_the_codec_recorded_at_init_is_used_by_put_put_many_and_ingest(
    tmp_path, keyring, codec: str
) -> None:
    root = tmp_path / "v"
    Vault.init(root, keyring=keyring, owner="olivia").close()
    assert set_default_codec(root, codec.upper()) == codec
    v = Vault.open(root, keyring=keyring)
    refs = [v.put(make_image(1), dataset="d", as_="olivia")]
    refs += v.put_many([make_image(2), make_image(3)], dataset="d", as_="olivia")
    report = v.ingest(_records(2), dataset="d", as_="olivia")
    refs += report.refs
    assert not report.failures and len(refs) == 5
    for ref in refs:
        assert v.show(ref.id, as_="olivia").manifest["codec"] == codec
    images = v.get_many([r.id for r in refs], as_="olivia")
    np.testing.assert_array_equal(images[0].pixels, make_image(1).pixels)
    np.testing.assert_array_equal(images[3].pixels, _records(1)[0].image().pixels)
    v.close()


@needs_imagecodecs
def test_ingest_can_choose_a_codec_for_one_run_and_every_codec_keeps_decoding(
    vault: Vault, tmp_path
) -> None:
    by_codec = {}
    for codec in ("j2k", "jpegls", "htj2k"):
        rep = vault.ingest(_records(2), dataset=codec, as_="olivia", codec=codec)
        assert not rep.failures
        by_codec[codec] = rep.refs
    assert read_config(tmp_path / "vault")["codec"] == "htj2k"  # the vault default is unchanged
    for codec, refs in by_codec.items():
        for i, ref in enumerate(refs):
            assert vault.show(ref.id, as_="olivia").manifest["codec"] == codec
            np.testing.assert_array_equal(
                vault.get(ref.id, as_="olivia").pixels, _records(2)[i].image().pixels
            )


def test_a_vault_without_a_codec_setting_uses_the_default(vault: Vault, tmp_path) -> None:
    root = tmp_path / "vault"
    config = read_config(root)
    del config["codec"]  # a vault created before the setting existed
    write_config(root, config)
    vault.config.pop("codec")
    ref = vault.put(make_image(), dataset="d", as_="olivia")
    assert vault.show(ref.id, as_="olivia").manifest["codec"] == default_codec()
    assert _objects.Encoding.of(vault, None).codec == default_codec()


def test_an_unknown_codec_is_refused_at_init_and_in_the_settings(
    vault: Vault, tmp_path, keyring
) -> None:
    with pytest.raises(UnknownCodecError, match="unknown codec 'jpeg-xl'; known codecs: htj2k"):
        set_default_codec(tmp_path / "vault", "jpeg-xl")
    assert "jpeg-xl" not in (tmp_path / "vault" / "vault.json").read_text()
    vault.config["codec"] = "jpeg-xl"  # a hand-edited vault.json
    with pytest.raises(ConfigError, match="vault settings: unknown codec 'jpeg-xl'"):
        vault.put(make_image(), dataset="d", as_="olivia")
    assert vault.ls(as_="olivia") == []
    config = json.loads((tmp_path / "vault" / "vault.json").read_text())
    assert config["codec"] in ("htj2k", "j2k")


def test_choosing_a_codec_keeps_each_object_name(vault: Vault) -> None:
    refs = vault.put_many([make_image(1)], dataset="d", as_="olivia")
    refs.append(vault.put(make_image(2), dataset="d", as_="olivia", name="n2"))
    report = vault.ingest(_records(1), dataset="d", as_="olivia", codec="j2k")
    names = [vault.show(r.id, as_="olivia").name for r in [*refs, *report.refs]]
    assert names == [None, "n2", "r0"]


@needs_imagecodecs
@pytest.mark.parametrize("codec", ["jpegls", "j2k"])
def test_init_put_and_put_many_take_a_codec_and_the_vault_default_stays(tmp_path, keyring, codec):
    v = Vault.init(tmp_path / "v", keyring=keyring, owner="olivia", codec=codec.upper())
    assert read_config(tmp_path / "v")["codec"] == codec
    other = "htj2k"
    refs = [v.put(make_image(1), dataset="d", as_="olivia")]
    refs += [v.put(make_image(2), dataset="d", as_="olivia", codec=other)]
    refs += v.put_many([make_image(3)], dataset="d", as_="olivia", codec=other)
    got = [v.show(r.id, as_="olivia").manifest["codec"] for r in refs]
    assert got == [codec, other, other]
    assert read_config(tmp_path / "v")["codec"] == codec
    np.testing.assert_array_equal(v.get(refs[1].id, as_="olivia").pixels, make_image(2).pixels)
    v.close()


def test_an_unknown_codec_is_refused_before_anything_is_created_or_stored(vault, tmp_path, keyring):
    with pytest.raises(UnknownCodecError, match="unknown codec 'jpeg-xl'"):
        Vault.init(tmp_path / "new", keyring=keyring, owner="olivia", codec="jpeg-xl")
    assert not (tmp_path / "new" / "vault.json").exists()
    for call in (
        lambda: vault.put(make_image(), dataset="d", as_="olivia", codec="jpeg-xl"),
        lambda: vault.put_many([make_image()], dataset="d", as_="olivia", codec="jpeg-xl"),
        lambda: vault.ingest(_records(1), dataset="d", as_="olivia", codec="jpeg-xl"),
    ):
        with pytest.raises(UnknownCodecError):
            call()
    assert vault.ls(as_="olivia") == []
