"""The fused multi-view denoising loop (solution/diffusion_hw/illusions.py) and what it runs on.

Checked without any trained network:
  * oracle denoisers (the exact noise of a one-image-per-prompt data set) make the loop's result
    known in closed form (oracle_illusion's docstring derives it); the loop must hit it to 1e-6;
  * a random class-conditional Unet: two identical views with one prompt are ordinary CFG sampling,
    so the loop must reproduce GaussianDiffusion.ddim_sample;
  * a tiny random DeepFloyd-IF-shaped UNet (diffusers classes, no download) runs the loop end to end;
  * SDEdit and inpainting on top of the same loop;
  * the digit anagram harness (classifier accuracy, pair choice, scoring), fast settings.
"""

from __future__ import annotations

import json

import pytest
import torch

from diffusion_hw import GaussianDiffusion
from diffusion_hw.illusions import (
    DDIMSampler,
    DiffusersSampler,
    DiffusionNoiseEstimator,
    HybridReduction,
    NoiseEstimator,
    OracleNoiseEstimator,
    Sampler,
    classifier_free_guidance,
    fused_denoise_loop,
    fused_noise_estimate,
    inpaint,
    make_anagram,
    make_hybrid,
    mean_over_views,
    oracle_illusion,
    sdedit,
)
from diffusion_hw.unet import Unet
from diffusion_hw.views import (
    IdentityView,
    JigsawView,
    NegateView,
    Rotate90CWView,
    Rotate180View,
    VerticalFlipView,
    high_pass,
    low_pass,
)

SIZE = 8


class ZeroNet(torch.nn.Module):
    """A stand-in network: the oracle tests only need the diffusion's buffers and DDIM step."""

    channels = 1
    num_classes = None

    def forward(self, x, t, class_labels=None):
        return torch.zeros_like(x)


def oracle_diffusion(timesteps: int = 100, sampling_timesteps: int = 20) -> GaussianDiffusion:
    return GaussianDiffusion(ZeroNet(), image_size=SIZE, timesteps=timesteps,
                             sampling_timesteps=sampling_timesteps).double()


