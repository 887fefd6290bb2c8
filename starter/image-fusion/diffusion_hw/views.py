"""Views: the transformations under which an optical illusion changes what it shows (Part 2).

A visual anagram (Geng et al. 2024, "Visual Anagrams") is one image x that reads as prompt p_1 when
seen as it is and as prompt p_2 when seen through a view A (rotated, flipped, jigsaw-shuffled...).
The fused denoising loop (illusions.py) asks the denoiser about A x_t, then maps the answer back
with A^-1 before averaging it with the other views' answers.

Why only some transformations work: the denoiser was trained on x_t = sqrt(alpha_bar_t) x_0 +
sqrt(1 - alpha_bar_t) eps with eps ~ N(0, I). A viewed noisy image A x_t looks like that to the
model only if A eps is again N(0, I), which holds exactly when A is orthogonal (A A^T = I):
cov(A eps) = A I A^T = I. Permutations of pixels (flips, rotations by multiples of 90 degrees,
jigsaw shuffles of tiles) and negation are orthogonal; a blur, a scaling or a colour change are not,
and the model would see noise of the wrong statistics. Orthogonality also gives the inverse for
free (A^-1 = A^T), so every view here is exactly invertible.

Every method takes and returns (B, C, H, W) tensors, the result in the input's dtype (float32,
float64, bfloat16) and on its device, the input left as it is (the loop still needs x_t). `view`
is applied to images (x_t);
`inverse_view` to the denoiser's output, which may carry extra channels: DeepFloyd IF's stage I
predicts 3 noise channels followed by 3 "variance" channels (an interpolation weight between the
posterior's smallest and largest log-variance, per pixel). Those extra channels describe pixels, so
they move with the pixels (they are permuted like the image), but they are not noise, so they are
never negated: a negated weight would swap "little noise" and "much noise".

low_pass / high_pass at the end are the Gaussian filters of hybrid images. They are not views (a
blur is not orthogonal and not invertible); the hybrid reduction of illusions.py applies them to
the noise estimates of two identity views.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F

HYBRID_KERNEL_SIZE = 33  # the hybrid image's low-pass filter: a Gaussian blur, kernel 33, sigma 2
HYBRID_SIGMA = 2.0


class View(ABC):
    """An orthogonal transformation of images (a permutation of pixels, or a negation).

    Subclasses implement
        view(x):             (B, C, H, W) image -> the image as this view shows it
        inverse_view(noise): (B, C', H, W) noise estimate in the view's frame -> the original frame,
                             with C' >= C (extra variance channels are permuted, never negated)
    such that inverse_view(view(x)) == x exactly, for every x.
    """

    @abstractmethod
    def view(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> (B, C, H', W') as this view shows it."""

    @abstractmethod
    def inverse_view(self, noise: torch.Tensor) -> torch.Tensor:
        """noise: (B, C', H', W') in the view's frame -> (B, C', H, W) in the original frame."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# ---------------------------------------------------------------------------------- TODO views


class IdentityView(View):
    """The image as it is: A = I. The first view of every anagram ("the upright reading")."""

    def view(self, x: torch.Tensor) -> torch.Tensor:
        """Return x unchanged: (B, C, H, W) -> (B, C, H, W), x's dtype and device."""
        return x

    def inverse_view(self, noise: torch.Tensor) -> torch.Tensor:
        """Return the noise estimate unchanged: (B, C', H, W) -> (B, C', H, W), all C' channels, noise's
        dtype and device."""
        return noise


class Rotate180View(View):
    """The image turned upside down by a rotation of 180 degrees (a visual anagram's second view).

        view(x)[b, c, i, j] = x[b, c, H - 1 - i, W - 1 - j]

    A rotation by 180 degrees is a permutation of pixels (so orthogonal: the noise stays N(0, I))
    and is its own inverse. It is NOT a horizontal (left-right) flip x[..., i, W - 1 - j] and not a
    vertical flip x[..., H - 1 - i, j]: it is both at once. Hint: torch.flip(x, dims=...) or
    torch.rot90(x, k, dims=(-2, -1)).
    """

    def view(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) -> (B, C, H, W), rotated by 180 degrees in the (H, W) plane; x's dtype and
        device, x itself left as it is."""
        return x.flip(-2, -1)

    def inverse_view(self, noise: torch.Tensor) -> torch.Tensor:
        """noise: (B, C', H, W) -> (B, C', H, W), rotated back; every channel, variance included,
        moves with its pixel and none is negated. noise's dtype and device, noise left as it is."""
        return noise.flip(-2, -1)


# ---------------------------------------------------------------------------------- given views


class VerticalFlipView(View):
    """A mirror image upside down (top row becomes the bottom row): view(x)[..., i, j] = x[..., H-1-i, j].
    Its own inverse."""

    def view(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(-2)

    def inverse_view(self, noise: torch.Tensor) -> torch.Tensor:
        return noise.flip(-2)


class Rotate90CWView(View):
    """A quarter turn clockwise; the inverse is a quarter turn counter-clockwise.
    A non-square (H, W) image becomes (W, H)."""

    def view(self, x: torch.Tensor) -> torch.Tensor:
        return torch.rot90(x, k=-1, dims=(-2, -1))

    def inverse_view(self, noise: torch.Tensor) -> torch.Tensor:
        return torch.rot90(noise, k=1, dims=(-2, -1))


class Rotate90CCWView(View):
    """A quarter turn counter-clockwise; the inverse is a quarter turn clockwise."""

    def view(self, x: torch.Tensor) -> torch.Tensor:
        return torch.rot90(x, k=1, dims=(-2, -1))

    def inverse_view(self, noise: torch.Tensor) -> torch.Tensor:
        return torch.rot90(noise, k=-1, dims=(-2, -1))


class NegateView(View):
    """The photographic negative in model space [-1, 1]: view(x) = -x (A = -I, orthogonal).

    inverse_view negates only the first `image_channels` channels of the estimate (the noise);
    extra channels (DeepFloyd IF's predicted variance) describe how much noise a pixel has, not
    which way it points, so they are passed through unchanged.

    Args:
        image_channels: C, the number of noise channels in front of any variance channels (3 for
            RGB models such as DeepFloyd IF, 1 for greyscale digits).
    """

    def __init__(self, image_channels: int = 3) -> None:
        if isinstance(image_channels, bool) or not isinstance(image_channels, int) or image_channels < 1:
            raise ValueError(
                f"image_channels must be a positive int (3 for RGB, 1 for greyscale), got {image_channels!r}"
            )
        self.image_channels = image_channels

    def view(self, x: torch.Tensor) -> torch.Tensor:
        return -x

    def inverse_view(self, noise: torch.Tensor) -> torch.Tensor:
        c = self.image_channels
        if noise.shape[1] < c:
            raise ValueError(
                f"NegateView(image_channels={c}) got a noise estimate with {noise.shape[1]} channels: "
                f"build NegateView(image_channels={noise.shape[1]}) for a {noise.shape[1]}-channel model"
            )
        return torch.cat([-noise[:, :c], noise[:, c:]], dim=1)

    def __repr__(self) -> str:
        return f"NegateView(image_channels={self.image_channels})"


class JigsawView(View):
    """Cut the image into square tiles and shuffle them with a seeded permutation.

        tiles: the (H / p) x (W / p) grid of p x p tiles, numbered row by row, k = 0 .. n-1
        view(x):          tile k of the output is tile perm[k] of x
        inverse_view(e):  tile perm[k] of the output is tile k of e     (the inverse permutation)

    A shuffle of tiles is a permutation of pixels, hence orthogonal. The permutation depends only on
    `seed` and the number of tiles n (torch.randperm(n) from a generator seeded with `seed`), so the
    same JigsawView shuffles every image of the same size the same way.

    Args:
        patch_size: p, the side of a tile in pixels; H and W must be multiples of it.
        num_tiles: tiles per side instead (p = H / num_tiles); give exactly one of the two.
        seed: the seed of the permutation.
    """

    def __init__(self, patch_size: int | None = None, num_tiles: int | None = None, seed: int = 0) -> None:
        if (patch_size is None) == (num_tiles is None):
            raise ValueError(
                "JigsawView needs exactly one of patch_size (pixels per tile side) or num_tiles (tiles per side)"
            )
        for name, value in (("patch_size", patch_size), ("num_tiles", num_tiles)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.patch_size = patch_size
        self.num_tiles = num_tiles
        self.seed = seed

    def _patch(self, height: int, width: int) -> int:
        p = self.patch_size if self.patch_size is not None else height // self.num_tiles
        if p < 1 or height % p or width % p or (self.num_tiles is not None and height % self.num_tiles):
            raise ValueError(
                f"a {height}x{width} image cannot be cut into square tiles with {self!r}: H and W must be "
                f"multiples of the tile side ({p if p >= 1 else 'less than one pixel'}); pick a patch_size "
                f"that divides both"
            )
        return p

    def permutation(self, num_tiles: int) -> torch.Tensor:
        """perm (num_tiles,) int64: the tile of x that lands at position k."""
        generator = torch.Generator().manual_seed(self.seed)
        return torch.randperm(num_tiles, generator=generator)

    def _shuffle(self, x: torch.Tensor, inverse: bool) -> torch.Tensor:
        b, c, h, w = x.shape
        p = self._patch(h, w)
        gh, gw = h // p, w // p
        tiles = x.reshape(b, c, gh, p, gw, p).permute(0, 1, 2, 4, 3, 5).reshape(b, c, gh * gw, p, p)
        perm = self.permutation(gh * gw).to(x.device)
        order = torch.argsort(perm) if inverse else perm
        tiles = tiles[:, :, order]  # (B, C, n, p, p)
        return tiles.reshape(b, c, gh, gw, p, p).permute(0, 1, 2, 4, 3, 5).reshape(b, c, h, w)

    def view(self, x: torch.Tensor) -> torch.Tensor:
        return self._shuffle(x, inverse=False)

    def inverse_view(self, noise: torch.Tensor) -> torch.Tensor:
        return self._shuffle(noise, inverse=True)

    def __repr__(self) -> str:
        size = f"patch_size={self.patch_size}" if self.patch_size is not None else f"num_tiles={self.num_tiles}"
        return f"JigsawView({size}, seed={self.seed})"


VIEWS: dict[str, type[View]] = {
    "identity": IdentityView,
    "rotate_180": Rotate180View,
    "vertical_flip": VerticalFlipView,
    "rotate_90_cw": Rotate90CWView,
    "rotate_90_ccw": Rotate90CCWView,
    "negate": NegateView,
    "jigsaw": JigsawView,
}


def get_view(name: str, **kwargs) -> View:
    """The view called `name`, built with `kwargs` (e.g. get_view("jigsaw", patch_size=8, seed=1)).

    Names: identity, rotate_180, vertical_flip, rotate_90_cw, rotate_90_ccw, negate, jigsaw.
    """
    key = name.strip().lower().replace("-", "_").replace(" ", "_") if isinstance(name, str) else name
    if key not in VIEWS:
        raise ValueError(f"unknown view {name!r}: choose one of {', '.join(VIEWS)}")
    return VIEWS[key](**kwargs)


# ---------------------------------------------------------------------------------- hybrid filters


def gaussian_kernel_1d(kernel_size: int, sigma: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(kernel_size,) weights exp(-u^2 / (2 sigma^2)), u = -(k-1)/2 .. (k-1)/2, normalised to sum 1
    (the kernel torchvision's gaussian_blur uses)."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size}")
    if not sigma > 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    half = (kernel_size - 1) / 2
    u = torch.linspace(-half, half, kernel_size, dtype=torch.float64)
    weights = torch.exp(-0.5 * (u / sigma) ** 2)
    return (weights / weights.sum()).to(dtype)


def low_pass(x: torch.Tensor, kernel_size: int = HYBRID_KERNEL_SIZE, sigma: float = HYBRID_SIGMA) -> torch.Tensor:
    """Gaussian blur of every channel of x (B, C, H, W), separable, with reflect padding.

    Equal to torchvision.transforms.functional.gaussian_blur(x, kernel_size, sigma) whenever the
    reflect padding fits (kernel_size // 2 < H and < W). Smaller images (the 16 x 16 digits with the
    default kernel 33) use the largest odd kernel that fits, renormalised: with sigma = 2 the weights
    dropped lie beyond 7.5 sigma and are below 1e-12.
    """
    _, c, h, w = x.shape
    half = min(kernel_size // 2, h - 1, w - 1)
    kernel = gaussian_kernel_1d(2 * half + 1, sigma, x.dtype).to(x.device)
    if half == 0:
        return x.clone()
    padded = F.pad(x, (half, half, half, half), mode="reflect")  # (B, C, H + 2 half, W + 2 half)
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)  # blur along W
    return F.conv2d(rows, kernel.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)  # then along H


def high_pass(x: torch.Tensor, kernel_size: int = HYBRID_KERNEL_SIZE, sigma: float = HYBRID_SIGMA) -> torch.Tensor:
    """x - low_pass(x): the detail that the blur removes. low_pass(x) + high_pass(x) == x."""
    return x - low_pass(x, kernel_size, sigma)
