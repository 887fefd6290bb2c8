"""FID and KID between generated samples and a reference set, with cached reference statistics.

With f(x) the 2048-d Inception features (see `inception.py`), samples S and reference R:

    mu_S, Sigma_S = mean and covariance (ddof = 1) of f over S     (same for R)
    FID = ||mu_S - mu_R||^2 + Tr(Sigma_S) + Tr(Sigma_R) - 2 Tr((Sigma_S Sigma_R)^(1/2))
          (Heusel et al. 2017), the formula of clean-fid's `frechet_distance`.

The last trace is computed exactly without a matrix square root, which is what makes FID cheap on a CPU
(clean-fid's `frechet_distance` takes scipy's `sqrtm` of a 2048 x 2048 matrix, slow on a CPU; the routes
below need one symmetric eigendecomposition or one SVD, and the tests hold them to it within 1e-6 relative):

    Sigma_S Sigma_R is similar to the PSD matrix Sigma_S^(1/2) Sigma_R Sigma_S^(1/2), so
    Tr((Sigma_S Sigma_R)^(1/2)) = sum_i sqrt(lambda_i(Sigma_S^(1/2) Sigma_R Sigma_S^(1/2)))     (from stats)
                                = ||S_c R_c^T||_* / sqrt((N_S - 1)(N_R - 1))                  (from features)
    where S_c, R_c are the centred feature matrices (Sigma_S = S_c^T S_c / (N_S - 1)) and ||.||_* is the
    nuclear norm (sum of singular values); the features route is used when N_S N_R <= 4 * 2048^2.

KID (Binkowski et al. 2018), clean-fid's `kernel_distance` with a fixed seed (the same random subsets
and sums, from kernel matrices computed once: 100x fewer flops):

    k(x, y) = (x . y / d + 1)^3                                    (cubic polynomial kernel, d = 2048)
    KID = mean over 100 random subsets of m = min(|S|, |R|, 1000) features of the unbiased MMD^2

Both are biased upwards for small sets (FID strongly so below ~2,000 images), so only compare numbers
computed with the same N. FID of a set against itself is 0 up to floating-point error.

Reference statistics (features, mu, Sigma) are cached in `$DIFFUSION_HW_CACHE/fid/` (default
`~/.cache/diffusion-hw/fid/`), one `.npz` per reference set, keyed by sha256 of the network's sha1,
the set's shape and its 8-bit pixels: changing one pixel of the reference makes a new entry, and a
folder and the tensor it was written from share one. An unreadable cache file is recomputed; a cache
that cannot be written is skipped with a warning (see `cache.py`, shared with the real-data AFD).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.linalg import LinAlgWarning

from .cache import cache_folder, read_entry, write_entry
from .images import ImageSource, content_sha256, load_images
from .inception import FEATURE_DIM, INCEPTION_SHA1, inception_features

CACHE_FORMAT = "diffusion-hw-fid-reference-v1"
KID_SEED = 0


@dataclass(frozen=True)
class FIDResult:
    fid: float
    kid: float
    n_samples: int
    n_reference: int


@dataclass(frozen=True, eq=False)  # arrays: compare fields with np.array_equal
class ReferenceStats:
    """Statistics of a reference set: mu (2048,), sigma (2048, 2048), features (N, 2048) float64."""

    mu: np.ndarray
    sigma: np.ndarray
    features: np.ndarray
    key: str

    @classmethod
    def from_features(cls, features: np.ndarray, key: str = "") -> "ReferenceStats":
        features = _check_features(features, "reference features")
        return cls(features.mean(axis=0), np.cov(features, rowvar=False), features, key)


def default_cache_dir() -> Path:
    return cache_folder("fid")


def _check_features(features: np.ndarray, name: str) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"{name} has shape {features.shape} but (N, D) with N >= 2 was expected")
    if not np.isfinite(features).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return features


def _quietly(function, *args, **kwargs):
    # clean-fid print()s a notice, and scipy warns, when the covariance product is singular (always when
    # N < 2048): expected, and handled by clean-fid, so keep stdout and the warnings clean.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", LinAlgWarning)
        warnings.simplefilter("ignore", DeprecationWarning)  # scipy 1.17 deprecates sqrtm(disp=...)
        return function(*args, **kwargs)


def trace_sqrt_product(sigma_a: np.ndarray, sigma_b: np.ndarray) -> float:
    """Tr((sigma_a sigma_b)^(1/2)) = sum_i sqrt(lambda_i(sigma_a^(1/2) sigma_b sigma_a^(1/2))), exactly."""
    eigenvalues, eigenvectors = np.linalg.eigh(sigma_a)
    root_a = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T  # sigma_a^(1/2)
    similar = root_a @ sigma_b @ root_a  # PSD, same spectrum as sigma_a sigma_b
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((similar + similar.T) / 2), 0, None)).sum())


def trace_sqrt_product_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """Tr((Sigma_a Sigma_b)^(1/2)) = ||A_c B_c^T||_* / sqrt((N - 1)(M - 1)) for a (N, D), b (M, D)."""
    a_centred, b_centred = a - a.mean(axis=0), b - b.mean(axis=0)
    singular_values = np.linalg.svd(a_centred @ b_centred.T, compute_uv=False)  # of an (N, M) matrix
    return float(singular_values.sum() / np.sqrt((len(a) - 1) * (len(b) - 1)))


def fid_from_stats(
    mu_a: np.ndarray, sigma_a: np.ndarray, mu_b: np.ndarray, sigma_b: np.ndarray, backend: str = "eigh"
) -> float:
    """FID = ||mu_a - mu_b||^2 + Tr(sigma_a) + Tr(sigma_b) - 2 Tr((sigma_a sigma_b)^(1/2)).

    backend="eigh" (default) takes the trace exactly from eigenvalues; backend="clean-fid" calls
    clean-fid's own `frechet_distance` (scipy `sqrtm`, slow on a CPU) as a cross-check.
    """
    if backend == "clean-fid":
        from cleanfid.fid import frechet_distance  # imports torchvision, scipy: only when asked for

        return float(_quietly(frechet_distance, mu_a, sigma_a, mu_b, sigma_b))
    if backend != "eigh":
        raise ValueError(f"backend must be 'eigh' or 'clean-fid', got {backend!r}")
    difference = np.asarray(mu_a, np.float64) - np.asarray(mu_b, np.float64)
    return float(difference @ difference + np.trace(sigma_a) + np.trace(sigma_b)
                 - 2 * trace_sqrt_product(sigma_a, sigma_b))


def fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two feature sets a (N, D) and b (M, D), N, M >= 2."""
    a, b = _check_features(a, "features a"), _check_features(b, "features b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets have dimensions {a.shape[1]} and {b.shape[1]}; they must match")
    if len(a) * len(b) > 4 * a.shape[1] ** 2:  # then the (D, D) route is cheaper than an (N, M) SVD
        return fid_from_stats(a.mean(axis=0), np.cov(a, rowvar=False), b.mean(axis=0), np.cov(b, rowvar=False))
    difference = a.mean(axis=0) - b.mean(axis=0)
    trace_a = a.var(axis=0, ddof=1).sum()  # Tr(Sigma_a)
    trace_b = b.var(axis=0, ddof=1).sum()
    return float(difference @ difference + trace_a + trace_b - 2 * trace_sqrt_product_from_features(a, b))