def targets(*names: str, size: int = SIZE, channels: int = 1, scale: float = 0.4,
            seed: int = 0) -> dict[str, torch.Tensor]:
    """One image per prompt in [-scale, scale], so that guided targets stay inside [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    return {n: (torch.rand(1, channels, size, size, generator=g, dtype=torch.float64) * 2 - 1) * scale for n in names}


@pytest.fixture(scope="module")
def conditional_diffusion() -> GaussianDiffusion:
    torch.manual_seed(0)
    unet = Unet(8, (1, 2), channels=1, num_classes=3)
    return GaussianDiffusion(unet, image_size=SIZE, timesteps=100, sampling_timesteps=5).eval()


# ---------------------------------------------------------------------------------- the closed form


@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("guidance_scale", [0.0, 1.0, 2.5])
@pytest.mark.parametrize(
    "views",
    [
        [IdentityView(), Rotate180View()],
        [IdentityView(), NegateView(image_channels=1), JigsawView(patch_size=4, seed=1)],
        [VerticalFlipView(), Rotate90CWView()],
    ],
    ids=["anagram", "three-views", "flip-and-quarter-turn"],
)
def test_fused_loop_with_oracle_denoisers_returns_the_closed_form(views, guidance_scale, eta):
    diffusion = oracle_diffusion()
    prompts = ["a", "b", "c"][: len(views)]
    images = targets(*prompts)
    null = targets("null", scale=0.1, seed=9)["null"]
    oracle = OracleNoiseEstimator(diffusion.alphas_bar, images, null_target=null)
    sampler = DDIMSampler(diffusion, eta=eta, generator=torch.Generator().manual_seed(1))
    noise = torch.randn(3, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    out = fused_denoise_loop(oracle, sampler, views, prompts, noise, guidance_scale=guidance_scale)
    expected = oracle_illusion(views, prompts, images, guidance_scale=guidance_scale, null_target=null)
    assert out.shape == noise.shape
    torch.testing.assert_close(out, expected.expand_as(out), atol=1e-6, rtol=0)


def test_oracle_anagram_is_the_average_of_the_upright_and_the_turned_target():
    # the closed form written out by hand (g = 1): (x0_a + rot180(x0_b)) / 2, whatever the start noise
    diffusion = oracle_diffusion()
    images = targets("a", "b")
    oracle = OracleNoiseEstimator(diffusion.alphas_bar, images)
    for seed in (0, 1):
        noise = torch.randn(1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        out = make_anagram(oracle, DDIMSampler(diffusion), "a", "b", noise)
        torch.testing.assert_close(out, (images["a"] + images["b"].flip(-2, -1)) / 2, atol=1e-6, rtol=0)


def test_oracle_trajectory_keeps_its_noise_direction_when_eta_is_zero():
    # x_t = sqrt(ab_t) m + sqrt(1 - ab_t) n at every visited t, n fixed by the starting noise
    diffusion = oracle_diffusion()
    images = targets("a", "b")
    views = [IdentityView(), Rotate180View()]
    oracle = OracleNoiseEstimator(diffusion.alphas_bar, images)
    sampler = DDIMSampler(diffusion)
    noise = torch.randn(2, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    xs = fused_denoise_loop(oracle, sampler, views, ["a", "b"], noise, return_all_timesteps=True)
    m = oracle_illusion(views, ["a", "b"], images)
    ab = diffusion.alphas_bar
    t_first = sampler.time_pairs[0][0]
    direction = (noise - ab[t_first].sqrt() * m) / (1 - ab[t_first]).sqrt()
    for i, (_, t_prev) in enumerate(sampler.time_pairs[:-1], start=1):
        expected = ab[t_prev].sqrt() * m + (1 - ab[t_prev]).sqrt() * direction
        torch.testing.assert_close(xs[:, i], expected, atol=1e-6, rtol=0)


def test_oracle_hybrid_is_the_low_pass_of_one_target_plus_the_high_pass_of_the_other():
    diffusion = GaussianDiffusion(ZeroNet(), image_size=16, timesteps=100, sampling_timesteps=10).double()
    images = targets("far", "near", size=16)
    oracle = OracleNoiseEstimator(diffusion.alphas_bar, images)
    noise = torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = make_hybrid(oracle, DDIMSampler(diffusion), "far", "near", noise)
    expected = low_pass(images["far"]) + high_pass(images["near"])
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)


def test_oracle_closed_form_holds_through_a_diffusers_ddim_scheduler():
    # the Sampler protocol is the only thing the loop knows about the scheduler
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", clip_sample=False)
    sampler = DiffusersSampler(scheduler, num_inference_steps=10)
    images = targets("a", "b")
    views = [IdentityView(), Rotate180View()]
    oracle = OracleNoiseEstimator(sampler.alphas_bar, images)
    noise = torch.randn(1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = fused_denoise_loop(oracle, sampler, views, ["a", "b"], noise, guidance_scale=1.0)
    torch.testing.assert_close(out, oracle_illusion(views, ["a", "b"], images), atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------------- the fused estimate


class Recorder:
    """An estimator with known answers: eps_c = 1 + x, eps_u = -1 + x on the noise channels, and
    variance channels 5 + prompt (conditional) or 50 (unconditional). Records the inputs it sees."""

    def __init__(self, variance: bool = True):
        self.variance = variance
        self.calls: list[tuple[torch.Tensor, object]] = []

    def __call__(self, x_t, t, prompt):
        self.calls.append((x_t.clone(), prompt))
        noise = x_t + (1.0 if prompt is not None else -1.0)
        if not self.variance:
            return noise
        var = torch.full_like(x_t, 50.0 if prompt is None else 5.0 + prompt)
        return torch.cat([noise, var], dim=1)


def test_guidance_zero_and_one_give_the_unconditional_and_conditional_estimates():
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    views = [IdentityView()]
    for g, expected_noise in ((0.0, x - 1), (1.0, x + 1), (3.0, x - 1 + 3 * 2)):
        eps = fused_noise_estimate(Recorder(), views, [2], x, 10, guidance_scale=g)
        torch.testing.assert_close(eps[:, :3], expected_noise)
        assert torch.equal(eps[:, 3:], torch.full_like(x, 7.0)), "variance must come from the conditional estimate"


def test_classifier_free_guidance_extrapolates_noise_channels_only():
    g = torch.Generator().manual_seed(0)
    eps_u, eps_c = torch.randn(2, 6, 4, 4, generator=g), torch.randn(2, 6, 4, 4, generator=g)
    out = classifier_free_guidance(eps_u, eps_c, 7.0, image_channels=3)
    torch.testing.assert_close(out[:, :3], eps_u[:, :3] + 7.0 * (eps_c[:, :3] - eps_u[:, :3]))
    assert torch.equal(out[:, 3:], eps_c[:, 3:])
    torch.testing.assert_close(classifier_free_guidance(eps_u[:, :3], eps_c[:, :3], 1.0, 3), eps_c[:, :3])


def test_each_view_sees_its_view_of_x_and_its_estimate_is_mapped_back():
    # eps = x_view + 1 for every view; mapped back, each is x + 1 (negation: -(-x + 1) = x - 1)
    x = torch.randn(1, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    recorder = Recorder(variance=False)
    views = [IdentityView(), Rotate180View(), JigsawView(patch_size=2, seed=4)]
    eps = fused_noise_estimate(recorder, views, [0, 1, 2], x, 5, guidance_scale=1.0)
    seen = {prompt: x_seen for x_seen, prompt in recorder.calls}
    for view, prompt in zip(views, [0, 1, 2]):
        assert torch.equal(seen[prompt], view.view(x))
    torch.testing.assert_close(eps, x + 1)
    eps = fused_noise_estimate(Recorder(variance=False), [NegateView(1)], [0], x, 5)
    torch.testing.assert_close(eps, x - 1)


def test_fused_estimate_averages_variance_channels_and_never_negates_them():
    diffusion = oracle_diffusion()
    images = {k: v.abs() + 0.1 for k, v in targets("a", "b").items()}  # positive "variance"
    oracle = OracleNoiseEstimator(diffusion.alphas_bar, images, variance_channels=True)
    x = torch.randn(2, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    views = [Rotate180View(), NegateView(image_channels=1)]
    eps = fused_noise_estimate(oracle, views, ["a", "b"], x, 50, guidance_scale=4.0)
    assert eps.shape == (2, 2, SIZE, SIZE)
    torch.testing.assert_close(eps[:, 1:], ((images["a"].flip(-2, -1) + images["b"]) / 2).expand(2, 1, SIZE, SIZE))


def test_view_order_does_not_matter_for_the_mean_reduction():
    diffusion = oracle_diffusion()
    images = targets("a", "b", "c")
    oracle = OracleNoiseEstimator(diffusion.alphas_bar, images, variance_channels=True)
    x = torch.randn(2, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    pairs = [(IdentityView(), "a"), (Rotate180View(), "b"), (JigsawView(patch_size=4, seed=2), "c")]
    forward = fused_noise_estimate(oracle, [v for v, _ in pairs], [p for _, p in pairs], x, 30, 2.0)
    backward = fused_noise_estimate(oracle, [v for v, _ in pairs[::-1]], [p for _, p in pairs[::-1]], x, 30, 2.0)
    torch.testing.assert_close(forward, backward, atol=1e-12, rtol=0)


def test_reductions_refuse_mismatched_estimates():
    with pytest.raises(ValueError, match="different shapes"):
        mean_over_views([torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 2)], 1)
    with pytest.raises(ValueError, match="exactly 2 views"):
        HybridReduction()([torch.zeros(1, 1, 4, 4)] * 3, 1)
    with pytest.raises(ValueError, match="one prompt per view"):
        fused_noise_estimate(Recorder(), [IdentityView()], [0, 1], torch.zeros(1, 1, 4, 4), 3)


def test_estimators_and_samplers_satisfy_the_protocols(conditional_diffusion):
    assert isinstance(DiffusionNoiseEstimator(conditional_diffusion), NoiseEstimator)
    assert isinstance(DDIMSampler(conditional_diffusion), Sampler)
    assert DDIMSampler(conditional_diffusion).time_pairs[-1][1] == -1


# ---------------------------------------------------------------------------------- a real network


@pytest.mark.parametrize("guidance_scale", [1.0, 3.0])
def test_identical_views_with_one_prompt_reduce_to_ddim_sampling(conditional_diffusion, guidance_scale):
    diffusion, labels = conditional_diffusion, torch.tensor([0, 2])
    torch.manual_seed(7)
    expected = diffusion.ddim_sample((2, 1, SIZE, SIZE), class_labels=labels, guidance_scale=guidance_scale, eta=0.0)
    torch.manual_seed(7)
    noise = torch.randn(2, 1, SIZE, SIZE)  # ddim_sample's first draw
    estimator = DiffusionNoiseEstimator(diffusion)
    sampler = DDIMSampler(diffusion, eta=0.0)
    out = torch.stack([
        fused_denoise_loop(estimator, sampler, [IdentityView(), IdentityView()], [int(c), int(c)], noise[i:i + 1],
                           guidance_scale=guidance_scale)[0]
        for i, c in enumerate(labels)
    ])
    torch.testing.assert_close(diffusion.unnormalize(out), expected, atol=1e-5, rtol=1e-5)


def test_sdedit_from_the_least_noisy_step_returns_almost_the_input():
    torch.manual_seed(0)
    unet = Unet(8, (1, 2), channels=1, num_classes=3)
    diffusion = GaussianDiffusion(unet, image_size=SIZE, timesteps=1000, sampling_timesteps=1000).eval()
    sampler = DDIMSampler(diffusion)
    assert sampler.time_pairs[-1] == (0, -1)
    image = torch.rand(2, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1)) * 1.6 - 0.8
    out = sdedit(DiffusionNoiseEstimator(diffusion), sampler, image, len(sampler.time_pairs) - 1, prompt=1,
                 guidance_scale=3.0, generator=torch.Generator().manual_seed(2))
    assert (out - image).abs().max() < 0.1  # sqrt(1 - alpha_bar_0) = 0.01 times noise and estimate
    with pytest.raises(ValueError, match="i_start must index"):
        sdedit(DiffusionNoiseEstimator(diffusion), sampler, image, 1000)


def test_inpainting_keeps_every_unmasked_pixel(conditional_diffusion):
    image = torch.rand(2, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) * 2 - 1
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., 2:6, 2:6] = 1.0  # regenerate the centre
    out = inpaint(DiffusionNoiseEstimator(conditional_diffusion), DDIMSampler(conditional_diffusion), image, mask,
                  prompt=1, guidance_scale=2.0, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out[..., mask[0, 0] == 0], image[..., mask[0, 0] == 0])
    assert not torch.allclose(out[..., 2:6, 2:6], image[..., 2:6, 2:6])
    with pytest.raises(ValueError, match="does not broadcast"):
        inpaint(Recorder(False), DDIMSampler(conditional_diffusion), image, torch.ones(3, 1, SIZE, SIZE))


# ---------------------------------------------------------------------------------- DeepFloyd IF


@pytest.fixture(scope="module")
def tiny_if():
    from diffusion_hw.deepfloyd import build_tiny_if_stage1

    return build_tiny_if_stage1(sample_size=16, embed_dim=32)


def test_deepfloyd_if_path_runs_end_to_end_with_a_tiny_random_unet(tiny_if):
    g = torch.Generator().manual_seed(0)
    embeds = {p: torch.randn(1, 7, 32, generator=g) for p in ("an old man", "a campfire", "")}  # stand-ins for T5
    estimator = tiny_if.estimator(embeds)
    eps = estimator(torch.randn(2, 3, 16, 16), 999, "an old man")
    assert eps.shape == (2, 6, 16, 16)  # 3 noise + 3 variance channels, as IF stage I
    sampler = tiny_if.sampler(num_inference_steps=3, generator=torch.Generator().manual_seed(1))
    assert sampler.learned_variance and sampler.time_pairs[-1][1] == -1
    noise = torch.randn(1, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    out = make_anagram(estimator, sampler, "an old man", "a campfire", noise, guidance_scale=7.0)
    assert out.shape == (1, 3, 16, 16) and torch.isfinite(out).all()
    with pytest.raises(KeyError, match="known prompts"):
        estimator(noise, 999, "a prompt nobody encoded")


def test_load_if_stage1_without_weights_says_where_to_put_them_and_that_the_model_is_gated(tmp_path, monkeypatch):
    from diffusion_hw.deepfloyd import IF_PATH_ENV, IFWeightsMissingError, load_if_stage1

    with pytest.raises(IFWeightsMissingError) as err:
        load_if_stage1(tmp_path / "IF-I-XL-v1.0")
    message = str(err.value)
    assert str(tmp_path / "IF-I-XL-v1.0") in message and "gated" in message
    assert "huggingface-cli download DeepFloyd/IF-I-XL-v1.0" in message and "model_index.json" in message
    monkeypatch.delenv(IF_PATH_ENV, raising=False)
    with pytest.raises(IFWeightsMissingError, match=IF_PATH_ENV):
        load_if_stage1()


def test_load_if_stage1_reads_a_local_folder_offline(tiny_if, tmp_path):
    from diffusion_hw.deepfloyd import load_if_stage1

    tiny_if.unet.save_pretrained(tmp_path / "unet")
    tiny_if.scheduler.save_pretrained(tmp_path / "scheduler")
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "IFPipeline"}))
    loaded = load_if_stage1(tmp_path, text_encoder=False, torch_dtype=torch.float32)
    x, embed = torch.randn(1, 3, 16, 16), torch.randn(1, 5, 32)
    with torch.no_grad():
        expected = tiny_if.unet(x, 500, encoder_hidden_states=embed).sample
        got = loaded.unet(x, 500, encoder_hidden_states=embed).sample
    torch.testing.assert_close(got, expected)
    assert loaded.scheduler.config.variance_type == "learned_range" and loaded.pipeline is None


# ---------------------------------------------------------------------------------- digit anagrams


def test_anagram_pairs_avoid_symmetric_digits_and_the_six_nine_lookalike():
    from diffusion_hw.digit_illusions import anagram_pairs

    pairs = anagram_pairs(40, seed=3)
    assert len(set(pairs)) == 40
    assert all(a != b and {a, b}.isdisjoint({0, 1, 8}) and {a, b} != {6, 9} for a, b in pairs)
    assert anagram_pairs(5, seed=3) == pairs[:5]


def test_digit_illusion_measurement_runs_end_to_end_in_seconds(tmp_path):
    # the quick configuration of `python -m diffusion_hw.digit_illusions` (the real one trains for
    # minutes): the classifier must already read held-out digits, the rest must run and report
    from diffusion_hw.digit_illusions import DigitIllusionConfig, measure_digit_illusions

    config = DigitIllusionConfig.quick()
    config.train_steps = 10
    report = measure_digit_illusions(config, out=tmp_path)
    assert report.classifier_test_accuracy > 0.95
    assert len(report.pairs) == config.num_anagrams and report.chance == 0.1
    for scores in (report.anagram, report.baseline):
        assert set(scores) == {"view_1", "view_2", "both"} and all(0 <= v <= 1 for v in scores.values())
    assert json.loads((tmp_path / "report.json").read_text())["pairs"] == [list(p) for p in report.pairs]
    assert (tmp_path / "anagrams.png").stat().st_size > 0


def test_per_view_accuracy_scores_each_view_against_its_own_digit():
    from diffusion_hw.digit_illusions import per_view_accuracy

    class ReadsTopRow:  # a fake classifier: "digit" = 1 if the top-left pixel is bright, else 0
        def predict(self, x):
            return (x[:, 0, 0, 0] > 0.5).long()

    images = torch.zeros(2, 1, 4, 4)
    images[0, 0, 0, 0] = 1.0  # bright top-left: reads 1 upright, 0 turned
    images[1, 0, -1, -1] = 1.0  # bright bottom-right: reads 0 upright, 1 turned
    scores = per_view_accuracy(ReadsTopRow(), images, [(1, 0), (1, 1)])
    assert scores == {"view_1": 0.5, "view_2": 1.0, "both": 0.5}
