"""Optical illusions with a diffusion model: the fused multi-view denoising loop (Part 2).

A visual anagram is an image that shows prompt p_1 as it is and prompt p_2 through a view A_2
(e.g. rotated by 180 degrees). At every timestep the loop asks the denoiser what noise it sees in
each view, with that view's prompt, and fuses the answers (Geng et al. 2024, "Visual Anagrams"):

    for (t, t_prev) in time_pairs:                            # from t = T-1 down to t_prev = -1
        for each view A_i with prompt p_i:
            x_i    = A_i x_t                                  # view.view       (B, C, H, W)
            eps_u  = eps_theta(x_i, t, no prompt)             # (B, C', H, W), C' >= C
            eps_c  = eps_theta(x_i, t, p_i)
            eps_i  = eps_u + g (eps_c - eps_u)                # classifier-free guidance, noise channels
            e_i    = A_i^-1 eps_i                             # view.inverse_view
        eps   = reduce(e_1, ..., e_k)                         # mean for anagrams
        x_t   = sampler.step(eps, t, t_prev, x_t)             # one DDIM / DDPM step

Everything here works in model space, images in [-1, 1]. Three parts plug into the loop:

* a NoiseEstimator, called as estimator(x_t, t, prompt) -> eps, with prompt None meaning "no
  prompt" (the null class, the empty text). Given ones: DiffusionNoiseEstimator (a
  class-conditional GaussianDiffusion; prompts are class indices), OracleNoiseEstimator (an exact
  analytic denoiser, for checks), and deepfloyd.IFNoiseEstimator (DeepFloyd IF; prompts are text).
* a Sampler, which owns the timesteps: time_pairs, step(eps, t, t_prev, x_t) and
  add_noise(x_0, noise, t). DDIMSampler wraps GaussianDiffusion.denoise_backward;
  DiffusersSampler wraps any diffusers scheduler (DeepFloyd IF's DDPMScheduler).
* a reduction of the k per-view estimates: mean_over_views (anagrams) or HybridReduction
  (hybrid images: low frequencies of view 1 plus high frequencies of view 2).

Extra channels (variance): DeepFloyd IF's UNet returns 6 channels for a 3-channel image: the noise
estimate, then a per-pixel "variance" value that its scheduler (variance_type "learned_range")
turns into the step's noise level. diffusers' IFPipeline applies guidance to the noise channels
only and takes the variance channels from the conditional (text) estimate:

    noise_pred_uncond, _ = noise_pred_uncond.split(C, dim=1)
    noise_pred_text, predicted_variance = noise_pred_text.split(C, dim=1)
    noise_pred = noise_pred_uncond + guidance_scale * (noise_pred_text - noise_pred_uncond)
    noise_pred = torch.cat([noise_pred, predicted_variance], dim=1)

(diffusers/pipelines/deepfloyd_if/pipeline_if.py, the "perform guidance" block). This loop does the
same per view; views permute the variance channels like the image (never negate them), and every
reduction averages them across views.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from .gaussian_diffusion import GaussianDiffusion, ddim_time_pairs
from .helpers import default, exists
from .views import HYBRID_KERNEL_SIZE, HYBRID_SIGMA, IdentityView, Rotate180View, View, high_pass, low_pass

Reduction = Callable[[Sequence[torch.Tensor], int], torch.Tensor]


# ---------------------------------------------------------------------------------- protocols


@runtime_checkable
class NoiseEstimator(Protocol):
    """Anything called as estimator(x_t, t, prompt) -> eps.

        x_t:    (B, C, H, W) noisy images in model space, already seen through a view
        t:      int, the timestep (the same for the whole batch)
        prompt: what the image should show (a class index, a text key, an embedding), or None for
                the unconditional estimate that classifier-free guidance needs
        eps:    (B, C', H, W) with C' >= C: the noise estimate in channels 0 .. C-1, then any extra
                channels (DeepFloyd IF: C' = 2 C, the predicted variance)
    """

    def __call__(self, x_t: torch.Tensor, t: int, prompt: Any | None) -> torch.Tensor: ...


@runtime_checkable
class Sampler(Protocol):
    """The scheduler side of the loop: which timesteps to visit and how to step between them.

    time_pairs: [(t, t_prev), ...] from the noisiest step down to t_prev = -1 (the last step returns
        the clean estimate).
    step(eps, t, t_prev, x_t) -> x_prev: one reverse step; eps (B, C', H, W) may carry variance
        channels after the C noise channels, x_t and x_prev are (B, C, H, W).
    add_noise(x_0, noise, t) -> x_t: the forward process q(x_t | x_0) (SDEdit, inpainting).
    """

    time_pairs: list[tuple[int, int]]

    def step(self, eps: torch.Tensor, t: int, t_prev: int, x_t: torch.Tensor) -> torch.Tensor: ...

    def add_noise(self, x_0: torch.Tensor, noise: torch.Tensor, t: int) -> torch.Tensor: ...


# ---------------------------------------------------------------------------------- the fused step


def fused_noise_estimate(
    estimator: NoiseEstimator,
    views: Sequence[View],
    prompts: Sequence[Any],
    x_t: torch.Tensor,
    t: int,
    guidance_scale: float = 1.0,
    reduce: Reduction | None = None,
) -> torch.Tensor:
    """One noise estimate for x_t that every view agrees on (Geng et al. 2024, Algorithm 1).

    For each view A_i (views[i]) and its prompt p_i (prompts[i]):

        x_i   = A_i x_t                                         views[i].view(x_t)
        eps_u = estimator(x_i, t, None)                         unconditional      (B, C', H, W)
        eps_c = estimator(x_i, t, p_i)                          conditional        (B, C', H, W)
        eps_i = classifier_free_guidance(eps_u, eps_c, g, C)    guidance on the C noise channels
        e_i   = A_i^-1 eps_i                                    views[i].inverse_view(eps_i)

    then return reduce([e_1, ..., e_k], C), with C = x_t.shape[1] and reduce = mean_over_views when
    None. Each e_i is back in the frame of x_t, so the reduction compares like with like: without
    inverse_view, the rotated view's noise would be averaged upside down.

    Args:
        estimator: see NoiseEstimator.
        views, prompts: k views and their k prompts, in the same order.
        x_t: (B, C, H, W) the current noisy image, model space.
        t: int timestep.
        guidance_scale: g. g = 1 is the conditional estimate, g = 0 the unconditional one. When
            g = 1 you may skip the unconditional call (eps_u = eps_c gives eps_c exactly).
        reduce: a Reduction, called as reduce(list_of_k_estimates, C).
    Returns:
        eps: (B, C', H, W), what the reduction returns: in x_t's dtype and on its device when the
        estimator answers so. The estimator gets each view of x_t as it is (shape, dtype, device), and
        x_t is left as it is.
    """
    reduce = default(reduce, lambda: mean_over_views)
    if len(views) != len(prompts):
        raise ValueError(
            f"got {len(views)} views but {len(prompts)} prompts: give one prompt per view, in the same order"
        )
    image_channels = x_t.shape[1]
    # TODO 3.3 (fused_noise_estimate): implement it as the docstring above states.
    raise NotImplementedError("TODO 3.3 fused_noise_estimate: not implemented yet (see its docstring)")


def classifier_free_guidance(
    eps_uncond: torch.Tensor, eps_cond: torch.Tensor, guidance_scale: float, image_channels: int
) -> torch.Tensor:
    """Classifier-free guidance (Ho & Salimans 2022) on the noise channels only.

        eps[:, :C]  = eps_u[:, :C] + g (eps_c[:, :C] - eps_u[:, :C])
        eps[:, C:]  = eps_c[:, C:]              (variance channels: the conditional estimate's, as is)

    Guidance extrapolates a direction in noise space; the variance channels are not a direction but
    a noise level, so extrapolating them would ask the scheduler for a variance outside what the
    model ever predicts. diffusers' IFPipeline keeps the conditional ("text") estimate's variance.
    When C' = C there are no variance channels and this is plain CFG.

    Args:
        eps_uncond, eps_cond: (B, C', H, W), C' >= C.
        guidance_scale: g (g = 1: eps_c; g = 0: eps_u on the noise channels).
        image_channels: C.
    Returns:
        (B, C', H, W), eps_cond's dtype (float32, float64, bfloat16) and device. eps_uncond and
        eps_cond are left as they are: compute into a new tensor.
    """
    if eps_uncond.shape != eps_cond.shape:
        raise ValueError(
            f"the unconditional estimate has shape {tuple(eps_uncond.shape)} but the conditional one "
            f"{tuple(eps_cond.shape)}: the estimator must return the same shape with and without a prompt"
        )
    # TODO 3.4 (classifier_free_guidance): implement it as the docstring above states.
    raise NotImplementedError("TODO 3.4 classifier_free_guidance: not implemented yet (see its docstring)")


# ---------------------------------------------------------------------------------- reductions


def _check_estimates(estimates: Sequence[torch.Tensor], image_channels: int) -> None:
    if len(estimates) == 0:
        raise ValueError("no estimates to reduce: give at least one view")
    shapes = {tuple(e.shape) for e in estimates}
    if len(shapes) != 1:
        raise ValueError(
            f"the views' estimates have different shapes {sorted(shapes)}: every inverse_view must return "
            "the shape of x_t (a view of a non-square image may not change its size)"
        )
    if estimates[0].shape[1] < image_channels:
        raise ValueError(
            f"the estimates have {estimates[0].shape[1]} channels, fewer than the image's {image_channels}: "
            "the estimator must return (B, C', H, W) with the noise in the first C channels"
        )


def mean_over_views(estimates: Sequence[torch.Tensor], image_channels: int) -> torch.Tensor:
    """The anagram reduction: the plain average of the k estimates, noise and variance channels alike.

        eps = (1 / k) sum_i e_i                      (B, C', H, W)
    """
    _check_estimates(estimates, image_channels)
    return torch.stack(list(estimates)).mean(dim=0)


class HybridReduction:
    """The hybrid-image reduction: low frequencies from view 1, high frequencies from view 2.

        eps[:, :C] = low_pass(e_1[:, :C]) + high_pass(e_2[:, :C])      (Gaussian blur, kernel 33, sigma 2)
        eps[:, C:] = (e_1[:, C:] + e_2[:, C:]) / 2                       variance channels averaged

    From afar only the low frequencies are seen (prompt 1); up close the details dominate
    (prompt 2). Both views are usually IdentityView. Since high_pass = x - low_pass(x), two equal
    estimates reduce to themselves, like the mean. `make_hybrid` runs the fused loop with it.
    """

    def __init__(self, kernel_size: int = HYBRID_KERNEL_SIZE, sigma: float = HYBRID_SIGMA) -> None:
        self.kernel_size = kernel_size
        self.sigma = sigma

    def __call__(self, estimates: Sequence[torch.Tensor], image_channels: int) -> torch.Tensor:
        """Fuse the far and the near noise estimate of a hybrid image into one.

            eps[:, :C] = low_pass(e_far[:, :C], k, sigma) + high_pass(e_near[:, :C], k, sigma)
            eps[:, C:] = (e_far[:, C:] + e_near[:, C:]) / 2

        with k = self.kernel_size and sigma = self.sigma: low_pass is a Gaussian blur (views.low_pass) and
        high_pass(x) = x - low_pass(x) (views.high_pass), both given. The far estimate (prompt 1) keeps
        only its coarse structure, what is seen from a distance; the near one (prompt 2) only its
        detail. Guidance is already applied: the estimates are the views' guided noise.

        Args:
            estimates: [e_far, e_near], each (B, C', H, W) with C' >= C: the noise in channels 0 .. C-1,
                then any variance channels (C' = 2 C for DeepFloyd IF, C' = C otherwise).
            image_channels: C.
        Returns:
            (B, C', H, W) in the estimates' dtype and on their device; the estimates are left as they
            are. Variance channels are a noise level, not an image: they are averaged, never filtered.
        Edge cases: equal estimates give themselves back (low_pass + high_pass is the identity); an image
        smaller than the kernel is handled by low_pass itself; C' = C leaves no variance channels.
        """
        _check_estimates(estimates, image_channels)
        if len(estimates) != 2:
            raise ValueError(f"a hybrid image fuses exactly 2 views (far, near), got {len(estimates)}")
        c = image_channels
        far, near = estimates
        noise = (
            low_pass(far[:, :c], self.kernel_size, self.sigma)
            + high_pass(near[:, :c], self.kernel_size, self.sigma)
        )
        return torch.cat([noise, (far[:, c:] + near[:, c:]) / 2], dim=1)

    def __repr__(self) -> str:
        return f"HybridReduction(kernel_size={self.kernel_size}, sigma={self.sigma})"


# ---------------------------------------------------------------------------------- the loop


def fused_denoise_step(
    estimator: NoiseEstimator, sampler: Sampler, views: Sequence[View], prompts: Sequence[Any],
    x_t: torch.Tensor, t: int, t_prev: int, guidance_scale: float = 1.0, reduce: Reduction | None = None,
) -> torch.Tensor:
    """x_t (B, C, H, W) -> x_{t_prev}: the fused estimate, then one step of the sampler."""
    eps = fused_noise_estimate(estimator, views, prompts, x_t, t, guidance_scale, reduce)
    return sampler.step(eps, t, t_prev, x_t)


@torch.no_grad()
def fused_denoise_loop(
    estimator: NoiseEstimator, sampler: Sampler, views: Sequence[View], prompts: Sequence[Any],
    noise: torch.Tensor, *, guidance_scale: float = 1.0, reduce: Reduction | None = None,
    time_pairs: Sequence[tuple[int, int]] | None = None, return_all_timesteps: bool = False,
) -> torch.Tensor:
    """Run fused_denoise_step over time_pairs (default: sampler.time_pairs), starting from `noise`.

    noise: (B, C, H, W), x at the first pair's t (pure noise for a fresh sample).
    Returns (B, C, H, W) in model space, or with return_all_timesteps (B, S + 1, C, H, W): the start,
    then x after each of the S steps. A single IdentityView with one prompt is ordinary CFG sampling.
    """
    pairs = list(default(time_pairs, sampler.time_pairs))
    x = noise
    xs = [x]
    for t, t_prev in pairs:
        x = fused_denoise_step(estimator, sampler, views, prompts, x, t, t_prev, guidance_scale, reduce)
        xs.append(x)
    return torch.stack(xs, dim=1) if return_all_timesteps else x


def make_illusion(
    estimator: NoiseEstimator, sampler: Sampler, views: Sequence[View], prompts: Sequence[Any],
    noise: torch.Tensor, *, guidance_scale: float = 1.0, reduce: Reduction | None = None,
) -> torch.Tensor:
    """A k-view illusion in which views[i] shows prompts[i]: noise (B, C, H, W) -> (B, C, H, W), model space."""
    return fused_denoise_loop(estimator, sampler, views, prompts, noise, guidance_scale=guidance_scale, reduce=reduce)


def make_anagram(
    estimator: NoiseEstimator, sampler: Sampler, prompt_upright: Any, prompt_turned: Any,
    noise: torch.Tensor, *, view: View | None = None, guidance_scale: float = 1.0,
) -> torch.Tensor:
    """A visual anagram: prompt_upright as it is, prompt_turned through `view` (Rotate180View()).

    Typical guidance: 7 for DeepFloyd IF, 2 .. 4 for the digits model.
    """
    views = [IdentityView(), default(view, Rotate180View)]
    return make_illusion(
        estimator, sampler, views, [prompt_upright, prompt_turned], noise, guidance_scale=guidance_scale
    )


def make_hybrid(
    estimator: NoiseEstimator, sampler: Sampler, prompt_far: Any, prompt_near: Any, noise: torch.Tensor,
    *, guidance_scale: float = 1.0, kernel_size: int = HYBRID_KERNEL_SIZE, sigma: float = HYBRID_SIGMA,
) -> torch.Tensor:
    """A hybrid image: prompt_far from a distance (low frequencies), prompt_near up close.

    The fused loop with two IdentityViews and HybridReduction(kernel_size, sigma), whose __call__ holds
    the formula. noise: (B, C, H, W) starting noise; returns (B, C, H, W) in model space.
    """
    return make_illusion(
        estimator, sampler, [IdentityView(), IdentityView()], [prompt_far, prompt_near], noise,
        guidance_scale=guidance_scale, reduce=HybridReduction(kernel_size, sigma),
    )


# ---------------------------------------------------------------------------------- SDEdit, inpainting


def _randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)


@torch.no_grad()
def sdedit(
    estimator: NoiseEstimator, sampler: Sampler, image: torch.Tensor, i_start: int, *, prompt: Any = None,
    guidance_scale: float = 1.0, noise: torch.Tensor | None = None, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """SDEdit (Meng et al. 2022): noise an image part of the way, then denoise it from there.

        t    = sampler.time_pairs[i_start][0]            the t of the i_start-th pair
        x_t  = sampler.add_noise(image, noise, t)        sqrt(alpha_bar_t) image + sqrt(1 - alpha_bar_t) noise
        x_0  = fused_denoise_loop(estimator, sampler, [IdentityView()], [prompt], x_t,
                                  guidance_scale=guidance_scale, time_pairs=time_pairs[i_start:])

    The forward process forgets the image's details and keeps its layout; the reverse process fills
    the details back in as the model (and the prompt) sees fit: an edit of the image, more faithful the
    later it starts.

    Args:
        estimator, sampler: a NoiseEstimator and a Sampler (see their protocols).
        image: x_0, (B, C, H, W) in model space [-1, 1].
        i_start: index into sampler.time_pairs (0 .. S-1), not a timestep: i_start = 0 starts from
            (almost) pure noise and ignores the image; the last index starts at the smallest t and
            returns (almost) the image itself.
        prompt, guidance_scale: what the denoiser is asked for, as in fused_noise_estimate.
        noise: the forward process's noise, (B, C, H, W); when None, draw it with
            torch.randn(image.shape, generator=generator, device=image.device, dtype=image.dtype).
        generator: for that noise only.
    Returns:
        (B, C, H, W) in model space, what the loop returns; image and noise are left as they are.
    Edge case: the pairs before i_start are skipped, not run: the loop's first step is (t, t_prev) =
    time_pairs[i_start], from the x_t just made.
    """
    pairs = sampler.time_pairs
    if not 0 <= i_start < len(pairs):
        raise ValueError(
            f"i_start must index the sampler's {len(pairs)} time pairs (0 .. {len(pairs) - 1}), got {i_start}"
        )
    t = pairs[i_start][0]
    noise = default(noise, lambda: _randn_like(image, generator))
    x_t = sampler.add_noise(image, noise, t)
    return fused_denoise_loop(
        estimator, sampler, [IdentityView()], [prompt], x_t, guidance_scale=guidance_scale, time_pairs=pairs[i_start:]
    )


@torch.no_grad()
def inpaint(
    estimator: NoiseEstimator, sampler: Sampler, image: torch.Tensor, mask: torch.Tensor, *, prompt: Any = None,
    guidance_scale: float = 1.0, noise: torch.Tensor | None = None, generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Inpainting (RePaint, Lugmayr et al. 2022): regenerate where mask = 1, keep the image where mask = 0.

        x = noise                                                         x_T, as it is
        for (t, t_prev) in sampler.time_pairs:
            x     = fused_denoise_step(estimator, sampler, [IdentityView()], [prompt], x, t, t_prev,
                                       guidance_scale)                    one reverse step
            known = sampler.add_noise(image, z, t_prev)                   z fresh noise; image itself if t_prev < 0
            x     = mask * x + (1 - mask) * known
        return x

    At every step the kept pixels are replaced by the original image noised to the step just reached,
    q(x_{t_prev} | image): the model sees a noisy image whose known part is consistent with the data at
    that noise level, and fills the masked part to match it. After the last step (t_prev = -1) every
    pixel with mask = 0 is exactly the image's.

    Args:
        estimator, sampler: a NoiseEstimator and a Sampler (see their protocols).
        image: (B, C, H, W) in model space [-1, 1].
        mask: broadcastable to the image ((1, 1, H, W), (B, 1, H, W), ...): 1 = generate, 0 = keep.
        prompt, guidance_scale: what the denoiser is asked for, as in fused_noise_estimate.
        noise: x_T, (B, C, H, W); when None, drawn like each z.
        generator: every random tensor here comes from it, in this order: the start (only when noise is
            None), then one z per step with t_prev >= 0, each drawn as
            torch.randn(image.shape, generator=generator, device=image.device, dtype=image.dtype).
    Returns:
        (B, C, H, W) in model space, in image's dtype and on its device; image, mask and noise are left
        as they are.
    """
    try:
        torch.broadcast_shapes(mask.shape, image.shape)
    except RuntimeError:
        raise ValueError(
            f"the mask has shape {tuple(mask.shape)}, which does not broadcast to the image's "
            f"{tuple(image.shape)}: use (1, 1, H, W) or (B, 1, H, W)"
        ) from None
    mask = mask.to(image)
    x = default(noise, lambda: _randn_like(image, generator))
    for t, t_prev in sampler.time_pairs:
        x = fused_denoise_step(estimator, sampler, [IdentityView()], [prompt], x, t, t_prev, guidance_scale)
        known = image if t_prev < 0 else sampler.add_noise(image, _randn_like(image, generator), t_prev)
        x = mask * x + (1 - mask) * known
    return x


# ---------------------------------------------------------------------------------- samplers


class DDIMSampler:
    """A Sampler over a GaussianDiffusion: the DDIM steps of `ddim_sample`, eps given from outside.

        step:  x0_hat = predict_start_from_noise(x_t, t, eps[:, :C]), clamped to [-1, 1]
               eps    = predict_noise_from_start(x_t, t, x0_hat)           (consistent with the clamp)
               x_prev = denoise_backward(x0_hat, t, t_prev, eps, z, eta)   z ~ N(0, I), zeros if eta = 0

    Extra (variance) channels of eps are ignored: DDIM's variance is set by eta.

    Args:
        diffusion: the GaussianDiffusion whose alphas_bar and denoise_backward are used.
        sampling_timesteps: S (default diffusion.sampling_timesteps); time_pairs = ddim_time_pairs(T, S).
        eta: DDIM's eta (0: deterministic).
        clip_x_start: clamp x0_hat to [-1, 1] as ddim_sample does.
        generator: for z and nothing else.
    """

    def __init__(
        self, diffusion: GaussianDiffusion, sampling_timesteps: int | None = None, eta: float = 0.0,
        clip_x_start: bool = True, generator: torch.Generator | None = None,
    ) -> None:
        self.diffusion = diffusion
        self.sampling_timesteps = default(sampling_timesteps, diffusion.sampling_timesteps)
        self.time_pairs = ddim_time_pairs(diffusion.num_timesteps, self.sampling_timesteps)
        self.eta = eta
        self.clip_x_start = clip_x_start
        self.generator = generator

    def _batched(self, t: int, x: torch.Tensor) -> torch.Tensor:
        return torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)

    def step(self, eps: torch.Tensor, t: int, t_prev: int, x_t: torch.Tensor) -> torch.Tensor:
        d, t_batch = self.diffusion, self._batched(t, x_t)
        eps = eps[:, : x_t.shape[1]]
        x_start = d.predict_start_from_noise(x_t, t_batch, eps)
        if self.clip_x_start:
            x_start = x_start.clamp(-1.0, 1.0)
            eps = d.predict_noise_from_start(x_t, t_batch, x_start)
        z = _randn_like(x_t, self.generator) if self.eta > 0 else torch.zeros_like(x_t)
        return d.denoise_backward(x_start, t, t_prev, eps, z, self.eta).to(x_t.dtype)

    def add_noise(self, x_0: torch.Tensor, noise: torch.Tensor, t: int) -> torch.Tensor:
        return self.diffusion.q_sample(x_0, self._batched(t, x_0), noise)


class DiffusersSampler:
    """A Sampler over a diffusers scheduler (DeepFloyd IF's DDPMScheduler, DDIMScheduler, ...).

    set_timesteps(num_inference_steps) (or custom `timesteps`, descending, e.g.
    990, 960, ..., 0) fixes the visited timesteps; time_pairs pairs each with the next, the last with
    -1. step calls scheduler.step(eps, t, x_t), which finds the previous timestep itself (t_prev is
    only informative). Schedulers that learn the variance (variance_type "learned" or
    "learned_range", as IF's) receive all 2C channels; the others only the C noise channels, as in
    IFPipeline.

    Args:
        scheduler: a diffusers scheduler instance (it is modified: set_timesteps is called).
        num_inference_steps / timesteps: give one.
        generator: for the scheduler's noise.
        step_kwargs: extra keyword arguments of scheduler.step (e.g. {"eta": 0.0} for DDIMScheduler).
    """

    def __init__(
        self, scheduler: Any, num_inference_steps: int | None = None, timesteps: Sequence[int] | None = None,
        generator: torch.Generator | None = None, step_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        if (num_inference_steps is None) == (timesteps is None):
            raise ValueError("give DiffusersSampler exactly one of num_inference_steps or timesteps")
        self.scheduler = scheduler
        if timesteps is not None:
            scheduler.set_timesteps(timesteps=list(timesteps))
        else:
            scheduler.set_timesteps(num_inference_steps)
        times = [int(t) for t in scheduler.timesteps]
        self.time_pairs = list(zip(times, times[1:] + [-1]))
        self.generator = generator
        self.step_kwargs = dict(step_kwargs or {})
        self.learned_variance = getattr(scheduler.config, "variance_type", None) in ("learned", "learned_range")

    @property
    def alphas_bar(self) -> torch.Tensor:
        return self.scheduler.alphas_cumprod

    def step(self, eps: torch.Tensor, t: int, t_prev: int, x_t: torch.Tensor) -> torch.Tensor:
        c = x_t.shape[1]
        if self.learned_variance and eps.shape[1] != 2 * c:
            raise ValueError(
                f"the scheduler learns the variance (variance_type={self.scheduler.config.variance_type!r}) and "
                f"needs {2 * c} channels (noise, then variance), got {eps.shape[1]}"
            )
        if not self.learned_variance:
            eps = eps[:, :c]
        kwargs = dict(self.step_kwargs)
        if self.generator is not None:
            kwargs["generator"] = self.generator
        return self.scheduler.step(eps, t, x_t, return_dict=False, **kwargs)[0]

    def add_noise(self, x_0: torch.Tensor, noise: torch.Tensor, t: int) -> torch.Tensor:
        return self.scheduler.add_noise(x_0, noise, torch.tensor([t], device=x_0.device))


# ---------------------------------------------------------------------------------- estimators


class DiffusionNoiseEstimator:
    """A NoiseEstimator over a GaussianDiffusion: prompts are class indices, None the null class.

    Returns model_predictions(x_t, t, labels).pred_noise (no clipping), so any objective works:
    pred_x0 and pred_v outputs are converted to eps, an affine map of the output, so guidance on
    eps equals guidance on the raw output that ddim_sample uses.
    """

    def __init__(self, diffusion: GaussianDiffusion) -> None:
        self.diffusion = diffusion

    def __call__(self, x_t: torch.Tensor, t: int, prompt: int | None) -> torch.Tensor:
        d = self.diffusion
        if prompt is not None and not exists(d.num_classes):
            raise ValueError(
                f"prompt {prompt!r} given to an unconditional model: build Unet(num_classes=...) and train it "
                "with labels, or pass prompt None"
            )
        b = x_t.shape[0]
        t_batch = torch.full((b,), t, device=x_t.device, dtype=torch.long)
        labels = None
        if exists(d.num_classes):
            label = d.num_classes if prompt is None else int(prompt)
            labels = torch.full((b,), label, device=x_t.device, dtype=torch.long)
        return d.model_predictions(x_t, t_batch, labels).pred_noise


class OracleNoiseEstimator:
    """The exact denoiser of a data set that holds one image per prompt (for checks, no network).

    If prompt p's data is the single image x0_p, then x_t = sqrt(ab_t) x0_p + sqrt(1 - ab_t) eps
    determines eps exactly:

        eps(x_t, t, p) = (x_t - sqrt(ab_t) x0_p) / sqrt(1 - ab_t)                ab_t = alphas_bar[t]

    Args:
        alphas_bar: (T,) the schedule's cumulative products (diffusion.alphas_bar,
            scheduler.alphas_cumprod).
        targets: prompt -> x0_p, (C, H, W) or (1, C, H, W) or (B, C, H, W), in model space, as the
            prompt's own view shows it.
        null_target: x0 of the unconditional estimate (prompt None); zeros when None.
        variance_channels: append C extra channels holding x0_p (the null target for None): a
            stand-in for IF's variance, which depends on the pixel but not on x_t, so a check can see
            where the views move it.
    """

    def __init__(
        self, alphas_bar: torch.Tensor, targets: Mapping[Any, torch.Tensor],
        null_target: torch.Tensor | None = None, variance_channels: bool = False,
    ) -> None:
        self.alphas_bar = alphas_bar
        self.targets = {p: _as_batch(x) for p, x in targets.items()}
        self.null_target = None if null_target is None else _as_batch(null_target)
        self.variance_channels = variance_channels

    def target(self, prompt: Any, like: torch.Tensor) -> torch.Tensor:
        if prompt is None:
            x0 = self.null_target if exists(self.null_target) else torch.zeros_like(like[:1])
        elif prompt in self.targets:
            x0 = self.targets[prompt]
        else:
            raise KeyError(f"the oracle knows no prompt {prompt!r}: it knows {sorted(map(repr, self.targets))}")
        return x0.to(like)

    def __call__(self, x_t: torch.Tensor, t: int, prompt: Any | None) -> torch.Tensor:
        ab = self.alphas_bar[t].to(x_t)
        x0 = self.target(prompt, x_t)
        eps = (x_t - ab.sqrt() * x0) / (1 - ab).sqrt()  # (B, C, H, W)
        if self.variance_channels:
            eps = torch.cat([eps, x0.expand_as(x_t)], dim=1)  # (B, 2C, H, W)
        return eps


def _as_batch(x: torch.Tensor) -> torch.Tensor:
    return x.unsqueeze(0) if x.ndim == 3 else x


def oracle_illusion(
    views: Sequence[View], prompts: Sequence[Any], targets: Mapping[Any, torch.Tensor], *,
    guidance_scale: float = 1.0, null_target: torch.Tensor | None = None, reduce: Reduction | None = None,
) -> torch.Tensor:
    """The closed-form result of the fused loop with an OracleNoiseEstimator (and a DDIM sampler).

    Derivation. Write s_t = sqrt(ab_t), r_t = sqrt(1 - ab_t), x~_p = x0_u + g (x0_p - x0_u) (the
    guided target; x0_u is the null target). Then:

    1. Guidance: eps_u + g (eps_c - eps_u) = (x - s_t x0_u)/r_t + g s_t (x0_u - x0_p)/r_t
                                             = (x - s_t x~_p) / r_t,
       the oracle of the single image x~_p.
    2. A view A (orthogonal and linear, A^-1 = A^T): the estimate for A x_t mapped back is
       A^-1 (A x_t - s_t x~_p) / r_t = (x_t - s_t A^-1 x~_p) / r_t,
       the oracle of A^-1 x~_p, in the frame of x_t.
    3. A linear reduction R that returns e when all k estimates equal e (the mean; the hybrid
       reduction, since low_pass + high_pass = identity) maps k oracles to one:
       R(...) = (x_t - s_t m) / r_t,   m = R(A_1^-1 x~_{p_1}, ..., A_k^-1 x~_{p_k}).
    4. So every step sees the oracle of the single image m: x0_hat = (x_t - r_t eps) / s_t = m
       exactly (the clamp to [-1, 1] changes nothing when m is in range), and the DDIM update
       x_prev = s_prev m + r_prev eps keeps the noise direction n = (x_t - s_t m) / r_t fixed:
       with eta = 0, x_t = s_t m + r_t n at every visited t, with n = (x_T - s_T m) / r_T from the
       starting noise x_T. The last pair (t, -1) returns x0_hat = m. (With eta > 0 each step adds
       fresh noise, but x0_hat is still m, so the final result is m too.)

    Result: the loop returns m = R([A_i^-1 (x0_u + g (x0_{p_i} - x0_u))]_i), independent of the
    starting noise. For an anagram with g = 1: m = (x0_{p_1} + Rot180(x0_{p_2})) / 2.

    Returns m, (1 or B, C, H, W): noise channels only.
    """
    reduce = default(reduce, lambda: mean_over_views)
    null = None if null_target is None else _as_batch(null_target)
    guided = []
    for view, prompt in zip(views, prompts, strict=True):
        x0_p = _as_batch(targets[prompt])
        x0_u = torch.zeros_like(x0_p) if null is None else null.to(x0_p)
        guided.append(view.inverse_view(x0_u + guidance_scale * (x0_p - x0_u)))
    return reduce(guided, guided[0].shape[1])