def _kernel_distance_precomputed(a: np.ndarray, b: np.ndarray, num_subsets: int, max_subset_size: int) -> float:
    """clean-fid's `kernel_distance(a, b)`, draw for draw, from kernel matrices computed once.

    clean-fid recomputes three (m, m) kernel blocks for each of its 100 subsets; indexing full (N, N),
    (M, M), (N, M) matrices, computed once, instead gives the same sums.
    """
    dimension = a.shape[1]
    m = min(len(a), len(b), max_subset_size)
    kernel_aa = (a @ a.T / dimension + 1) ** 3  # (N, N)
    kernel_bb = (b @ b.T / dimension + 1) ** 3  # (M, M)
    kernel_ab = (a @ b.T / dimension + 1) ** 3  # (N, M)
    total = 0.0
    for _ in range(num_subsets):
        x = np.random.choice(len(b), m, replace=False)  # same order of draws as clean-fid: x from b ...
        y = np.random.choice(len(a), m, replace=False)  # ... then y from a
        off_diagonal_xx = kernel_bb[np.ix_(x, x)].sum() - kernel_bb[x, x].sum()
        off_diagonal_yy = kernel_aa[np.ix_(y, y)].sum() - kernel_aa[y, y].sum()
        total += (off_diagonal_xx + off_diagonal_yy) / (m - 1) - kernel_ab[np.ix_(y, x)].sum() * 2 / m
    return total / num_subsets / m


