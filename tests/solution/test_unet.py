"""The given U-Net: shapes, conditioning, the null class, and its error messages."""

from __future__ import annotations

import math
import re

import pytest
import torch

from diffusion_hw.gaussian_diffusion import GaussianDiffusion
from diffusion_hw.unet import SinusoidalPosEmb, Unet


def _unet(**kwargs) -> Unet:
    torch.manual_seed(0)
    return Unet(**kwargs).eval()


@pytest.mark.parametrize(
    ("config", "size"),
    [
        (dict(dim=8, dim_mults=(1, 2), channels=1), (8, 8)),
        (dict(dim=16, dim_mults=(1, 2, 2), channels=3), (16, 16)),
        (dict(dim=8, dim_mults=(1, 2, 4, 8), channels=3), (16, 16)),
        (dict(dim=8, dim_mults=(1,), channels=3), (5, 7)),  # one stage: no downsampling at all
        (dict(dim=8, dim_mults=(1, 2), channels=3, full_attn=True), (8, 8)),
        (dict(dim=8, dim_mults=(1, 2), channels=1, num_classes=3, out_dim=2), (4, 12)),  # non-square
    ],
)
def test_output_shape_matches_the_input_shape(config, size):
    unet = _unet(**config)
    x = torch.randn(2, config["channels"], *size)
    with torch.no_grad():
        out = unet(x, torch.tensor([0, 999]))
    expected_channels = config.get("out_dim", config["channels"])
    assert out.shape == (2, expected_channels, *size)
    assert torch.isfinite(out).all()


def test_default_unet_has_lucidrains_parameter_count():
    # dim=64, dim_mults=(1, 2, 4, 8): lucidrains' Unet has ~35.7M; pinned so that a change shows up
    unet = Unet()
    assert sum(p.numel() for p in unet.parameters()) == 35_713_027


def test_small_config_is_small():
    unet = Unet(dim=16, dim_mults=(1, 2, 2))
    assert sum(p.numel() for p in unet.parameters()) == 400_227


def test_every_parameter_receives_a_gradient():
    unet = Unet(dim=8, dim_mults=(1, 2), channels=1, num_classes=4)
    out = unet(torch.randn(3, 1, 8, 8), torch.tensor([1, 50, 99]), torch.tensor([0, 3, 4]))
    out.square().mean().backward()
    unused = [name for name, p in unet.named_parameters() if p.grad is None]
    assert unused == []


def test_time_embedding_at_zero_is_sines_then_cosines():
    emb = SinusoidalPosEmb(8)(torch.tensor([0, 1]))
    assert emb.shape == (2, 8)
    assert torch.equal(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    # the first frequency is 1: emb(1)[0] = sin(1), emb(1)[4] = cos(1)
    assert emb[1, 0].item() == pytest.approx(math.sin(1.0))
    assert emb[1, 4].item() == pytest.approx(math.cos(1.0))


def test_output_depends_on_the_timestep():
    unet = _unet(dim=8, dim_mults=(1, 2), channels=1)
    x = torch.randn(1, 1, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(unet(x, torch.tensor([0])), unet(x, torch.tensor([500])))


def test_scalar_time_is_broadcast_to_the_batch():
    unet = _unet(dim=8, dim_mults=(1, 2), channels=1)
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.allclose(unet(x, torch.tensor(7)), unet(x, torch.full((3,), 7)))


def test_unconditional_unet_ignores_class_labels():
    unet = _unet(dim=8, dim_mults=(1, 2), channels=1)
    assert unet.num_classes is None and unet.classes_emb is None
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 4])
    with torch.no_grad():
        assert torch.equal(unet(x, t), unet(x, t, torch.tensor([0, 1])))


def test_conditional_unet_output_depends_on_the_class():
    unet = _unet(dim=8, dim_mults=(1, 2), channels=1, num_classes=10)
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 3])
    with torch.no_grad():
        out_a = unet(x, t, torch.tensor([1, 1]))
        out_b = unet(x, t, torch.tensor([2, 2]))
    assert not torch.allclose(out_a, out_b)


def test_conditional_unet_without_labels_uses_the_null_class():
    unet = _unet(dim=8, dim_mults=(1, 2), channels=1, num_classes=10)
    assert unet.classes_emb.num_embeddings == 11  # 10 classes + the null class 10
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([3, 9])
    with torch.no_grad():
        assert torch.equal(unet(x, t), unet(x, t, torch.tensor([10, 10])))


def test_class_label_out_of_range_says_which_labels_are_valid():
    unet = _unet(dim=8, dim_mults=(1, 2), channels=1, num_classes=10)
    with pytest.raises(ValueError, match=re.escape("class_labels must be in 0 .. 9 (or 10, the null class)")):
        unet(torch.randn(2, 1, 8, 8), torch.tensor([0, 0]), torch.tensor([3, 11]))


def test_float_class_labels_are_rejected():
    unet = _unet(dim=8, dim_mults=(1, 2), channels=1, num_classes=10)
    with pytest.raises(ValueError, match="int64 tensor of shape"):
        unet(torch.randn(2, 1, 8, 8), torch.tensor([0, 0]), torch.tensor([1.0, 2.0]))


def test_image_size_not_divisible_says_which_sizes_work():
    unet = _unet(dim=8, dim_mults=(1, 2, 4), channels=3)
    with pytest.raises(ValueError) as error:
        unet(torch.randn(1, 3, 10, 10), torch.tensor([0]))
    message = str(error.value)
    assert "10x10" in message
    assert "multiples of 2**(len(dim_mults) - 1) = 4" in message
    assert "e.g. 4, 8, 12, 16" in message


def test_wrong_number_of_channels_is_explained():
    unet = _unet(dim=8, dim_mults=(1, 2), channels=3)
    with pytest.raises(ValueError, match=re.escape("build Unet(channels=1)")):
        unet(torch.randn(1, 1, 8, 8), torch.tensor([0]))


def test_time_with_the_wrong_batch_size_is_rejected():
    unet = _unet(dim=8, dim_mults=(1, 2), channels=1)
    with pytest.raises(ValueError, match="one timestep per image"):
        unet(torch.randn(2, 1, 8, 8), torch.tensor([0, 1, 2]))


def test_width_not_divisible_by_groups_is_rejected_at_construction():
    with pytest.raises(ValueError, match="resnet_block_groups=8 must divide every stage width"):
        Unet(dim=12, dim_mults=(1, 2))


def test_config_rebuilds_the_same_network():
    unet = _unet(dim=8, dim_mults=(1, 2), channels=1, num_classes=3)
    clone = Unet(**unet.config)
    clone.load_state_dict(unet.state_dict())  # same parameter names and shapes
    x, t = torch.randn(1, 1, 8, 8), torch.tensor([5])
    with torch.no_grad():
        assert torch.equal(clone.eval()(x, t), unet(x, t))


def test_unet_trains_and_samples_inside_gaussian_diffusion():
    torch.manual_seed(0)
    unet = Unet(dim=8, dim_mults=(1, 2), channels=1, num_classes=2)
    diffusion = GaussianDiffusion(unet, image_size=8, timesteps=6, sampling_timesteps=3, beta_schedule="cosine")
    assert diffusion.channels == 1 and diffusion.num_classes == 2
    loss = diffusion(torch.rand(4, 1, 8, 8), class_labels=torch.tensor([0, 1, 0, 1]))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    samples = diffusion.sample(batch_size=2, class_labels=torch.tensor([0, 1]), guidance_scale=2.0)
    assert samples.shape == (2, 1, 8, 8)
