import sys
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

import grader.metrics.afd as afd_module
from grader.metrics import MetricRefused, MetricUnavailable
from grader.metrics.afd import anime_face_detection_rate, check_pillow_compatible, real_data_afd


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


@pytest.mark.parametrize("version", ["12.0.0", "13.1.2"])
def test_pillow_12_or_newer_is_refused_instead_of_reporting_zero_faces(monkeypatch, version):
    monkeypatch.setattr(afd_module.PIL, "__version__", version)
    with pytest.raises(MetricUnavailable, match=r"pip install 'pillow<12'"):
        anime_face_detection_rate(torch.zeros(1, 3, 64, 64))


def test_pillow_11_passes_the_guard():
    check_pillow_compatible("11.3.0")


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
