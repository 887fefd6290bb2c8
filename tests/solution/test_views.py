"""Views (solution/diffusion_hw/views.py): exact inverses, orthogonality, and what happens to variance.

A view is only usable by the illusion loop if it maps N(0, I) noise to N(0, I) noise (an orthogonal
map: a permutation of pixels or a negation) and if inverse_view undoes it exactly. The tests check
both directly: the round trip is bit-exact, and the matrix of every view, built column by column
from basis images, is a signed permutation matrix with M^T M = I and inverse_view's matrix = M^T.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from diffusion_hw.views import (
    VIEWS,
    IdentityView,
    JigsawView,
    NegateView,
    Rotate90CCWView,
    Rotate90CWView,
    Rotate180View,
    VerticalFlipView,
    View,
    gaussian_kernel_1d,
    get_view,
    high_pass,
    low_pass,
)

SPATIAL_VIEWS = {
    "identity": IdentityView,
    "rotate_180": Rotate180View,
    "vertical_flip": VerticalFlipView,
    "rotate_90_cw": Rotate90CWView,
    "rotate_90_ccw": Rotate90CCWView,
    "jigsaw_patch_2": lambda: JigsawView(patch_size=2, seed=3),
    "jigsaw_2_tiles": lambda: JigsawView(num_tiles=2, seed=1),
}


def all_views(image_channels: int) -> dict[str, View]:
    views = {name: make() for name, make in SPATIAL_VIEWS.items()}
    views["negate"] = NegateView(image_channels=image_channels)
    return views


def view_matrix(f, shape: tuple[int, ...]) -> torch.Tensor:
    """The (D, D) matrix of a linear map f on tensors of `shape` (D elements), column k = f(e_k)."""
    d = int(torch.tensor(shape).prod())
    basis = torch.eye(d, dtype=torch.float64).reshape(d, *shape[1:])  # a batch of the D basis images
    return f(basis).reshape(d, d).T  # row k of f(basis) is f(e_k); transposed, it is column k


# ---------------------------------------------------------------------------------- round trips


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    batch=st.integers(1, 3), channels=st.integers(1, 4), extra=st.integers(0, 3),
    h_tiles=st.integers(1, 4), w_tiles=st.integers(1, 4), seed=st.integers(0, 2**16),
)
def test_inverse_view_undoes_view_exactly_for_every_spatial_view(batch, channels, extra, h_tiles, w_tiles, seed):
    # spatial views treat every channel alike, so noise with extra (variance) channels round-trips too
    x = torch.randn(batch, channels + extra, 4 * h_tiles, 4 * w_tiles, generator=torch.Generator().manual_seed(seed))
    for name, make in SPATIAL_VIEWS.items():
        if name == "jigsaw_2_tiles" and h_tiles != w_tiles:
            continue  # num_tiles=2 cuts H into 2, so W must be a multiple of H / 2 too
        view = make()
        assert torch.equal(view.inverse_view(view.view(x)), x), name


@settings(max_examples=30, deadline=None, derandomize=True)
@given(batch=st.integers(1, 3), channels=st.integers(1, 4), size=st.integers(1, 9), seed=st.integers(0, 2**16))
def test_negate_view_round_trips_images_exactly(batch, channels, size, seed):
    x = torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(seed))
    view = NegateView(image_channels=channels)
    assert torch.equal(view.inverse_view(view.view(x)), x)
    assert torch.equal(view.view(x), -x)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(channels=st.integers(1, 3), h=st.integers(1, 4), w=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_every_view_preserves_the_norm(channels, h, w, seed):
    x = torch.randn(2, channels, 4 * h, 4 * w, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    for name, view in all_views(channels).items():
        if name == "jigsaw_2_tiles" and h != w:
            continue
        assert torch.allclose(view.view(x).norm(), x.norm(), rtol=1e-12), name
        assert torch.allclose(view.inverse_view(x).norm(), x.norm(), rtol=1e-12), name


# ---------------------------------------------------------------------------------- orthogonality


@pytest.mark.parametrize("name", [*SPATIAL_VIEWS, "negate"])
def test_every_view_is_a_signed_permutation_and_inverse_view_is_its_transpose(name):
    shape = (1, 2, 4, 4)
    view = all_views(image_channels=2)[name]
    m = view_matrix(view.view, shape)  # (32, 32)
    m_inv = view_matrix(view.inverse_view, shape)
    assert set(m.unique().tolist()) <= {-1.0, 0.0, 1.0}
    ones = torch.ones(32, dtype=torch.float64)
    assert torch.equal(m.abs().sum(dim=0), ones), "each pixel must go to exactly one place"
    assert torch.equal(m.abs().sum(dim=1), ones), "each place must get exactly one pixel"
    assert torch.equal(m.T @ m, torch.eye(32, dtype=torch.float64))  # orthogonal
    assert torch.equal(m_inv, m.T)  # A^-1 = A^T


@pytest.mark.parametrize("name", [*SPATIAL_VIEWS, "negate"])
def test_views_keep_standard_normal_noise_standard_normal(name):
    view = all_views(image_channels=1)[name]
    noise = torch.randn(20000, 1, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    seen = view.view(noise).reshape(20000, 16)
    cov = seen.T @ seen / 20000
    assert seen.mean(dim=0).abs().max() < 0.03
    assert (cov - torch.eye(16, dtype=torch.float64)).abs().max() < 0.05


def test_a_blur_is_not_a_valid_view_because_it_shrinks_the_noise():
    # the reason low_pass is a reduction for hybrids and not a View: blurred noise is not N(0, I)
    noise = torch.randn(64, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    assert low_pass(noise, 33, 2.0).std() < 0.3


# ---------------------------------------------------------------------------------- specific views


def test_rotate180_is_not_a_horizontal_or_vertical_flip():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    turned = Rotate180View().view(x)
    assert torch.equal(turned, torch.rot90(x, 2, dims=(-2, -1)))
    assert not torch.equal(turned, x.flip(-1))  # a left-right mirror
    assert not torch.equal(turned, x.flip(-2))  # an upside-down mirror
    assert turned[0, 0, 0, 0] == 11 and turned[0, 0, 2, 3] == 0 and turned[0, 0, 0, 3] == 8


def test_quarter_turns_go_the_named_way_and_undo_each_other():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 1, 2, 2)
    assert Rotate90CWView().view(x).flatten().tolist() == [3.0, 1.0, 4.0, 2.0]
    assert Rotate90CCWView().view(x).flatten().tolist() == [2.0, 4.0, 1.0, 3.0]
    assert torch.equal(Rotate90CCWView().view(Rotate90CWView().view(x)), x)
    assert torch.equal(VerticalFlipView().view(x).flatten(), torch.tensor([3.0, 4.0, 1.0, 2.0]))


@pytest.mark.parametrize("name", [*SPATIAL_VIEWS, "negate"])
def test_variance_channels_are_permuted_like_the_image_and_never_negated(name):
    # DeepFloyd IF: 3 noise channels, then 3 variance channels; inverse_view sees all 6
    view = all_views(image_channels=3)[name]
    g = torch.Generator().manual_seed(0)
    noise, variance = torch.randn(2, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g) + 0.5
    out = view.inverse_view(torch.cat([noise, variance], dim=1))
    assert out.shape == (2, 6, 8, 8)
    spatial = (lambda e: e) if name == "negate" else view.inverse_view  # where the pixels go
    assert torch.equal(out[:, 3:], spatial(variance))
    assert (out[:, 3:] > 0).all(), "a variance channel was negated"
    expected_noise = -noise if name == "negate" else view.inverse_view(noise)
    assert torch.equal(out[:, :3], expected_noise)


def test_negate_view_refuses_noise_with_fewer_channels_than_the_image():
    with pytest.raises(ValueError, match="image_channels=1"):
        NegateView(image_channels=3).inverse_view(torch.zeros(1, 1, 4, 4))


def test_jigsaw_moves_whole_tiles_with_a_seeded_permutation():
    x = torch.arange(64.0).reshape(1, 1, 8, 8)
    view = JigsawView(patch_size=4, seed=5)
    out = view.view(x)
    tiles = lambda y: {tuple(y[0, 0, i:i + 4, j:j + 4].flatten().tolist()) for i in (0, 4) for j in (0, 4)}  # noqa: E731
    assert tiles(out) == tiles(x)  # the same four tiles, each intact
    assert torch.equal(JigsawView(patch_size=4, seed=5).view(x), out)  # same seed, same shuffle
    assert torch.equal(JigsawView(num_tiles=2, seed=5).view(x), out)  # num_tiles=2 is patch_size=4 here
    shuffles = {tuple(JigsawView(patch_size=2, seed=s).view(x).flatten().tolist()) for s in range(4)}
    assert len(shuffles) > 1


def test_jigsaw_explains_sizes_it_cannot_cut():
    with pytest.raises(ValueError, match="multiples of the tile side"):
        JigsawView(patch_size=3).view(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match="exactly one of"):
        JigsawView()


def test_get_view_builds_each_named_view_and_lists_the_names_on_a_typo():
    for name, cls in VIEWS.items():
        kwargs = {"patch_size": 2} if name == "jigsaw" else {}
        assert type(get_view(name, **kwargs)) is cls
    assert isinstance(get_view("Rotate-180"), Rotate180View)
    with pytest.raises(ValueError, match="unknown view 'rotate_181'.*identity.*rotate_180.*jigsaw"):
        get_view("rotate_181")


# ---------------------------------------------------------------------------------- hybrid filters


def test_low_pass_matches_torchvision_gaussian_blur_with_cs180_settings():
    from torchvision.transforms.functional import gaussian_blur

    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(low_pass(x), gaussian_blur(x, [33, 33], [2.0, 2.0]), atol=1e-5)


def test_low_and_high_pass_add_up_to_the_image_and_blur_keeps_constants():
    x = torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))  # smaller than the kernel
    assert torch.allclose(low_pass(x) + high_pass(x), x, atol=1e-6)
    assert torch.allclose(low_pass(torch.full((1, 2, 16, 16), 0.7)), torch.full((1, 2, 16, 16), 0.7), atol=1e-6)
    assert torch.allclose(gaussian_kernel_1d(33, 2.0).sum(), torch.tensor(1.0))
