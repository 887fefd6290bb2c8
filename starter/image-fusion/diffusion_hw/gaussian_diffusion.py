"""DDPM training and DDPM / DDIM sampling around any noise-prediction network.

The network is any `nn.Module` called as `model(x_t, t, class_labels)`:
    x_t: (B, C, H, W) float, in model space [-1, 1] plus noise
    t: (B,) int64 timesteps in 0 .. T-1
    class_labels: (B,) int64 or None; the value `model.num_classes` means "no class" (the null
        class that classifier-free guidance uses)
and returns a (B, C, H, W) prediction of what `objective` names: the noise eps, x_0, or
v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0.

Images enter `forward` and leave `sample` in [0, 1]; everything in between works in [-1, 1].
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .helpers import (
    default,
    exists,
    extract,
    identity,
    normalize_to_neg_one_to_one,
    unnormalize_to_zero_to_one,
)
from .schedules import compute_diffusion_buffers, make_beta_schedule

OBJECTIVES = ("pred_noise", "pred_x0", "pred_v")
LOSS_TYPES = ("l2", "l1", "huber")


class ModelPrediction(NamedTuple):
    pred_noise: torch.Tensor  # (B, C, H, W)
    pred_x_start: torch.Tensor  # (B, C, H, W)


def ddim_time_pairs(timesteps: int, sampling_timesteps: int) -> list[tuple[int, int]]:
    """The pinned (t, t_prev) pairs that `ddim_sample` visits, from t = T-1 down to t_prev = -1.

        times = linspace(-1, T - 1, S + 1), each truncated toward zero, then reversed
        pairs = zip(times[:-1], times[1:])

    For T = 10, S = 5: times = [9, 7, 5, 3, 1, -1] and the pairs are
    (9, 7), (7, 5), (5, 3), (3, 1), (1, -1). The last pair always ends at t_prev = -1, where
    `denoise_backward` returns its x_0 estimate. S = T visits every step: (T-1, T-2), ..., (0, -1).
    """
    if not 1 <= sampling_timesteps <= timesteps:
        raise ValueError(
            f"sampling_timesteps must be in 1 .. timesteps ({timesteps}), got {sampling_timesteps}"
        )
    times = torch.linspace(-1, timesteps - 1, steps=sampling_timesteps + 1)
    times = list(reversed(times.int().tolist()))
    return list(zip(times[:-1], times[1:]))


class GaussianDiffusion(nn.Module):
    """The forward process q, the loss, and the reverse samplers (DDPM ancestral and DDIM).

    Args:
        model: the noise-prediction network (see the module docstring).
        image_size: H = W of the images.
        timesteps: T, the number of diffusion steps.
        sampling_timesteps: S, steps `sample` takes; S < T samples with DDIM, S = T with DDPM.
        objective: what the network predicts: "pred_noise", "pred_x0" or "pred_v".
        beta_schedule: "linear", "cosine" or "sigmoid".
        schedule_fn_kwargs: extra arguments of the schedule (e.g. {"s": 0.008} for cosine).
        loss_type: "l2" (MSE), "l1" or "huber" (smooth L1 with beta = 1).
        ddim_sampling_eta: eta of DDIM; 0 is deterministic, 1 matches DDPM's posterior variance.
        auto_normalize: map [0, 1] images to [-1, 1] on the way in and back on the way out.
        cond_drop_prob: for class-conditional models, the probability of training a sample with
            the null class, which is what makes classifier-free guidance possible.
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        image_size: int,
        timesteps: int = 1000,
        sampling_timesteps: int | None = None,
        objective: str = "pred_noise",
        beta_schedule: str = "linear",
        schedule_fn_kwargs: dict | None = None,
        loss_type: str = "l2",
        ddim_sampling_eta: float = 0.0,
        auto_normalize: bool = True,
        cond_drop_prob: float = 0.1,
    ) -> None:
        super().__init__()
        if objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {objective!r}: choose one of {', '.join(OBJECTIVES)}")
        if loss_type not in LOSS_TYPES:
            raise ValueError(f"unknown loss_type {loss_type!r}: choose one of {', '.join(LOSS_TYPES)}")
        self.model = model
        self.channels = getattr(model, "channels", 3)
        self.num_classes = getattr(model, "num_classes", None)
        self.image_size = image_size
        self.objective = objective
        self.loss_type = loss_type
        self.cond_drop_prob = cond_drop_prob
        # kept so that a checkpoint's config (Trainer.config) can rebuild the same schedule
        self.beta_schedule = beta_schedule
        self.schedule_fn_kwargs = dict(schedule_fn_kwargs or {})

        betas = make_beta_schedule(beta_schedule, timesteps, **self.schedule_fn_kwargs)
        self.num_timesteps = int(betas.shape[0])
        self.sampling_timesteps = default(sampling_timesteps, timesteps)
        ddim_time_pairs(self.num_timesteps, self.sampling_timesteps)  # validates S early
        self.is_ddim_sampling = self.sampling_timesteps < timesteps
        self.ddim_sampling_eta = ddim_sampling_eta

        # computed in float64, stored in float32 like the model's weights
        for name, value in compute_diffusion_buffers(betas).items():
            self.register_buffer(name, value.to(torch.float32), persistent=False)

        self.normalize = normalize_to_neg_one_to_one if auto_normalize else identity
        self.unnormalize = unnormalize_to_zero_to_one if auto_normalize else identity

    @property
    def device(self) -> torch.device:
        return self.betas.device

    # ------------------------------------------------------------------ conversions (given)

    def predict_start_from_noise(self, x_t: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_0 = (x_t - sqrt(1 - alpha_bar_t) eps) / sqrt(alpha_bar_t)
               = sqrt(1 / alpha_bar_t) x_t - sqrt(1 / alpha_bar_t - 1) eps."""
        return (
            extract(self.sqrt_recip_alphas_bar, t, x_t.shape) * x_t
            - extract(self.sqrt_recipm1_alphas_bar, t, x_t.shape) * noise
        )

    def predict_noise_from_start(self, x_t: torch.Tensor, t: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
        """eps = (sqrt(1 / alpha_bar_t) x_t - x_0) / sqrt(1 / alpha_bar_t - 1)."""
        return (extract(self.sqrt_recip_alphas_bar, t, x_t.shape) * x_t - x0) / extract(
            self.sqrt_recipm1_alphas_bar, t, x_t.shape
        )

    def predict_v(self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """v = sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0   (Salimans & Ho 2022)."""
        return (
            extract(self.sqrt_alphas_bar, t, x_start.shape) * noise
            - extract(self.sqrt_one_minus_alphas_bar, t, x_start.shape) * x_start
        )

    def predict_start_from_v(self, x_t: torch.Tensor, t: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """x_0 = sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) v."""
        return (
            extract(self.sqrt_alphas_bar, t, x_t.shape) * x_t
            - extract(self.sqrt_one_minus_alphas_bar, t, x_t.shape) * v
        )

    def q_posterior(
        self, x_start: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, variance and clipped log-variance of q(x_{t-1} | x_t, x_0)  (Ho et al. eq. 6-7).

            mean     = posterior_mean_coef1[t] x_0 + posterior_mean_coef2[t] x_t     (B, C, H, W)
            variance = posterior_variance[t]                                          (B, 1, 1, 1)
        """
        mean = (
            extract(self.posterior_mean_coef1, t, x_t.shape) * x_start
            + extract(self.posterior_mean_coef2, t, x_t.shape) * x_t
        )
        variance = extract(self.posterior_variance, t, x_t.shape)
        log_variance = extract(self.posterior_log_variance_clipped, t, x_t.shape)
        return mean, variance, log_variance

    def model_output(
        self, x: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None,
        guidance_scale: float = 1.0,
    ) -> torch.Tensor:
        """The network's raw output, with classifier-free guidance for class-conditional models.

            out = out_u + g (out_c - out_u)

        where out_c is the output for `class_labels`, out_u for the null class, and g is
        `guidance_scale`. g = 1 is plain conditional sampling, g = 0 unconditional, g > 1 sharpens
        the class. (Ho & Salimans write (1 + w) out_c - w out_u: their w is g - 1, so w = 2
        is g = 3. diffusers' guidance_scale is g itself.)
        """
        if not exists(class_labels) or guidance_scale == 1.0:
            return self.model(x, t, class_labels)
        null = torch.full_like(class_labels, self.num_classes)
        out = self.model(torch.cat([x, x]), torch.cat([t, t]), torch.cat([class_labels, null]))
        out_c, out_u = out.chunk(2)
        return out_u + guidance_scale * (out_c - out_u)

    def model_predictions(
        self, x: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None,
        guidance_scale: float = 1.0, clip_x_start: bool = False, rederive_pred_noise: bool = False,
    ) -> ModelPrediction:
        """The network's estimate of eps and of x_0 at (x_t, t), whatever its objective.

            out = model_output(x_t, t, class_labels, guidance_scale)        the network (with guidance)

            objective      x0_hat                                           eps_hat
            pred_noise     (x_t - sqrt(1 - alpha_bar_t) out) / sqrt(alpha_bar_t)    out
            pred_x0        out                                              from x0_hat (below)
            pred_v         sqrt(alpha_bar_t) x_t - sqrt(1 - alpha_bar_t) out        from x0_hat (below)

        then, with clip_x_start, x0_hat = clamp(x0_hat, -1, 1): x_0 lies in the data range, and early
        in sampling (t near T) the raw estimate is far outside it. "From x0_hat" is
            eps_hat = (x_t - sqrt(alpha_bar_t) x0_hat) / sqrt(1 - alpha_bar_t)
        (`predict_noise_from_start`), computed after the clamp, so that x_t = sqrt(alpha_bar_t) x0_hat +
        sqrt(1 - alpha_bar_t) eps_hat holds for the pair returned. For pred_noise, eps_hat stays the
        network's `out` unless both clip_x_start and rederive_pred_noise are set: then it is re-derived
        from the clamped x0_hat in the same way (DDIM needs the consistent pair; ancestral DDPM uses
        x0_hat only).

        Args:
            x: x_t, (B, C, H, W) float.
            t: (B,) int64 timesteps, one per sample (they may differ).
            class_labels, guidance_scale: passed to model_output as they are.
            clip_x_start: clamp x0_hat to [-1, 1].
            rederive_pred_noise: with clip_x_start and pred_noise, recompute eps_hat from the clamped x0_hat.
        Returns:
            ModelPrediction(pred_noise=eps_hat, pred_x_start=x0_hat), both (B, C, H, W) in x's dtype and on
            its device; x, t and class_labels are left as they are.
        Hint: the given conversions (`predict_start_from_noise`, `predict_start_from_v`,
        `predict_noise_from_start`) are each formula of the table above, one line each.
        """
        out = self.model_output(x, t, class_labels, guidance_scale)
        # TODO 2.3 (model_predictions): implement it as the docstring above states.
        raise NotImplementedError("TODO 2.3 model_predictions: not implemented yet (see its docstring)")

    # ------------------------------------------------------------------ training

    def q_sample(self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Sample x_t from q(x_t | x_0) in one shot (Ho et al. eq. 4).

            x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps,      eps ~ N(0, I)

        Args:
            x_start: x_0, (B, C, H, W) float in [-1, 1]; left as it is (p_losses still needs x_0).
            t: (B,) int64, each in 0 .. T-1; every sample has its own timestep.
            noise: eps, (B, C, H, W); drawn with torch.randn_like(x_start) when None.
        Returns:
            x_t: (B, C, H, W), the same dtype as x_start (float32, float64, or bfloat16 in a module cast with
            .to(torch.bfloat16)) on its device: the network gets x_t next, in the dtype it was built for.
            Compute in float64 if you like, then cast back. At t = 0 x_t is almost x_0.
        Hint: `extract(self.sqrt_alphas_bar, t, x_start.shape)` is sqrt(alpha_bar_t) shaped
        (B, 1, 1, 1). Use alpha_bar_t (the cumulative product), not alpha_t.
        """
        # TODO 1.1 (q_sample): implement it as the docstring above states.
        raise NotImplementedError("TODO 1.1 q_sample: not implemented yet (see its docstring)")

    def p_losses(
        self, x_start: torch.Tensor, t: torch.Tensor, noise: torch.Tensor | None = None,
        class_labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The training loss at timesteps t (Ho et al. Algorithm 1, generalised over objectives).

            x_t    = q_sample(x_0, t, eps)
            out    = model(x_t, t, class_labels)
            target = eps                                            if objective == "pred_noise"
                     x_0                                            if objective == "pred_x0"
                     sqrt(alpha_bar_t) eps - sqrt(1 - alpha_bar_t) x_0   if objective == "pred_v"
            loss   = mean over all elements of d(out, target)

        with d the elementwise squared error ("l2"), absolute error ("l1") or smooth L1 with
        beta = 1 ("huber", torch's F.smooth_l1_loss). No per-timestep weighting.

        Args:
            x_start: x_0, (B, C, H, W) in [-1, 1].
            t: (B,) int64 timesteps.
            noise: eps, (B, C, H, W); torch.randn_like(x_start) when None.
            class_labels: (B,) int64 or None, passed through to the model.
        The model gets x_t in x_start's dtype (a bfloat16 network cannot take float32) and t and
        class_labels as given; x_start, t and noise are left as they are.
        Returns:
            a scalar (0-dim) tensor that can be backpropagated.
        """
        # TODO 1.2 (p_losses): implement it as the docstring above states.
        raise NotImplementedError("TODO 1.2 p_losses: not implemented yet (see its docstring)")

    def forward(self, img: torch.Tensor, class_labels: torch.Tensor | None = None) -> torch.Tensor:
        """Training step: pick t uniformly in 0 .. T-1 per image and return p_losses.

        img: (B, C, H, W) in [0, 1] (normalised to [-1, 1] here). For class-conditional models a
        fraction cond_drop_prob of the labels is replaced by the null class.
        """
        b, c, h, w = img.shape
        if h != self.image_size or w != self.image_size:
            raise ValueError(
                f"images are {h}x{w} but the diffusion model was built for image_size={self.image_size}: "
                "resize the dataset or change image_size"
            )
        t = torch.randint(0, self.num_timesteps, (b,), device=img.device).long()
        if exists(class_labels) and self.cond_drop_prob > 0:
            class_labels = self.drop_class_labels(class_labels)
        return self.p_losses(self.normalize(img), t, class_labels=class_labels)

    def drop_class_labels(self, class_labels: torch.Tensor) -> torch.Tensor:
        """Label dropout for classifier-free guidance (Ho & Salimans 2022, Algorithm 1): each label becomes
        the null class with probability p_uncond = self.cond_drop_prob, independently of the others.

            drop_b  ~ Bernoulli(p_uncond)                          one draw per sample: torch.rand(B) < p_uncond
            label_b = num_classes   if drop_b   else  label_b      num_classes is the null class ("no class")

        One network thus learns both eps(x_t, t, c) and the unconditional eps(x_t, t, null), the two estimates
        that guidance combines at sampling time: without dropout the null class is never trained.

        Args:
            class_labels: (B,) int64 labels in 0 .. num_classes - 1.
        Returns:
            (B,) int64 on class_labels' device: each label kept or replaced by self.num_classes. class_labels
            is left as it is (return a new tensor).
        Edge cases: p_uncond = 0 keeps every label, p_uncond = 1 drops them all.
        Hint: draw with torch.rand(B, device=class_labels.device) and pick with torch.where.
        """
        drop = torch.rand(class_labels.shape[0], device=class_labels.device) < self.cond_drop_prob
        return torch.where(drop, torch.full_like(class_labels, self.num_classes), class_labels)

    # ------------------------------------------------------------------ DDPM sampling

    @torch.no_grad()
    def p_sample(
        self, x: torch.Tensor, t: int, class_labels: torch.Tensor | None = None,
        guidance_scale: float = 1.0, noise: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One ancestral DDPM step: draw x_{t-1} ~ p(x_{t-1} | x_t)  (Ho et al. Algorithm 2).

            x0_hat           = clip(model's x_0 estimate at (x_t, t), -1, 1)
                               (self.model_predictions(..., clip_x_start=True).pred_x_start)
            mean, _, log_var = q_posterior(x0_hat, x_t, t)
            x_{t-1}          = mean + exp(0.5 log_var) z,    z ~ N(0, I) if t > 0, z = 0 if t = 0

        Args:
            x: x_t, (B, C, H, W).
            t: the current timestep, a Python int in 0 .. T-1 (the same for the whole batch); the
                network gets it as a (B,) int64 tensor on x's device, one entry per sample.
            class_labels, guidance_scale: passed to model_predictions.
            noise: z, (B, C, H, W); torch.randn_like(x) when None. Ignored at t = 0: the last
                step adds no noise.
        Returns:
            (x_{t-1}, x0_hat), both (B, C, H, W) in x's dtype (float32, float64, or bfloat16 in a module
            cast with .to(torch.bfloat16)) and on x's device: the next step hands x_{t-1} to the network.
            x and noise are left as they are.
        """
        # TODO 2.1 (p_sample): implement it as the docstring above states.
        raise NotImplementedError("TODO 2.1 p_sample: not implemented yet (see its docstring)")

    @torch.no_grad()
    def p_sample_loop(
        self, shape: tuple[int, ...], class_labels: torch.Tensor | None = None,
        guidance_scale: float = 1.0, return_all_timesteps: bool = False,
    ) -> torch.Tensor:
        """Generate images with T ancestral steps, from pure noise x_{T-1} ~ N(0, I) down to x_0.

            x = randn(shape)                 float32 (torch's default), on self.device: the model's device,
                                             a GPU when it has one
            for t = T-1, T-2, ..., 0:   x, _ = p_sample(x, t, ...)
            return unnormalize(x)

        Args:
            shape: (B, C, H, W).
            class_labels, guidance_scale: passed to every p_sample.
            return_all_timesteps: also return the T intermediate images.
        Returns:
            (B, C, H, W) images in [0, 1] (approximately: unnormalize does not clip), or with
            return_all_timesteps (B, T + 1, C, H, W): the starting noise, then after each step.
        """
        # TODO 2.2 (p_sample_loop): implement it as the docstring above states.
        raise NotImplementedError("TODO 2.2 p_sample_loop: not implemented yet (see its docstring)")

    # ------------------------------------------------------------------ DDIM sampling

    def denoise_backward(
        self, pred_x_start: torch.Tensor, t: int, t_prev: int, pred_noise: torch.Tensor,
        noise: torch.Tensor, eta: float,
    ) -> torch.Tensor:
        """One DDIM step from x_t to x_{t_prev}  (Song et al. 2021, "DDIM", eq. 12 and 16).

            sigma_t  = eta sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) sqrt(1 - alpha_bar_t / alpha_bar_prev)
            x_prev   = sqrt(alpha_bar_prev) x0_hat
                       + sqrt(1 - alpha_bar_prev - sigma_t^2) eps_hat
                       + sigma_t z

        with alpha_bar_t = alphas_bar[t] and alpha_bar_prev = alphas_bar[t_prev] (not
        alphas_bar_prev, which is one step back: DDIM may jump over many steps).

        Args:
            pred_x_start: x0_hat, (B, C, H, W), already clipped by the caller.
            t, t_prev: Python ints, t_prev < t; t_prev = -1 means "past the last step".
            pred_noise: eps_hat, (B, C, H, W), consistent with x0_hat.
            noise: z ~ N(0, I), (B, C, H, W).
            eta: 0 gives deterministic DDIM, 1 gives DDPM's posterior variance when t_prev = t - 1.
        Returns:
            x_{t_prev}, (B, C, H, W), in pred_x_start's dtype (float32, float64, or bfloat16 in a module
            cast with .to(torch.bfloat16)) and on its device; the inputs are left as they are. When
            t_prev < 0, return pred_x_start itself: there is no alpha_bar_{-1} to index, and the final
            sample is the model's x_0 estimate.
        """
        if t_prev < 0:
            return pred_x_start
        alpha_bar = self.alphas_bar[t]
        alpha_bar_prev = self.alphas_bar[t_prev]
        sigma = eta * ((1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev)).sqrt()
        direction = (1 - alpha_bar_prev - sigma**2).sqrt()
        return alpha_bar_prev.sqrt() * pred_x_start + direction * pred_noise + sigma * noise

    @torch.no_grad()
    def ddim_sample(
        self, shape: tuple[int, ...], class_labels: torch.Tensor | None = None,
        guidance_scale: float = 1.0, return_all_timesteps: bool = False, eta: float | None = None,
    ) -> torch.Tensor:
        """Generate images with S = sampling_timesteps DDIM steps over the pairs of `ddim_time_pairs`.

            x = randn(shape)
            for (t, t_prev) in ddim_time_pairs(T, S):
                eps_hat, x0_hat = model_predictions(x, t, clip_x_start=True, rederive_pred_noise=True)
                x = denoise_backward(x0_hat, t, t_prev, eps_hat, randn_like(x), eta)
            return unnormalize(x)
        """
        eta = default(eta, self.ddim_sampling_eta)
        img = torch.randn(shape, device=self.device)
        imgs = [img]
        for time, time_prev in ddim_time_pairs(self.num_timesteps, self.sampling_timesteps):
            time_cond = torch.full((shape[0],), time, device=self.device, dtype=torch.long)
            pred_noise, x_start = self.model_predictions(
                img, time_cond, class_labels, guidance_scale, clip_x_start=True, rederive_pred_noise=True
            )
            img = self.denoise_backward(x_start, time, time_prev, pred_noise, torch.randn_like(img), eta)
            imgs.append(img)
        ret = torch.stack(imgs, dim=1) if return_all_timesteps else img
        return self.unnormalize(ret)

    @torch.no_grad()
    def sample(
        self, batch_size: int = 16, class_labels: torch.Tensor | None = None,
        guidance_scale: float = 1.0, return_all_timesteps: bool = False,
    ) -> torch.Tensor:
        """`batch_size` images in [0, 1]: DDIM when sampling_timesteps < timesteps, else DDPM."""
        shape = (batch_size, self.channels, self.image_size, self.image_size)
        sample_fn = self.ddim_sample if self.is_ddim_sampling else self.p_sample_loop
        return sample_fn(shape, class_labels, guidance_scale, return_all_timesteps)

    @torch.no_grad()
    def interpolate(
        self, x1: torch.Tensor, x2: torch.Tensor, t: int | None = None, lam: float = 0.5,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Fuse two images: noise both to step t with the same noise, mix them, denoise the mix back to x_0.

            x1', x2' = normalize(x1), normalize(x2)                              [0, 1] -> [-1, 1]
            x_t      = (1 - lam) q_sample(x1', t, eps) + lam q_sample(x2', t, eps)      one eps for both
            for s = t, t-1, ..., 0:   x_t, _ = p_sample(x_t, s)                   t + 1 ancestral steps
            return unnormalize(x_t)

        With one eps, x_t = sqrt(alpha_bar_t) ((1 - lam) x1' + lam x2') + sqrt(1 - alpha_bar_t) eps is a
        proper sample of q(x_t | the mixed image): the noise keeps its full strength. Two independent
        noises would mix to noise of variance ((1 - lam)^2 + lam^2) (1 - alpha_bar_t), too little of it
        for step t (half the variance at lam = 0.5), and the denoiser would misjudge the image.

        Args:
            x1, x2: (B, C, H, W) images in [0, 1], the same shape.
            t: the step both images are noised to, a Python int in 0 .. T-1; None means T - 1. A large t
                forgets most of both images (a new image "between" them), a small t keeps their pixels.
            lam: the weight of x2: lam = 0 noises and denoises x1 alone (a re-imagined x1), lam = 1 x2
                alone, 0.5 the even mix.
            noise: eps, (B, C, H, W); when None, draw it once with torch.randn_like(x1) and use it for both.
        Returns:
            (B, C, H, W) in [0, 1] (approximately: unnormalize does not clip), in x1's dtype and on its
            device. The p_sample steps draw their own noise; x1, x2 and noise are left as they are.
        Hint: q_sample wants t as a (B,) int64 tensor on x1's device (torch.full), p_sample a Python int.
        """
        t = default(t, self.num_timesteps - 1)
        # TODO 3.1 (interpolate): implement it as the docstring above states.
        raise NotImplementedError("TODO 3.1 interpolate: not implemented yet (see its docstring)")
