import sys
import warnings
from types import SimpleNamespace

import numpy as np
import PIL
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import grader.metrics.afd as afd_module
from grader.metrics import MetricRefused, MetricUnavailable
from grader.metrics.afd import anime_face_detection_rate, real_data_afd
from grader.metrics.anime_face_detector import detect_faces
from grader.metrics.images import load_images
from tests.support.course_data import course_dataset


def uniform_noise(count: int, seed: int) -> torch.Tensor:
    return torch.rand(count, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def smooth_noise(count: int, seed: int) -> torch.Tensor:
    coarse = torch.rand(count, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    return F.interpolate(coarse, size=64, mode="bilinear", align_corners=False)


def fake_detector(likelihoods_per_image, seen_sizes):
    """A stand-in for animeface.detect returning faces with the given likelihoods, image by image."""
    queue = list(likelihoods_per_image)

    def detect(image):
        seen_sizes.append(image.size)
        return [SimpleNamespace(likelihood=value) for value in queue.pop(0)]

    return detect


def test_noise_images_have_almost_no_detections():
    result = anime_face_detection_rate(torch.cat([uniform_noise(60, seed=0), smooth_noise(60, seed=1)]))
    assert result.n == 120
    assert result.rate_any <= 0.05
    assert result.rate <= 0.02


def test_rates_count_any_detection_and_confident_detections_separately(monkeypatch):
    sizes = []
    detections = [[], [0.5], [0.95], [0.3, 0.99]]
    monkeypatch.setattr(afd_module, "_detector", lambda: fake_detector(detections, sizes))
    result = anime_face_detection_rate(torch.zeros(4, 3, 64, 64))
    assert (result.rate_any, result.rate, result.n, result.min_likelihood) == (0.75, 0.5, 4, 0.9)
    assert sizes == [(128, 128)] * 4  # upscaled for the detector


def real_faces_upscaled(count: int):
    """The first `count` real faces of the course data (under the data root), as the detector sees them."""
    folder = course_dataset("anime-faces-64")
    return [Image.open(path).convert("RGB").resize((128, 128), Image.LANCZOS)
            for path in sorted(folder.glob("*.png"))[:count]]


def test_the_detector_on_pixels_finds_real_faces_and_agrees_with_animeface_detect_where_that_works():
    """Called on pixels, the detector works under any Pillow; under Pillow < 12 it must give exactly
    animeface.detect's likelihoods, and under Pillow >= 12 animeface.detect finds nothing (why we never call it)."""
    import animeface

    faces = real_faces_upscaled(100)
    ours = [[face.likelihood for face in detect_faces(np.asarray(image))] for image in faces]
    assert 0.75 <= sum(bool(found) for found in ours) / len(faces) <= 0.97  # ~87% measured on the 2,000
    theirs = [[face.likelihood for face in animeface.detect(image)] for image in faces]
    if int(PIL.__version__.split(".")[0]) < 12:
        assert ours == theirs
    else:
        assert not any(theirs)


def test_the_detector_refuses_an_animeface_version_whose_layout_it_does_not_know(monkeypatch):
    import grader.metrics.anime_face_detector as detector_module

    with pytest.raises(ValueError, match="uint8"):
        detect_faces(np.zeros((8, 8, 3), dtype=np.float32))
    monkeypatch.setattr(detector_module.metadata, "version", lambda name: "2.1.0")
    with pytest.raises(MetricUnavailable, match="animeface==2.0.3"):
        anime_face_detection_rate(torch.zeros(1, 3, 64, 64))


def test_missing_detector_error_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "animeface", None)  # makes `import animeface` fail
    with pytest.raises(MetricUnavailable, match="pip install animeface"):
        anime_face_detection_rate(torch.zeros(1, 3, 64, 64))


def test_real_data_without_any_detected_face_is_refused():
    with pytest.raises(MetricRefused, match="refusing"):
        real_data_afd(smooth_noise(30, seed=2))


def test_real_data_below_the_requested_floor_is_refused(monkeypatch):
    monkeypatch.setattr(afd_module, "_detector", lambda: fake_detector([[0.95], [], [], []], []))
    with pytest.raises(MetricRefused, match="25.0%"):
        real_data_afd(torch.zeros(4, 3, 64, 64), min_rate_any=0.5)


# -- the real-data AFD cache (a counting stand-in detector: the cache logic does not depend on it) ------


@pytest.fixture
def counted_detector(monkeypatch):
    """Replace animeface by a detector that finds one face (likelihood 0.95) in every image; counts its calls."""
    calls = []

    def detect(image):
        calls.append(image.size)
        return [SimpleNamespace(likelihood=0.95)]

    monkeypatch.setattr(afd_module, "_detector", lambda: detect)
    return calls


def test_a_second_real_data_afd_comes_from_the_cache_without_running_the_detector(isolated_fid_cache,
                                                                                   counted_detector):
    images = smooth_noise(3, seed=4)
    first = real_data_afd(images)
    assert len(counted_detector) == 3
    assert real_data_afd(images) == first
    assert len(counted_detector) == 3  # not run again
    assert len(list((isolated_fid_cache.parent / "afd").glob("real-*.json"))) == 1  # under $DIFFUSION_HW_CACHE


def test_changing_one_pixel_or_min_likelihood_changes_the_cache_key(tmp_path, counted_detector):
    images = load_images(smooth_noise(2, seed=5))
    changed = images.clone()
    changed[1, 2, 3, 4] ^= 1
    keys = {afd_module.real_data_afd_key(images, 0.9, 128), afd_module.real_data_afd_key(changed, 0.9, 128),
            afd_module.real_data_afd_key(images, 0.8, 128), afd_module.real_data_afd_key(images, 0.9, 96)}
    assert len(keys) == 4
    for variant, min_likelihood in ((images, 0.9), (changed, 0.9), (images, 0.8)):
        real_data_afd(variant, min_likelihood=min_likelihood, cache_dir=tmp_path)
    assert len(counted_detector) == 6 and len(list(tmp_path.glob("real-*.json"))) == 3


def test_the_detector_and_pillow_versions_are_part_of_the_key(monkeypatch):
    images = load_images(smooth_noise(1, seed=6))
    before = afd_module.real_data_afd_key(images, 0.9, 128)
    monkeypatch.setattr(afd_module.PIL, "__version__", "0.0.0-not-installed")
    after_pillow = afd_module.real_data_afd_key(images, 0.9, 128)
    monkeypatch.setattr(afd_module, "_animeface_version", lambda: "2.0.4")
    assert len({before, after_pillow, afd_module.real_data_afd_key(images, 0.9, 128)}) == 3


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong contents"])
def test_a_corrupt_afd_cache_file_is_recomputed_with_a_warning(tmp_path, counted_detector, damage):
    images = smooth_noise(2, seed=7)
    first = real_data_afd(images, cache_dir=tmp_path)
    (cache_file,) = tmp_path.glob("real-*.json")
    content = cache_file.read_text()
    corrupt = {"garbage": "not json", "truncated": content[: len(content) // 2],
               "wrong contents": content.replace('"n": 2', '"n": 5')}[damage]
    cache_file.write_text(corrupt)
    with pytest.warns(UserWarning, match="recomputing"):
        assert real_data_afd(images, cache_dir=tmp_path) == first
    assert len(counted_detector) == 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rewritten file reads cleanly
        real_data_afd(images, cache_dir=tmp_path)
    assert len(counted_detector) == 4


def test_a_cached_result_is_still_refused_below_the_requested_floor(tmp_path, monkeypatch):
    monkeypatch.setattr(afd_module, "_detector", lambda: fake_detector([[0.95], [], [], []], []))
    real_data_afd(torch.zeros(4, 3, 64, 64), cache_dir=tmp_path)  # 25% any detection: cached
    monkeypatch.setattr(afd_module, "_detector", lambda: pytest.fail("the detector ran despite the cache"))
    with pytest.raises(MetricRefused, match="25.0%"):
        real_data_afd(torch.zeros(4, 3, 64, 64), min_rate_any=0.5, cache_dir=tmp_path)


def test_a_refused_real_data_afd_is_not_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(afd_module, "_detector", lambda: fake_detector([[], []], []))
    with pytest.raises(MetricRefused):
        real_data_afd(torch.zeros(2, 3, 64, 64), cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_afd_cache_only_warns(tmp_path, counted_detector):
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    with pytest.warns(UserWarning, match="could not write"):
        assert real_data_afd(smooth_noise(2, seed=8), cache_dir=blocker).n == 2