def kid_from_features(
    a: np.ndarray,
    b: np.ndarray,
    num_subsets: int = 100,
    max_subset_size: int = 1000,
    seed: int = KID_SEED,
    backend: str = "precomputed",
) -> float:
    """KID (unbiased MMD^2, cubic polynomial kernel) between a (N, D) and b (M, D), N, M >= 2.

    The subsets come from numpy's global random state, as in clean-fid; we seed it for a reproducible
    number and restore it afterwards. backend="clean-fid" calls clean-fid's `kernel_distance` itself;
    the default computes the same number from precomputed kernels (used when N, M <= 4096).
    """
    a, b = _check_features(a, "features a"), _check_features(b, "features b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets have dimensions {a.shape[1]} and {b.shape[1]}; they must match")
    if backend not in ("precomputed", "clean-fid"):
        raise ValueError(f"backend must be 'precomputed' or 'clean-fid', got {backend!r}")
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        if backend == "precomputed" and max(len(a), len(b)) <= 4096:  # kernels of <= 128 MiB each
            return float(_kernel_distance_precomputed(a, b, num_subsets, max_subset_size))
        from cleanfid.fid import kernel_distance

        return float(kernel_distance(a, b, num_subsets=num_subsets, max_subset_size=max_subset_size))
    finally:
        np.random.set_state(state)


def _read_stats(path: Path, key: str) -> ReferenceStats:
    """The statistics in a cache file; raises ValueError (or numpy's error) on anything unexpected."""
    with np.load(path, allow_pickle=False) as data:
        if str(data["format"]) != CACHE_FORMAT or str(data["key"]) != key:
            raise ValueError("format or key mismatch")
        mu, sigma, features = data["mu"], data["sigma"], data["features"].astype(np.float64)
    n = features.shape[0]
    expected_shapes = ((FEATURE_DIM,), (FEATURE_DIM, FEATURE_DIM), (n, FEATURE_DIM))
    if (mu.shape, sigma.shape, features.shape) != expected_shapes:
        raise ValueError("array shapes do not match")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all() and np.isfinite(features).all()):
        raise ValueError("non-finite values")
    return ReferenceStats(mu, sigma, features, key)


def _write_stats(handle, stats: ReferenceStats) -> None:
    # The network computes float32, so storing the features as float32 loses nothing.
    np.savez(handle, format=CACHE_FORMAT, key=stats.key, mu=stats.mu, sigma=stats.sigma,
             features=stats.features.astype(np.float32))


def reference_stats(
    reference: ImageSource,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> ReferenceStats:
    """Statistics of a reference set (folder or (N, 3, H, W) batch), from the cache when possible."""
    images = load_images(reference, name="reference")  # (N, 3, H, W) uint8
    key = content_sha256(images, CACHE_FORMAT, INCEPTION_SHA1)
    path = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = path / f"reference-{key}.npz"
    if use_cache and (cached := read_entry(path, lambda p: _read_stats(p, key), "FID")) is not None:
        return cached
    stats = ReferenceStats.from_features(inception_features(images, batch_size=batch_size, device=device), key)
    if use_cache:
        write_entry(path, lambda handle: _write_stats(handle, stats), "FID")
    return stats


def compute_fid(
    samples: ImageSource,
    reference: ImageSource,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
) -> FIDResult:
    """FID and KID of `samples` against `reference`.

    Each may be a folder of images or a batch (N, 3, H, W) uint8 / float in [0, 1]; at least 2 images
    each. The reference statistics are cached (see the module docstring); sample features never are.
    """
    sample_images = load_images(samples, name="samples")
    if len(sample_images) < 2:
        raise ValueError(f"FID needs at least 2 samples, got {len(sample_images)}")
    reference_set = reference_stats(reference, batch_size, device, cache_dir, use_cache)
    sample_features = inception_features(sample_images, batch_size=batch_size, device=device)  # (N, 2048)
    fid = fid_from_features(sample_features, reference_set.features)
    kid = kid_from_features(sample_features, reference_set.features)
    return FIDResult(fid=fid, kid=kid, n_samples=len(sample_images), n_reference=len(reference_set.features))
