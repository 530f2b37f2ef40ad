"""HE-CNN: compile, and predict(mode="plain" | "simulate" | "encrypted") agreeing on small inputs."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import has_tenseal

torch = pytest.importorskip("torch", reason="the HE-CNN is a torch network")

from medseal.errors import InputError  # noqa: E402
from medseal.models.nets.he_cnn import HECNN, HEClassifier, compile_he  # noqa: E402
from medseal.privacy.ckks import CKKSPlanError, HEProgram  # noqa: E402

needs_tenseal = pytest.mark.skipif(not has_tenseal(), reason="tenseal not installed (he extra)")


def _net(seed: int = 0, **kw) -> HECNN:
    torch.manual_seed(seed)
    net = HECNN(**{"channels": 2, "kernel": 4, "stride": 2, "pool": 1, "image_size": 10, **kw})
    # Non-trivial batch-norm statistics and activations, as after training.
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d | torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
        for i, act in enumerate(net.acts):
            act.a.fill_(0.3 if i % 2 == 0 else -0.2)
            act.b.fill_(0.8)
    return net.eval()


def _images(n: int = 6, side: int = 10, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, side, side), dtype=np.uint8)


@pytest.mark.parametrize("hidden", [(), (3,)])
def test_the_compiled_program_is_the_network_with_activations_folded(hidden):
    net = _net(hidden=hidden)
    clf = HEClassifier(net)
    clf.compile(profile="128" if not hidden else "128-deep")
    x = _images()
    np.testing.assert_allclose(
        clf.logits(x, mode="simulate"), clf.logits(x, mode="plain"), rtol=1e-4, atol=1e-4
    )


def test_the_compiler_counts_depth_and_refuses_a_network_deeper_than_the_profile():
    assert _net().depth == 3 and _net(hidden=(3,)).depth == 5
    with pytest.raises(CKKSPlanError, match="depth 5"):
        compile_he(_net(hidden=(3,)), profile="128")


def test_the_scale_budget_uses_calibration_images():
    prog = compile_he(_net(), profile="128", calibration=_images(20))
    assert prog.max_abs is not None and len(prog.max_abs) == 3
    budget = prog.plan()["scale_budget"]
    assert all(row["value_bits_seen"] <= row["value_bits_allowed"] for row in budget)


def test_using_the_model_before_compiling_or_without_a_key_is_a_clear_error():
    clf = HEClassifier(_net())
    with pytest.raises(InputError, match="compile the model first"):
        clf.predict(_images(), mode="simulate")
    clf.compile()
    with pytest.raises(InputError, match="needs the data owner's CKKSKey"):
        clf.predict(_images(), mode="encrypted")
    with pytest.raises(InputError, match="unknown mode"):
        clf.predict(_images(), mode="fhe")


@needs_tenseal
def test_plain_simulate_and_encrypted_agree_on_small_inputs():
    from medseal.privacy.ckks import CKKSKey

    clf = HEClassifier(_net())
    prog = clf.compile(profile="128", calibration=_images(20))
    key = CKKSKey.generate("128")
    x = _images(7)
    plain = clf.logits(x, mode="plain")
    sim = clf.logits(x, mode="simulate")
    enc = clf.logits(x, mode="encrypted", key=key)
    np.testing.assert_allclose(sim, plain, atol=1e-4)
    np.testing.assert_allclose(enc, sim, atol=1e-3)
    assert np.array_equal(enc > 0, sim > 0)
    # The compiled model survives its byte form (what `medseal he compile` writes).
    again = HEClassifier(clf.net, HEProgram.from_bytes(prog.to_bytes()))
    np.testing.assert_allclose(again.logits(x, mode="encrypted", key=key), sim, atol=1e-3)


@needs_tenseal
def test_encrypted_mode_gives_the_same_logits_in_the_single_image_packing():
    from medseal.privacy.ckks import CKKSKey

    clf = HEClassifier(_net())
    prog = clf.compile(profile="128", calibration=_images(20))
    plan = prog.plan("single")
    assert plan["taps"] == 16 and plan["input_ciphertexts"] == 1  # 4x4 taps, 2x4x4 units
    key = CKKSKey.generate("128")
    x = _images(3)
    sim = clf.logits(x, mode="simulate")
    single = clf.logits(x, mode="encrypted", key=key, packing="single")
    np.testing.assert_allclose(single, sim, atol=1e-3)


def test_two_convolutions_compile_to_a_depth_five_program_equal_to_the_network():
    net = _net(kernel=3, stride=1, conv2=(3, 3, 2), pool=1)  # 10 -> 8 -> 3
    assert net.depth == 5 and net.config["conv2"] == [3, 3, 2]
    with pytest.raises(CKKSPlanError, match="depth 5"):
        compile_he(net, profile="128")
    prog = compile_he(net, profile="128-deep", calibration=_images(20))
    assert [type(layer).__name__[0] for layer in prog.layers] == list("ASASA")
    x = _images()
    np.testing.assert_allclose(
        HEClassifier(net, prog).logits(x, mode="simulate"),
        HEClassifier(net).logits(x, mode="plain"),
        rtol=1e-4,
        atol=1e-4,
    )


@needs_tenseal
def test_two_convolutions_run_encrypted_in_the_throughput_packing():
    from medseal.privacy.ckks import CKKSKey

    net = _net(kernel=3, stride=1, conv2=(3, 3, 2), pool=1)
    clf = HEClassifier(net)
    clf.compile(profile="128-deep", calibration=_images(20))
    x = _images(4)
    enc = clf.logits(x, mode="encrypted", key=CKKSKey.generate("128-deep"))
    np.testing.assert_allclose(enc, clf.logits(x, mode="simulate"), atol=1e-3)
