"""The CKKS study (`medseal evaluate he`) on the embedded PneumoniaMNIST subset, and its goal judge."""

from __future__ import annotations

import copy

import pytest

from conftest import need_tenseal

pytest.importorskip("torch", reason="the study trains a torch network")


from medseal.evaluate.he import HEStudyConfig, judge_goals, run_he_study  # noqa: E402


@pytest.fixture(scope="module")
def result():
    need_tenseal()
    cfg = HEStudyConfig(data="embedded", channels=1, epochs=2, n_boot=50, limit=40, threads=1)
    return run_he_study(cfg, say=lambda _: None)


def test_the_study_scores_plain_simulate_and_encrypted_on_the_same_test_images(result):
    n = result["dataset"]["test"]
    for mode in ("plain", "simulate", "encrypted"):
        assert result["auc"][mode]["n"] == n
    assert result["agreement"]["simulate_vs_encrypted"] == 1.0
    assert result["agreement"]["max_abs_logit_diff_sim_enc"] < 1e-2
    assert abs(result["auc"]["encrypted"]["auc"] - result["auc"]["simulate"]["auc"]) < 0.02


def test_the_study_reports_cost_and_sizes_measured_in_the_run(result):
    lat, sizes = result["latency"], result["sizes"]
    assert lat["server_s"] > 0 and lat["client_encrypt_s"] > 0
    assert sizes["input_bytes"] > 784 * 100_000  # one ciphertext (hundreds of KB) per pixel
    assert sizes["galois_keys_bytes"] == 0 and sizes["public_context_bytes"] < 10_000
    assert (
        result["plaintext_cost"]["resnet18_params"]
        > 100 * result["plaintext_cost"]["he_cnn_params"]
    )
    assert result["profile"]["security_bits"] == 128


def test_the_attack_is_judged_on_the_median_over_several_keys(result):
    attack = result["attacks"][0]
    assert attack["keys"] == 5 and len(set(attack["ciphertext_r2_per_key"])) == 5
    assert attack["ciphertext_r2"] == sorted(attack["ciphertext_r2_per_key"])[2]
    assert attack["attack_fails"] == (attack["ciphertext_r2"] < 0.1)
    assert attack["encoding_r2"] > 0.99


def test_the_study_reports_cpu_seconds_beside_wall_time(result):
    lat = result["latency"]
    assert lat["cpu_s"] > 0 and lat["wall_s"] > 0
    assert lat["per_image_full_batch_cpu_s"] == pytest.approx(
        lat["cpu_s"] / lat["batches"] / result["profile"]["slots"]
    )
    assert lat["single_image_cpu_s"] > 0 and result["cpu_seconds"] > 0
    assert len(result["machine"]["load_average"]) == 3
    measured = {g["goal"]: g["measured"] for g in result["goals"]}
    assert "ms CPU per image" in measured["under 10 ms per image amortized (batched packing)"]
    assert "min CPU" in measured["whole study under 20 minutes"]


def test_goals_are_judged_from_the_numbers(result):
    assert [g["met"] for g in result["goals"]] == [g["met"] for g in judge_goals(result)]
    better = copy.deepcopy(result)
    better["auc"]["plain"]["auc"] = 0.96
    better["auc"]["encrypted"]["auc"] = 0.958
    better["agreement"]["simulate_vs_encrypted"] = 1.0
    better["latency"]["per_image_full_batch_s"] = 0.005
    met = [g["met"] for g in judge_goals(better)]
    # plaintext AUC, encrypted gap, agreement, single, amortized, attack, study time
    assert met[0] and met[1] and met[2] and met[4]
    worse = copy.deepcopy(better)
    worse["auc"]["plain"]["auc"] = 0.94
    worse["auc"]["encrypted"]["auc"] = 0.93
    worse["agreement"]["simulate_vs_encrypted"] = 0.99
    worse["latency"]["per_image_full_batch_s"] = 0.02
    met = [g["met"] for g in judge_goals(worse)]
    assert not (met[0] or met[1] or met[2] or met[4])


def test_the_study_measures_single_image_latency_in_the_single_image_packing(result):
    single = result["single_packing"]
    assert single["images"] == 10 and single["agreement_with_simulate"] == 1.0
    assert single["max_abs_logit_diff_sim"] < 1e-2
    assert single["plan"]["galois_keys"] and single["galois_keys_bytes"] > 0
    assert result["latency"]["single_image_s"] == single["end_to_end_s"]
    # one image is a few ciphertexts, far fewer bytes than a throughput batch
    assert single["input_bytes_per_image"] < result["sizes"]["input_bytes"] / 20


def test_resizing_the_splits_keeps_labels_and_ids_and_gives_the_new_side():
    import numpy as np

    from medseal.evaluate.he import resize_splits
    from medseal.models.data import Split, SplitData

    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        x = rng.integers(0, 256, size=(n, 64, 64), dtype=np.uint8)
        return Split(x, np.arange(n) % 2, [f"id{i}" for i in range(n)])

    data = SplitData("nih-test", split(4), split(3), split(2), "toy")
    small = resize_splits(data, 28)
    assert small.test.x.shape == (2, 28, 28) and small.train.x.dtype == np.uint8
    assert small.val.ids == data.val.ids and list(small.train.y) == [0, 1, 0, 1]
    # a flat image stays flat (antialiased bilinear averages, no ringing)
    flat = SplitData(
        "f", *(Split(np.full((1, 64, 64), 77, np.uint8), np.zeros(1), ["a"]),) * 3, "toy"
    )
    assert np.all(resize_splits(flat, 28).test.x == 77)
