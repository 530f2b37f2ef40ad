"""The public surface: exact `__all__` per package, real types for mypy, no private or clashing names."""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import medseal

EXPECTED_ALL = {
    "medseal": [
        "Image", "KeyRing", "Role", "Vault", "__version__", "read_dicom", "read_image", "seal",
        "to_display", "unseal",
    ],
    "medseal.ingest": [
        "Deidentifier", "Record", "discover", "image_to_grey_uint8", "load_path", "read_dicom",
        "read_image", "read_npz", "to_display", "to_grey_uint8",
    ],
    "medseal.ingest.datasets": [
        "demo_records", "find", "get", "load", "magnification_series", "names",
        "patient_disjoint_split", "pydicom_sample_paths",
    ],
    "medseal.codec": [
        "CodecName", "DEFAULT_CODEC", "TransferSyntax", "available_codecs", "decode",
        "default_codec", "encode", "pack", "parse_transfer_syntax", "read_siz", "register_backend", "to_dicom",
        "transcode_dicom", "unpack", "write_dicom",
    ],
    "medseal.crypto": [
        "CONTAINER_OVERHEAD", "Algorithm", "KeyRing", "SealedBlob", "WrappedKey",
        "container_header_size", "seal", "seal_into", "sealed_size", "unseal", "unseal_into",
    ],
    "medseal.vault": [
        "ALL_DATASETS", "Action", "DerivedKind", "GC_GRACE_S", "Grant", "IngestReport", "ObjectInfo",
        "ObjectListing", "PutItem", "Role", "RotationReport", "Vault", "VerifyReport", "check_id",
        "codec_name",
    ],
    "medseal.privacy": ["ckks", "masking", "more"],
    "medseal.privacy.masking": [
        "DEFAULT_SCHEME", "KEY_SIZE", "BlockScramble", "BlockTransform", "Compose", "KeyFreeAugment",
        "MaskDescriptor", "MaskImage", "MaskImaged", "MaskKind", "MaskingReport", "MaskingScheme",
        "NegativePositive", "PadMode", "PixelShuffle", "blockify", "image_key", "key_id",
        "make_scheme", "mask_dataset", "mask_key_id", "pad_to_block", "unblockify",
    ],
    "medseal.privacy.more": [
        "AlgebraProjector", "DEFAULT_NOISE_RANGE", "EncryptedBundle", "FoldResults",
        "MoreContextMismatchError", "MoreFormatError",
        "MoreIndexError", "MoreKey", "MoreKeyPickleError", "MorePublicContext", "MoreShapeError",
        "MoreTensor", "avg_pool2d", "concatenate", "conv2d", "conv2d_input_grad",
        "conv2d_weight_grad", "is_clear_key", "stack",
    ],
    "medseal.privacy.ckks": [
        "FORMAT_VERSION", "HE_STANDARD_128", "PROFILES", "AffineLayer", "BatchStage", "CKKSBackend",
        "CKKSBackendUnavailableError", "CKKSContextMismatchError", "CKKSFormatError", "CKKSKey",
        "CKKSModelMismatchError", "CKKSPlanError", "CKKSProfile", "CKKSProfileError",
        "CKKSPublicContext", "CKKSSecretError", "CKKSServer", "EncryptedBatch", "EvalStats",
        "HEProgram", "Packing", "ProfileName", "RoundTrip", "SinglePacking", "SquareLayer",
        "VaultBatch", "available_backends", "ckks_backend", "encrypt_vault_dataset", "get_profile",
        "load_vault_batch", "round_trip",
    ],
    "medseal.models": [
        "MaskedCNN", "MoreClient", "MoreTrainConfig", "ResNet18", "SequenceSet", "Split",
        "SplitData", "TrainConfig", "TrainResult", "aes_control", "decrypt_results",
        "encrypt_bundle", "fit", "frame", "load_dataset", "load_masked_from_vault",
        "load_masked_training", "load_model", "load_sequences", "nih_followup_sequences",
        "predict_masked", "predict_proba", "run_fold", "save_model", "split_validation",
        "to_tensor", "train_bundle", "train_masked_cnn", "vault_sequences",
    ],
    "medseal.models.nets": [
        "BasicBlock", "ConvBiLSTM", "MaskedCNN", "ResNet18", "build", "compile_he", "load_he_cnn",
        "save_he_cnn",
    ],
    "medseal.evaluate": [
        "HEData", "HEStudyConfig", "Mode", "Seed000Config", "Seed003Config", "auc_with_ci",
        "binary_metrics", "compare_leakage", "modes_markdown", "run_he_study", "run_seed000",
        "run_seed003", "seed003_summary_lines", "summarize", "train_he_cnn", "write_modes_report",
        "write_report", "write_seed003_report",
    ],
    "medseal.evaluate.attacks": ["eigenvalue_attack", "mask_known_plaintext_attack", "views_attack"],
}  # fmt: skip


def _modules() -> list[str]:
    names = ["medseal"]
    for info in pkgutil.walk_packages(medseal.__path__, "medseal.", onerror=lambda name: None):
        if not info.name.endswith("__main__") and not info.name.startswith("medseal.cli"):
            names.append(info.name)
    return names


@pytest.mark.parametrize("package", sorted(EXPECTED_ALL))
def test_each_public_package_exports_exactly_the_listed_names(package):
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(EXPECTED_ALL[package])
    assert len(set(module.__all__)) == len(module.__all__)
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_the_headline_features_import_from_their_packages():
    from medseal.privacy import ckks, masking, more

    assert masking.make_scheme is not None and more.MoreKey is not None
    assert ckks.CKKSKey is not None
    assert medseal.privacy.masking is masking


def test_no_module_exports_a_private_name():
    private = []
    for name in _modules():
        try:
            module = importlib.import_module(name)
        except ImportError:  # an optional backend that is not installed
            continue
        private += [
            f"{name}.{n}"
            for n in getattr(module, "__all__", [])
            if n.startswith("_") and n != "__version__"
        ]
    assert private == []


def test_no_name_means_two_things_across_the_public_packages():
    seen: dict[str, tuple[str, object]] = {}
    clashes = []
    for package in EXPECTED_ALL:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if name in seen and seen[name][1] is not obj:
                clashes.append(f"{name}: {seen[name][0]} and {package}")
            seen.setdefault(name, (package, obj))
    assert clashes == []


def test_mypy_sees_the_real_classes_behind_the_top_level_names(tmp_path):
    pytest.importorskip("mypy")
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import medseal\n"
        "reveal_type(medseal.Vault)\n"
        "reveal_type(medseal.KeyRing)\n"
        "reveal_type(medseal.read_dicom)\n",
        encoding="utf-8",
    )
    src = str(Path(medseal.__file__).resolve().parents[1])  # the medseal under test
    args = ["--follow-imports=silent", "--ignore-missing-imports", "--config-file", ""]
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", *args, "--cache-dir", str(tmp_path / "cache"), str(probe)],
        env={**os.environ, "MYPYPATH": src},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    revealed = [line for line in proc.stdout.splitlines() if "Revealed type" in line]
    assert len(revealed) == 3, proc.stdout + proc.stderr
    assert "medseal.vault.vault.Vault" in revealed[0]
    assert "medseal.crypto.keyring.KeyRing" in revealed[1]
    assert "medseal.types.Image" in revealed[2]
    assert not any('"Any"' in line for line in revealed)


DOCS_ROOT = Path(__file__).resolve().parents[1]
PROCESS_WORDS = re.compile(
    r"\bissues? \d+|\bTODO\b|\bFIXME\b|\bhelper-\d|\bthe lead\b|\blead's\b|\bengineers?\b"
    r"|\bstop \d+\b|\bthis stop\b|\bsessions?\b",
    re.IGNORECASE,
)


def _doc_files() -> list[Path]:
    docs = DOCS_ROOT / "docs"
    if not docs.is_dir():
        pytest.skip("docs/ is not beside this checkout")
    return [DOCS_ROOT / "README.md", *sorted(docs.glob("*.md"))]


def test_the_docs_link_only_inside_the_repository():
    outside = []
    for path in _doc_files():
        text = path.read_text(encoding="utf-8")
        outside += [f"{path.name}: {m}" for m in re.findall(r"https?://\S+|www\.\S+", text)]
        for target in re.findall(r"\]\(([^)#\s]+)", text):
            resolved = (path.parent / target).resolve()
            if not resolved.is_relative_to(DOCS_ROOT):
                outside.append(f"{path.name}: {target}")
    assert outside == []


def test_the_docs_use_no_process_words():
    found = []
    for path in _doc_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            found += [f"{path.name}:{number}: {m}" for m in PROCESS_WORDS.findall(line)]
    assert found == []
