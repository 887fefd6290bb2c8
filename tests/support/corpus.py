"""The corpus: submissions generated from the reference solution by text mutation, as data.

Each entry names the edits (file under diffusion_hw/, exact old text, new text) and the TODO items
that must lose points because of them. An empty `loses` means a correct variant: it must score full
marks (float64 buffers, diffusers-style formulas, indexing instead of gather, ...).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOLUTION = ROOT / "solution"

SCHEDULES = "schedules.py"
DIFFUSION = "gaussian_diffusion.py"
VIEWS = "views.py"
ILLUSIONS = "illusions.py"


@dataclass(frozen=True)
class Mutation:
    name: str
    edits: tuple[tuple[str, str, str], ...]  # (file, old, new): `old` must occur exactly once
    loses: frozenset[str]  # the TODO items (function names) that must lose points; nothing else may
    fails: frozenset[str] = frozenset()  # when given: exactly the checks ("<item>.<check>") that must fail

    def build(self, destination: Path) -> Path:
        """Write the mutated package to destination/diffusion_hw; return destination."""
        package = destination / "diffusion_hw"
        shutil.copytree(SOLUTION / "diffusion_hw", package, ignore=shutil.ignore_patterns("__pycache__"))
        for file, old, new in self.edits:
            path = package / file
            text = path.read_text(encoding="utf-8")
            count = text.count(old)
            if count != 1:
                raise AssertionError(f"mutation {self.name}: {old!r} occurs {count} times in {file}, not once")
            path.write_text(text.replace(old, new), encoding="utf-8")
        return destination


def mutation(name: str, *edits: tuple[str, str, str], loses: tuple[str, ...] = (),
             fails: tuple[str, ...] = ()) -> Mutation:
    return Mutation(name, tuple(edits), frozenset(loses), frozenset(fails))


def breaks_contract(item: str) -> dict[str, tuple[str, ...]]:
    """A mistake whose values are right and which breaks one promise of item's docstring: it fails that
    item's keeps_the_docstring_contract check and no other check."""
    return {"loses": (item,), "fails": (f"{item}.keeps_the_docstring_contract",)}


# ---------------------------------------------------------------------------- known mistakes

MISTAKES = [
    mutation(
        "linear_schedule_without_1000_over_T_scale",
        (SCHEDULES, "scale = 1000 / timesteps", "scale = 1.0"),
        loses=("linear_beta_schedule",),
    ),
    mutation(
        "cosine_schedule_without_clip",
        (SCHEDULES,
         "betas = 1 - (alphas_bar[1:] / alphas_bar[:-1])\n    return torch.clip(betas, 0, 0.999)\n"
         "    # END SOLUTION\n\n\ndef sigmoid",
         "betas = 1 - (alphas_bar[1:] / alphas_bar[:-1])\n    return betas\n    # END SOLUTION\n\n\ndef sigmoid"),
        loses=("cosine_beta_schedule",),
    ),
    mutation(
        "sigmoid_schedule_ignores_tau",
        (SCHEDULES, "g = (v_end - ((u * (end - start) + start) / tau).sigmoid())",
         "g = (v_end - ((u * (end - start) + start)).sigmoid())"),
        loses=("sigmoid_beta_schedule",),
    ),
    mutation(
        "alphas_bar_prev_not_shifted",
        (SCHEDULES, "alphas_bar_prev = F.pad(alphas_bar[:-1], (1, 0), value=1.0)", "alphas_bar_prev = alphas_bar"),
        loses=("compute_diffusion_buffers",),
    ),
    mutation(
        "posterior_variance_is_betas",
        (SCHEDULES, "posterior_variance = betas * (1.0 - alphas_bar_prev) / (1.0 - alphas_bar)",
         "posterior_variance = betas"),
        loses=("compute_diffusion_buffers",),
    ),
    mutation(
        "posterior_log_variance_not_clipped",
        (SCHEDULES, "torch.log(posterior_variance.clamp(min=1e-20))", "torch.log(posterior_variance)"),
        loses=("compute_diffusion_buffers",),
    ),
    mutation(
        "q_sample_uses_alphas_not_alphas_bar",
        (DIFFUSION,
         "extract(self.sqrt_alphas_bar, t, x_start.shape) * x_start\n"
         "            + extract(self.sqrt_one_minus_alphas_bar, t, x_start.shape) * noise",
         "extract(self.alphas, t, x_start.shape).sqrt() * x_start\n"
         "            + (1 - extract(self.alphas, t, x_start.shape)).sqrt() * noise"),
        loses=("q_sample",),
    ),
    mutation(
        "q_sample_missing_sqrt",
        (DIFFUSION,
         "extract(self.sqrt_alphas_bar, t, x_start.shape) * x_start\n"
         "            + extract(self.sqrt_one_minus_alphas_bar, t, x_start.shape) * noise",
         "extract(self.alphas_bar, t, x_start.shape) * x_start\n"
         "            + (1 - extract(self.alphas_bar, t, x_start.shape)) * noise"),
        loses=("q_sample",),
    ),
    mutation(
        "q_sample_ignores_given_noise",
        (DIFFUSION, "noise = default(noise, lambda: torch.randn_like(x_start))\n        return (",
         "noise = torch.randn_like(x_start)\n        return ("),
        loses=("q_sample",),
    ),
    mutation(
        "p_losses_ignores_loss_type",
        (DIFFUSION,
         '        if self.loss_type == "l1":\n            return F.l1_loss(out, target)\n'
         '        if self.loss_type == "huber":\n            return F.smooth_l1_loss(out, target)\n',
         ""),
        loses=("p_losses",),
    ),
    mutation(
        "p_losses_wrong_pred_v_target",
        (DIFFUSION, "target = self.predict_v(x_start, t, noise)", "target = noise - x_start"),
        loses=("p_losses",),
    ),
    mutation(
        "p_losses_feeds_the_model_x_start",
        (DIFFUSION, "out = self.model(x_t, t, class_labels)", "out = self.model(x_start, t, class_labels)"),
        loses=("p_losses",),
    ),
    mutation(
        "p_sample_off_by_one_t",
        (DIFFUSION, "batched_t = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)",
         "batched_t = torch.full((x.shape[0],), t - 1, device=x.device, dtype=torch.long)"),
        loses=("p_sample",),
    ),
    mutation(
        "p_sample_adds_noise_at_the_last_step",
        (DIFFUSION, "        if t == 0:\n            return mean, x_start\n", ""),
        loses=("p_sample",),
    ),
    mutation(
        "p_sample_uses_betas_as_posterior_variance",
        (DIFFUSION, "return mean + (0.5 * log_variance).exp() * noise, x_start",
         "return mean + extract(self.betas, batched_t, x.shape).sqrt() * noise, x_start"),
        loses=("p_sample",),
    ),
    mutation(
        "p_sample_forgets_to_clip_x0",
        (DIFFUSION, "x, batched_t, class_labels, guidance_scale, clip_x_start=True",
         "x, batched_t, class_labels, guidance_scale, clip_x_start=False"),
        loses=("p_sample",),
    ),
    mutation(
        "p_sample_loop_iterates_t_upward",
        (DIFFUSION, "        for t in reversed(range(self.num_timesteps)):\n            img, _ = self.p_sample(",
         "        for t in range(self.num_timesteps):\n            img, _ = self.p_sample("),
        loses=("p_sample_loop",),
    ),
    mutation(
        "p_sample_loop_returns_without_unnormalize",
        (DIFFUSION,
         "ret = torch.stack(imgs, dim=1) if return_all_timesteps else img\n"
         "        return self.unnormalize(ret)\n        # END SOLUTION",
         "ret = torch.stack(imgs, dim=1) if return_all_timesteps else img\n        return ret\n        # END SOLUTION"),
        loses=("p_sample_loop",),
    ),
    mutation(
        "p_sample_loop_drops_class_labels",
        (DIFFUSION, "img, _ = self.p_sample(img, t, class_labels, guidance_scale)", "img, _ = self.p_sample(img, t)"),
        loses=("p_sample_loop",),
    ),
    mutation(
        "ddim_sigma_missing_eta",
        (DIFFUSION, "sigma = eta * ((1 - alpha_bar_prev)", "sigma = ((1 - alpha_bar_prev)"),
        loses=("denoise_backward",),
    ),
    mutation(
        "ddim_sigma_missing_sqrt",
        (DIFFUSION, "(1 - alpha_bar / alpha_bar_prev)).sqrt()", "(1 - alpha_bar / alpha_bar_prev))"),
        loses=("denoise_backward",),
    ),
    mutation(
        "ddim_no_t_prev_below_zero_branch",
        (DIFFUSION, "        if t_prev < 0:\n            return pred_x_start\n", ""),
        loses=("denoise_backward",),
    ),
]

# ---------------------------------------------------------------------------- the docstrings' contracts (issue 14)

Q_SAMPLE_SOLUTION = (
    "        return (\n            extract(self.sqrt_alphas_bar, t, x_start.shape) * x_start\n"
    "            + extract(self.sqrt_one_minus_alphas_bar, t, x_start.shape) * noise\n        )"
)
P_SAMPLE_T = "batched_t = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)"
LOOP_AFTER_START = "\n        imgs = [img]\n        for t in reversed(range(self.num_timesteps)):"
P_SAMPLE_LOOP_START = "img = torch.randn(shape, device=self.device)" + LOOP_AFTER_START
P_SAMPLE_RETURN = "return mean + (0.5 * log_variance).exp() * noise, x_start"
P_SAMPLE_POSTERIOR = "mean, _, log_variance = self.q_posterior(x_start, x, batched_t)"
FLOAT64_BUFFERS = (DIFFUSION, "self.register_buffer(name, value.to(torch.float32), persistent=False)",
                   "self.register_buffer(name, value, persistent=False)")
P_SAMPLE_CASTS_BACK = (  # float64 buffers promote the step to float64: p_sample returns x's dtype
    DIFFUSION, P_SAMPLE_POSTERIOR,
    P_SAMPLE_POSTERIOR
    + "\n        mean, log_variance, x_start = (v.to(x.dtype) for v in (mean, log_variance, x_start))")


def q_sample_returning(expression: str) -> tuple[str, str, str]:
    """The edit that makes q_sample's body (after the noise default) `expression`."""
    return (DIFFUSION, Q_SAMPLE_SOLUTION, expression)


MISTAKES += [
    mutation(
        "q_sample_returns_float64_for_float32_input",
        q_sample_returning(
            "        return (\n"
            "            extract(self.sqrt_alphas_bar.double(), t, x_start.shape) * x_start.double()\n"
            "            + extract(self.sqrt_one_minus_alphas_bar.double(), t, x_start.shape) * noise.double()\n"
            "        )"),
        **breaks_contract("q_sample"),
    ),
    mutation(
        "q_sample_with_float64_buffers_returns_float64",
        FLOAT64_BUFFERS,
        P_SAMPLE_CASTS_BACK,
        **breaks_contract("q_sample"),
    ),
    mutation(
        "q_sample_writes_x_t_into_x_start",
        q_sample_returning(
            "        x_start.mul_(extract(self.sqrt_alphas_bar, t, x_start.shape))\n"
            "        return x_start.add_(extract(self.sqrt_one_minus_alphas_bar, t, x_start.shape) * noise)"),
        **breaks_contract("q_sample"),
    ),
    mutation(
        "q_sample_scales_the_callers_noise_in_place",
        q_sample_returning(
            "        noise *= extract(self.sqrt_one_minus_alphas_bar, t, x_start.shape)\n"
            "        return extract(self.sqrt_alphas_bar, t, x_start.shape) * x_start + noise"),
        **breaks_contract("q_sample"),
    ),
    mutation(
        "p_losses_hands_the_model_float_timesteps",
        (DIFFUSION, "out = self.model(x_t, t, class_labels)", "out = self.model(x_t, t.float(), class_labels)"),
        **breaks_contract("p_losses"),
    ),
    mutation(
        "p_sample_passes_t_as_a_one_element_tensor",
        (DIFFUSION, P_SAMPLE_T, "batched_t = torch.full((1,), t, device=x.device, dtype=torch.long)"),
        **breaks_contract("p_sample"),
    ),
    mutation(
        "p_sample_creates_t_on_the_cpu",
        (DIFFUSION, P_SAMPLE_T, "batched_t = torch.full((x.shape[0],), t, dtype=torch.long)"),
        **breaks_contract("p_sample"),
    ),
    mutation(  # the caller's x is overwritten: the oracle chain's check sees that too
        "p_sample_writes_x_prev_into_x",
        (DIFFUSION, P_SAMPLE_RETURN, "return x.copy_(mean + (0.5 * log_variance).exp() * noise), x_start"),
        loses=("p_sample",),
    ),
    mutation(
        "p_sample_loop_draws_its_start_on_the_cpu",
        (DIFFUSION, P_SAMPLE_LOOP_START, "img = torch.randn(shape)" + LOOP_AFTER_START),
        **breaks_contract("p_sample_loop"),
    ),
]

CONTRACT_KEEPING_VARIANTS = [
    mutation(
        "p_losses_casts_t_to_long_for_the_model",
        (DIFFUSION, "out = self.model(x_t, t, class_labels)", "out = self.model(x_t, t.long(), class_labels)"),
    ),
    mutation(
        "q_sample_computes_in_float64_and_casts_back",
        q_sample_returning(
            "        x_t = (\n"
            "            extract(self.sqrt_alphas_bar.double(), t, x_start.shape) * x_start.double()\n"
            "            + extract(self.sqrt_one_minus_alphas_bar.double(), t, x_start.shape) * noise.double()\n"
            "        )\n"
            "        return x_t.to(x_start.dtype)"),
    ),
    mutation(
        "q_sample_with_gather_and_einsum",
        q_sample_returning(
            "        a = self.sqrt_alphas_bar.gather(0, t).to(x_start.dtype)  # (B,)\n"
            "        s = self.sqrt_one_minus_alphas_bar.gather(0, t).to(x_start.dtype)\n"
            "        return torch.einsum('b,b...->b...', a, x_start) + torch.einsum('b,b...->b...', s, noise)"),
    ),
    mutation(
        "q_sample_with_an_explicit_loop_and_in_place_writes_to_its_own_tensor",
        q_sample_returning(
            "        x_t = torch.empty_like(x_start)\n"
            "        for i in range(x_start.shape[0]):\n"
            "            x_t[i] = self.sqrt_alphas_bar[t[i]] * x_start[i]\n"
            "            x_t[i] += self.sqrt_one_minus_alphas_bar[t[i]] * noise[i]\n"
            "        return x_t"),
    ),
    mutation(
        "p_sample_t_with_new_full_and_loop_start_moved_to_the_device",
        (DIFFUSION, P_SAMPLE_T, "batched_t = x.new_full((x.shape[0],), t, dtype=torch.long)"),
        (DIFFUSION, P_SAMPLE_LOOP_START, "img = torch.randn(shape).to(self.device)" + LOOP_AFTER_START),
    ),
    mutation(
        "p_sample_t_from_a_list_and_an_out_of_place_update",
        (DIFFUSION, P_SAMPLE_T, "batched_t = torch.tensor([t] * x.shape[0], device=x.device)"),
        (DIFFUSION, P_SAMPLE_RETURN,
         "x_prev = mean.clone()\n        x_prev += (0.5 * log_variance).exp() * noise\n        return x_prev, x_start"),
    ),
]

# ---------------------------------------------------------------------------- correct variants

P_SAMPLE_DIFFUSERS_STYLE = '''        # diffusers' DDPMScheduler.step, from alphas_cumprod only
        alpha_prod_t = self.alphas_bar[t]
        alpha_prod_t_prev = self.alphas_bar[t - 1] if t > 0 else torch.ones_like(alpha_prod_t)
        beta_prod_t, beta_prod_t_prev = 1 - alpha_prod_t, 1 - alpha_prod_t_prev
        current_alpha_t = alpha_prod_t / alpha_prod_t_prev
        current_beta_t = 1 - current_alpha_t
        pred_original_sample_coeff = (alpha_prod_t_prev ** 0.5 * current_beta_t) / beta_prod_t
        current_sample_coeff = current_alpha_t ** 0.5 * beta_prod_t_prev / beta_prod_t
        mean = pred_original_sample_coeff * x_start + current_sample_coeff * x
        if t == 0:
            return mean, x_start
        variance = torch.clamp((1 - alpha_prod_t_prev) / (1 - alpha_prod_t) * current_beta_t, min=1e-20)
        noise = default(noise, lambda: torch.randn_like(x))
        return mean + variance ** 0.5 * noise, x_start'''

DENOISE_DIFFUSERS_STYLE = '''\
        # diffusers' DDIMScheduler.step: alpha_bar_{-1} = 1 ("final_alpha_cumprod"), no branch
        alpha_prod_t = self.alphas_bar[t]
        alpha_prod_t_prev = self.alphas_bar[t_prev] if t_prev >= 0 else torch.tensor(1.0)
        beta_prod_t = 1 - alpha_prod_t
        variance = (1 - alpha_prod_t_prev) / beta_prod_t * (1 - alpha_prod_t / alpha_prod_t_prev)
        std_dev_t = eta * variance ** 0.5
        pred_sample_direction = (1 - alpha_prod_t_prev - std_dev_t**2) ** 0.5 * pred_noise
        return alpha_prod_t_prev ** 0.5 * pred_x_start + pred_sample_direction + std_dev_t * noise'''

CORRECT_VARIANTS = [
    mutation(
        "float64_buffers",
        FLOAT64_BUFFERS,
        P_SAMPLE_CASTS_BACK,
        (DIFFUSION, Q_SAMPLE_SOLUTION,
         Q_SAMPLE_SOLUTION.replace("* noise\n        )", "* noise\n        ).to(x_start.dtype)")),
    ),
    mutation(
        "diffusers_style_formulas",
        (DIFFUSION,
         "        return (\n"
         "            extract(self.sqrt_alphas_bar, t, x_start.shape) * x_start\n"
         "            + extract(self.sqrt_one_minus_alphas_bar, t, x_start.shape) * noise\n"
         "        )",
         "        sqrt_alpha_prod = (self.alphas_bar[t] ** 0.5).flatten()\n"
         "        sqrt_one_minus_alpha_prod = ((1 - self.alphas_bar[t]) ** 0.5).flatten()\n"
         "        while len(sqrt_alpha_prod.shape) < len(x_start.shape):\n"
         "            sqrt_alpha_prod = sqrt_alpha_prod.unsqueeze(-1)\n"
         "            sqrt_one_minus_alpha_prod = sqrt_one_minus_alpha_prod.unsqueeze(-1)\n"
         "        return sqrt_alpha_prod * x_start + sqrt_one_minus_alpha_prod * noise"),
        (DIFFUSION,
         "        mean, _, log_variance = self.q_posterior(x_start, x, batched_t)\n"
         "        if t == 0:\n            return mean, x_start\n"
         "        noise = default(noise, lambda: torch.randn_like(x))\n"
         "        return mean + (0.5 * log_variance).exp() * noise, x_start",
         P_SAMPLE_DIFFUSERS_STYLE),
        (DIFFUSION,
         "        if t_prev < 0:\n            return pred_x_start\n"
         "        alpha_bar = self.alphas_bar[t]\n        alpha_bar_prev = self.alphas_bar[t_prev]\n"
         "        sigma = eta * ((1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev)).sqrt()\n"
         "        direction = (1 - alpha_bar_prev - sigma**2).sqrt()\n"
         "        return alpha_bar_prev.sqrt() * pred_x_start + direction * pred_noise + sigma * noise",
         DENOISE_DIFFUSERS_STYLE),
    ),
    mutation(
        "other_spellings_of_the_same_maths",
        (SCHEDULES, "alphas_bar_prev = F.pad(alphas_bar[:-1], (1, 0), value=1.0)",
         "alphas_bar_prev = torch.cat([torch.ones(1, dtype=alphas_bar.dtype), alphas_bar[:-1]])"),
        (SCHEDULES,
         "betas = 1 - (alphas_bar[1:] / alphas_bar[:-1])\n    return torch.clip(betas, 0, 0.999)\n"
         "    # END SOLUTION\n\n\ndef sigmoid",
         "betas = 1 - (alphas_bar[1:] / alphas_bar[:-1])\n    return betas.clamp(max=0.999)\n"
         "    # END SOLUTION\n\n\ndef sigmoid"),
        (DIFFUSION, "return F.smooth_l1_loss(out, target)", "return F.huber_loss(out, target, delta=1.0)"),
        (DIFFUSION, "return F.l1_loss(out, target)", "return (out - target).abs().mean()"),
        (DIFFUSION, "return mean + (0.5 * log_variance).exp() * noise, x_start",
         "return mean + extract(self.posterior_variance, batched_t, x.shape).sqrt() * noise, x_start"),
        (DIFFUSION,
         "        img = torch.randn(shape, device=self.device)\n        imgs = [img]\n"
         "        for t in reversed(range(self.num_timesteps)):",
         "        img = torch.randn(*shape, device=self.device)\n        imgs = [img]\n"
         "        for t in range(self.num_timesteps - 1, -1, -1):"),
        (DIFFUSION, "img, _ = self.p_sample(img, t, class_labels, guidance_scale)",
         "img = self.p_sample(img, t, class_labels=class_labels, guidance_scale=guidance_scale)[0]"),
    ),
    mutation(  # 3.3 graded with the true CFG as its stand-in: guidance written inline is not a mistake
        "fused_estimate_writes_guidance_inline",
        (ILLUSIONS,
         "        eps_view = classifier_free_guidance(eps_uncond, eps_cond, guidance_scale, image_channels)\n",
         "        c = image_channels\n"
         "        guided = eps_uncond[:, :c] + guidance_scale * (eps_cond[:, :c] - eps_uncond[:, :c])\n"
         "        eps_view = torch.cat([guided, eps_cond[:, c:]], dim=1)\n"),
    ),
]

# ---------------------------------------------------------------------------- Part 2 (TODO 3.x): views and illusions

FUSED_SOLUTION = (
    "        eps_view = classifier_free_guidance(eps_uncond, eps_cond, guidance_scale, image_channels)\n"
    "        estimates.append(view.inverse_view(eps_view))  # back in the frame of x_t\n"
    "    return reduce(estimates, image_channels)\n"
)
FUSED_LOOP = (
    "    estimates = []\n    for view, prompt in zip(views, prompts):\n"
    "        x_view = view.view(x_t)  # (B, C, H, W)\n"
    "        eps_cond = estimator(x_view, t, prompt)  # (B, C', H, W)\n"
    "        eps_uncond = eps_cond if guidance_scale == 1.0 else estimator(x_view, t, None)\n" + FUSED_SOLUTION
)


def guidance_after_averaging(first: str, second: str) -> str:
    """fused_noise_estimate that reduces the conditional and unconditional estimates first, then guides."""
    return (
        "    conds, unconds = [], []\n    for view, prompt in zip(views, prompts):\n        x_view = view.view(x_t)\n"
        "        conds.append(view.inverse_view(estimator(x_view, t, prompt)))\n"
        "        unconds.append(view.inverse_view(estimator(x_view, t, None)))\n"
        "    eps_cond, eps_uncond = reduce(conds, image_channels), reduce(unconds, image_channels)\n"
        f"    return classifier_free_guidance({first}, {second}, guidance_scale, image_channels)\n"
    )


GUIDED_NOISE = "noise = eps_uncond[:, :c] + guidance_scale * (eps_cond[:, :c] - eps_uncond[:, :c])"
GUIDED_RESULT = "return torch.cat([noise, eps_cond[:, c:]], dim=1)"

MISTAKES += [
    mutation(
        "identity_inverse_view_drops_variance_channels",
        (VIEWS, "# BEGIN SOLUTION (TODO 3.1.2 IdentityView.inverse_view)\n        return noise\n",
         "# BEGIN SOLUTION (TODO 3.1.2 IdentityView.inverse_view)\n        return noise[:, :3]\n"),
        loses=("IdentityView",),
    ),
    mutation(
        "rotate180_is_a_horizontal_flip",
        (VIEWS, "        return x.flip(-2, -1)\n", "        return x.flip(-1)\n"),
        (VIEWS, "        return noise.flip(-2, -1)\n", "        return noise.flip(-1)\n"),
        loses=("Rotate180View",),
    ),
    mutation(
        "rotate180_inverse_view_is_not_its_inverse",
        (VIEWS, "        return noise.flip(-2, -1)\n", "        return noise.flip(-2)\n"),
        loses=("Rotate180View",),
    ),
    mutation(
        "rotate180_inverse_view_negates_variance_channels",
        (VIEWS, "        return noise.flip(-2, -1)\n",
         "        return torch.cat([noise[:, :3], -noise[:, 3:]], dim=1).flip(-2, -1)\n"),
        loses=("Rotate180View",),
    ),
    mutation(
        "fused_estimate_not_mapped_back_with_inverse_view",
        (ILLUSIONS, "        estimates.append(view.inverse_view(eps_view))  # back in the frame of x_t\n",
         "        estimates.append(eps_view)\n"),
        loses=("fused_noise_estimate",),
    ),
    mutation(
        "fused_swaps_conditional_and_unconditional",
        (ILLUSIONS, "eps_view = classifier_free_guidance(eps_uncond, eps_cond, guidance_scale, image_channels)",
         "eps_view = classifier_free_guidance(eps_cond, eps_uncond, guidance_scale, image_channels)"),
        loses=("fused_noise_estimate",),
    ),
    mutation(
        "fused_guidance_after_averaging_with_the_wrong_sign",
        (ILLUSIONS, FUSED_LOOP, guidance_after_averaging("eps_cond", "eps_uncond")),
        loses=("fused_noise_estimate",),
    ),
    mutation(
        "fused_drops_variance_channels",
        (ILLUSIONS, "    return reduce(estimates, image_channels)\n    # END SOLUTION",
         "    return reduce(estimates, image_channels)[:, :image_channels]\n    # END SOLUTION"),
        loses=("fused_noise_estimate",),
    ),
    mutation(
        "guidance_with_the_wrong_sign",
        (ILLUSIONS, GUIDED_NOISE, "noise = eps_cond[:, :c] + guidance_scale * (eps_uncond[:, :c] - eps_cond[:, :c])"),
        loses=("classifier_free_guidance",),
    ),
    mutation(
        "guidance_negates_variance_channels",
        (ILLUSIONS, GUIDED_RESULT, "return torch.cat([noise, -eps_cond[:, c:]], dim=1)"),
        loses=("classifier_free_guidance",),
    ),
    mutation(
        "guidance_drops_variance_channels",
        (ILLUSIONS, GUIDED_RESULT, "return noise"),
        loses=("classifier_free_guidance",),
    ),
]

CORRECT_VARIANTS += [
    mutation(
        "views_and_guidance_other_spellings",
        (VIEWS, "# BEGIN SOLUTION (TODO 3.1.1 IdentityView.view)\n        return x\n",
         "# BEGIN SOLUTION (TODO 3.1.1 IdentityView.view)\n        return x.clone()\n"),
        (VIEWS, "        return x.flip(-2, -1)\n", "        return torch.rot90(x, 2, dims=(-2, -1))\n"),
        (VIEWS, "        return noise.flip(-2, -1)\n", "        return torch.rot90(noise, -2, dims=(-2, -1))\n"),
        (ILLUSIONS, "eps_uncond = eps_cond if guidance_scale == 1.0 else estimator(x_view, t, None)",
         "eps_uncond = estimator(x_view, t, None)"),
        (ILLUSIONS, GUIDED_NOISE + "\n    " + GUIDED_RESULT,
         "guided = (1 - guidance_scale) * eps_uncond + guidance_scale * eps_cond\n"
         "    return torch.cat([guided[:, :c], eps_cond[:, c:]], dim=1)"),
    ),
    mutation(
        "fused_guidance_after_averaging",
        (ILLUSIONS, FUSED_LOOP, guidance_after_averaging("eps_uncond", "eps_cond")),
    ),
]

# ---------------------------------------------------------------------------- the contracts, continued
# bfloat16, DDIM, views and guidance. Each mistake computes the right values and breaks one promise of
# its docstring (a dtype, an input left as it is, a device), so it loses its item's
# keeps_the_docstring_contract point and nothing else; each variant keeps every promise in another
# spelling and earns full marks.

DENOISE_SOLUTION = (
    "        if t_prev < 0:\n            return pred_x_start\n        alpha_bar = self.alphas_bar[t]\n"
    "        alpha_bar_prev = self.alphas_bar[t_prev]\n"
    "        sigma = eta * ((1 - alpha_bar_prev) / (1 - alpha_bar) * (1 - alpha_bar / alpha_bar_prev)).sqrt()\n"
    "        direction = (1 - alpha_bar_prev - sigma**2).sqrt()\n"
    "        return alpha_bar_prev.sqrt() * pred_x_start + direction * pred_noise + sigma * noise\n"
)
DENOISE_RETURN = "return alpha_bar_prev.sqrt() * pred_x_start + direction * pred_noise + sigma * noise"
DENOISE_ALPHAS = "alpha_bar = self.alphas_bar[t]\n        alpha_bar_prev = self.alphas_bar[t_prev]\n"
IDENTITY_VIEW = "# BEGIN SOLUTION (TODO 3.1.1 IdentityView.view)\n        return x\n"
ROTATE_VIEW = "        return x.flip(-2, -1)\n"
ROTATE_INVERSE = "        return noise.flip(-2, -1)\n"
FUSED_APPEND = "        estimates.append(view.inverse_view(eps_view))  # back in the frame of x_t\n"

MISTAKES += [
    mutation(  # float32 buffers meet bfloat16 x_start: the promotion makes x_t float32
        "q_sample_casts_the_buffers_to_float32",
        q_sample_returning(Q_SAMPLE_SOLUTION.replace("self.sqrt_alphas_bar,", "self.sqrt_alphas_bar.float(),")
                           .replace("self.sqrt_one_minus_alphas_bar,", "self.sqrt_one_minus_alphas_bar.float(),")),
        **breaks_contract("q_sample"),
    ),
    mutation(
        "p_losses_hands_the_model_a_float32_x_t",
        (DIFFUSION, "out = self.model(x_t, t, class_labels)", "out = self.model(x_t.float(), t, class_labels)"),
        **breaks_contract("p_losses"),
    ),
    mutation(
        "p_sample_computes_the_noise_term_in_float64",
        (DIFFUSION, P_SAMPLE_RETURN, "return mean + (0.5 * log_variance.double()).exp() * noise, x_start"),
        **breaks_contract("p_sample"),
    ),
    mutation(
        "ddim_computes_in_float64_and_returns_float64",
        (DIFFUSION, DENOISE_RETURN,
         "return alpha_bar_prev.double().sqrt() * pred_x_start.double() + direction * pred_noise + sigma * noise"),
        **breaks_contract("denoise_backward"),
    ),
    mutation(  # torch.ones(1) lives on the CPU: torch.cat with the buffers fails on a GPU
        "ddim_pads_alphas_bar_with_a_cpu_one",
        (DIFFUSION, DENOISE_ALPHAS,
         "alphas = torch.cat([self.alphas_bar, torch.ones(1)])  # alphas[-1] = alpha_bar_{-1} = 1\n"
         "        alpha_bar = alphas[t]\n        alpha_bar_prev = alphas[t_prev]\n"),
        **breaks_contract("denoise_backward"),
    ),
    mutation(
        "ddim_writes_x_prev_into_pred_x_start",
        (DIFFUSION, DENOISE_RETURN,
         "return pred_x_start.mul_(alpha_bar_prev.sqrt()).add_(direction * pred_noise + sigma * noise)"),
        **breaks_contract("denoise_backward"),
    ),
    mutation(
        "identity_view_returns_float32",
        (VIEWS, IDENTITY_VIEW, "# BEGIN SOLUTION (TODO 3.1.1 IdentityView.view)\n        return x.float()\n"),
        **breaks_contract("IdentityView"),
    ),
    mutation(
        "rotate180_view_rotates_x_in_place",
        (VIEWS, ROTATE_VIEW, "        return x.copy_(x.flip(-2, -1))\n"),
        **breaks_contract("Rotate180View"),
    ),
    mutation(  # torch.empty without device=: on a GPU the rows are copied to the CPU and come back there
        "rotate180_view_fills_a_cpu_tensor_row_by_row",
        (VIEWS, ROTATE_VIEW,
         "        out = torch.empty(x.shape, dtype=x.dtype)\n"
         "        for i in range(x.shape[-2]):\n"
         "            out[..., i, :] = x[..., x.shape[-2] - 1 - i, :].flip(-1)\n"
         "        return out\n"),
        **breaks_contract("Rotate180View"),
    ),
    mutation(
        "guidance_writes_into_eps_uncond",
        (ILLUSIONS, GUIDED_NOISE + "\n    " + GUIDED_RESULT,
         "eps_uncond[:, :c] += guidance_scale * (eps_cond[:, :c] - eps_uncond[:, :c])\n"
         "    return torch.cat([eps_uncond[:, :c], eps_cond[:, c:]], dim=1)"),
        **breaks_contract("classifier_free_guidance"),
    ),
    mutation(  # a (1,) tensor made on the CPU: a float32 one too, so bfloat16 estimates come back float32
        "guidance_scale_as_a_cpu_tensor",
        (ILLUSIONS, GUIDED_NOISE,
         "noise = eps_uncond[:, :c] + torch.tensor([guidance_scale]) * (eps_cond[:, :c] - eps_uncond[:, :c])"),
        **breaks_contract("classifier_free_guidance"),
    ),
    mutation(
        "fused_estimate_casts_each_estimate_to_float32",
        (ILLUSIONS, FUSED_APPEND, "        estimates.append(view.inverse_view(eps_view).float())\n"),
        **breaks_contract("fused_noise_estimate"),
    ),
]

CONTRACT_KEEPING_VARIANTS += [
    mutation(
        "p_losses_in_float64_cast_back",
        (DIFFUSION, "return F.mse_loss(out, target)",
         "return ((out.double() - target.double()) ** 2).mean().to(out.dtype)"),
    ),
    mutation(
        "p_sample_with_gather_in_float64_cast_back",
        (DIFFUSION,
         "        mean, _, log_variance = self.q_posterior(x_start, x, batched_t)\n"
         "        if t == 0:\n            return mean, x_start\n"
         "        noise = default(noise, lambda: torch.randn_like(x))\n"
         "        return mean + (0.5 * log_variance).exp() * noise, x_start",
         "        def coef(buffer):  # (B, 1, 1, 1) float64\n"
         "            return buffer.double().gather(0, batched_t).reshape(-1, 1, 1, 1)\n"
         "        mean = coef(self.posterior_mean_coef1) * x_start.double()"
         " + coef(self.posterior_mean_coef2) * x.double()\n"
         "        if t == 0:\n            return mean.to(x.dtype), x_start\n"
         "        noise = default(noise, lambda: torch.randn_like(x))\n"
         "        std = (0.5 * coef(self.posterior_log_variance_clipped)).exp()\n"
         "        return (mean + std * noise.double()).to(x.dtype), x_start"),
    ),
    mutation(
        "ddim_with_python_floats_and_a_padded_alphas_bar",
        (DIFFUSION, DENOISE_SOLUTION,
         "        if t_prev < 0:\n            return pred_x_start.clone()\n"
         "        alphas = torch.cat([self.alphas_bar, self.alphas_bar.new_ones(1)])  # alphas[-1] = 1\n"
         "        a, a_prev = float(alphas[t]), float(alphas[t_prev])\n"
         "        sigma = eta * ((1 - a_prev) / (1 - a) * (1 - a / a_prev)) ** 0.5\n"
         "        return a_prev ** 0.5 * pred_x_start + (1 - a_prev - sigma**2) ** 0.5 * pred_noise + sigma * noise\n"),
    ),
    mutation(
        "ddim_computes_in_float64_and_casts_back",
        (DIFFUSION, DENOISE_RETURN,
         "x_prev = alpha_bar_prev.double().sqrt() * pred_x_start.double() + direction * pred_noise + sigma * noise\n"
         "        return x_prev.to(pred_x_start.dtype)"),
    ),
    mutation(  # index tensors may stay on the CPU: indexing a GPU tensor with them works
        "rotate180_with_reversed_index_tensors_and_a_loop",
        (VIEWS, ROTATE_VIEW,
         "        rows, cols = torch.arange(x.shape[-2] - 1, -1, -1), torch.arange(x.shape[-1] - 1, -1, -1)\n"
         "        return x[..., rows, :][..., cols]\n"),
        (VIEWS, ROTATE_INVERSE,
         "        out = torch.empty_like(noise)\n"
         "        for i in range(noise.shape[-2]):\n"
         "            out[..., i, :] = noise[..., noise.shape[-2] - 1 - i, :].flip(-1)\n"
         "        return out\n"),
    ),
    mutation(
        "guidance_in_float64_into_a_copy",
        (ILLUSIONS, GUIDED_NOISE + "\n    " + GUIDED_RESULT,
         "out = eps_cond.clone()\n"
         "    out[:, :c] = torch.lerp(eps_uncond[:, :c].double(), eps_cond[:, :c].double(), guidance_scale)"
         ".to(out.dtype)\n"
         "    return out"),
    ),
    mutation(
        "fused_estimate_with_a_helper_and_a_comprehension",
        (ILLUSIONS, FUSED_LOOP,
         "    def estimate(view, prompt):\n"
         "        x_view = view.view(x_t)\n"
         "        eps_cond, eps_uncond = estimator(x_view, t, prompt), estimator(x_view, t, None)\n"
         "        return view.inverse_view("
         "classifier_free_guidance(eps_uncond, eps_cond, guidance_scale, image_channels))\n"
         "\n"
         "    return reduce([estimate(view, prompt) for view, prompt in zip(views, prompts)], image_channels)\n"),
    ),
]

CORRECT_VARIANTS += CONTRACT_KEEPING_VARIANTS

CORPUS = MISTAKES + CORRECT_VARIANTS

# ---------------------------------------------------------------------------- items of the assignment profiles
# TODO items that the default homework ships as given code and other profiles ask for: model_predictions and
# interpolate (image-fusion), slerp and drop_class_labels (conditional-digits), inpaint, sdedit, make_hybrid, and the
# U-Net's SinusoidalPosEmb and ResnetBlock (image-editing).
# Not in CORPUS: each is graded with the profile that lists its item (PROFILE_OF_ITEM, PROFILE_CORPUS), where
# a mistake must cost its own item's points only and a variant must earn full marks
# (tests/checks/test_profile_items_corpus.py).

HELPERS = "helpers.py"
PROFILE_OF_ITEM = {"model_predictions": "image-fusion", "interpolate": "image-fusion", "slerp": "conditional-digits",
                   "drop_class_labels": "conditional-digits", "inpaint": "image-editing", "sdedit": "image-editing",
                   "make_hybrid": "image-editing", "SinusoidalPosEmb": "image-editing", "ResnetBlock": "image-editing"}

MP_X0_FROM_V = "x_start = maybe_clip(self.predict_start_from_v(x, t, out))"
MP_CLIP = "maybe_clip = (lambda z: z.clamp(-1.0, 1.0)) if clip_x_start else identity"
MP_REDERIVE = ("            if clip_x_start and rederive_pred_noise:\n"
               "                pred_noise = self.predict_noise_from_start(x, t, x_start)\n")
MP_X0_BRANCH = ("            x_start = maybe_clip(out)\n"
                "            pred_noise = self.predict_noise_from_start(x, t, x_start)\n")
MP_RETURN = "        return ModelPrediction(pred_noise, x_start)\n        # END SOLUTION"
INTERP_NOISE = "noise = default(noise, lambda: torch.randn_like(x1))\n"
INTERP_Q = ("        xt1 = self.q_sample(self.normalize(x1), batched_t, noise)\n"
            "        xt2 = self.q_sample(self.normalize(x2), batched_t, noise)\n")
INTERP_MIX = "img = (1 - lam) * xt1 + lam * xt2"
INTERP_LOOP = "        for i in reversed(range(t + 1)):\n            img, _ = self.p_sample(img, i)\n"
INTERP_STEP = "            img, _ = self.p_sample(img, i)\n"
INTERP_RETURN = INTERP_STEP + "        return self.unnormalize(img)\n        # END SOLUTION"
SLERP_WEIGHTS = ("    w1 = torch.where(parallel, 1.0 - cos_theta.new_tensor(alpha), "
                 "torch.sin((1 - alpha) * theta) / safe_sin)\n"
                 "    w2 = torch.where(parallel, cos_theta.new_tensor(alpha), torch.sin(alpha * theta) / safe_sin)\n")
SLERP_BODY = (
    "    flat1, flat2 = z1.flatten().double(), z2.flatten().double()\n"
    "    cos_theta = (flat1 @ flat2 / (flat1.norm() * flat2.norm())).clamp(-1.0, 1.0)\n"
    "    theta = torch.arccos(cos_theta)\n"
    "    sin_theta = torch.sin(theta)\n"
    "    parallel = sin_theta.abs() < 1e-7\n"
    "    safe_sin = torch.where(parallel, torch.ones_like(sin_theta), sin_theta)\n" + SLERP_WEIGHTS
    + "    return (w1 * z1.double() + w2 * z2.double()).to(z1.dtype)\n"
)
INPAINT_KNOWN = "known = image if t_prev < 0 else sampler.add_noise(image, _randn_like(image, generator), t_prev)"
INPAINT_BLEND = "x = mask * x + (1 - mask) * known"
INPAINT_START = ("    # BEGIN SOLUTION (TODO 3.5 inpaint)\n"
                 "    x = default(noise, lambda: _randn_like(image, generator))\n")
SDEDIT_T = "    # BEGIN SOLUTION (TODO 3.6 sdedit)\n    t = pairs[i_start][0]\n"
SDEDIT_ADD = "x_t = sampler.add_noise(image, noise, t)"
SDEDIT_PAIRS = "guidance_scale=guidance_scale, time_pairs=pairs[i_start:]"
HYBRID_NOISE = ("            low_pass(far[:, :c], self.kernel_size, self.sigma)\n"
                "            + high_pass(near[:, :c], self.kernel_size, self.sigma)\n")
HYBRID_VARIANCE = "return torch.cat([noise, (far[:, c:] + near[:, c:]) / 2], dim=1)"

PROFILE_MISTAKES = [
    mutation(
        "model_predictions_pred_v_read_as_noise",
        (DIFFUSION, MP_X0_FROM_V, "x_start = maybe_clip(self.predict_start_from_noise(x, t, out))"),
        loses=("model_predictions",),
    ),
    mutation(
        "model_predictions_never_clips",
        (DIFFUSION, MP_CLIP, "maybe_clip = identity"),
        loses=("model_predictions",),
    ),
    mutation(
        "model_predictions_never_rederives_the_noise",
        (DIFFUSION, MP_REDERIVE, ""),
        loses=("model_predictions",),
    ),
    mutation(
        "model_predictions_derives_the_noise_before_the_clamp",
        (DIFFUSION, MP_X0_BRANCH,
         "            pred_noise = self.predict_noise_from_start(x, t, out)\n            x_start = maybe_clip(out)\n"),
        loses=("model_predictions",),
    ),
    mutation(
        "model_predictions_drops_the_guidance_scale",
        (DIFFUSION, "        out = self.model_output(x, t, class_labels, guidance_scale)\n        # BEGIN SOLUTION",
         "        out = self.model_output(x, t, class_labels)\n        # BEGIN SOLUTION"),
        loses=("model_predictions",),
    ),
    mutation(
        "model_predictions_returns_float64",
        (DIFFUSION, MP_RETURN,
         "        return ModelPrediction(pred_noise.double(), x_start.double())\n        # END SOLUTION"),
        **breaks_contract("model_predictions"),
    ),
    mutation(
        "interpolate_noises_each_image_with_its_own_noise",
        (DIFFUSION, INTERP_Q,
         "        xt1 = self.q_sample(self.normalize(x1), batched_t, noise)\n"
         "        xt2 = self.q_sample(self.normalize(x2), batched_t)\n"),
        loses=("interpolate",),
    ),
    mutation(
        "interpolate_swaps_the_weights",
        (DIFFUSION, INTERP_MIX, "img = lam * xt1 + (1 - lam) * xt2"),
        loses=("interpolate",),
    ),
    mutation(
        "interpolate_forgets_to_normalize",
        (DIFFUSION, INTERP_Q,
         "        xt1 = self.q_sample(x1, batched_t, noise)\n        xt2 = self.q_sample(x2, batched_t, noise)\n"),
        loses=("interpolate",),
    ),
    mutation(
        "interpolate_starts_one_step_too_low",
        (DIFFUSION, INTERP_LOOP, "        for i in reversed(range(t)):\n            img, _ = self.p_sample(img, i)\n"),
        loses=("interpolate",),
    ),
    mutation(
        "interpolate_returns_model_space",
        (DIFFUSION, INTERP_RETURN, INTERP_STEP + "        return img\n        # END SOLUTION"),
        loses=("interpolate",),
    ),
    mutation(
        "interpolate_makes_t_on_the_cpu",
        (DIFFUSION, "batched_t = torch.full((x1.shape[0],), t, device=x1.device, dtype=torch.long)",
         "batched_t = torch.full((x1.shape[0],), t, dtype=torch.long)"),
        **breaks_contract("interpolate"),
    ),
    mutation(
        "slerp_is_the_straight_line",
        (HELPERS, SLERP_BODY, "    return (1 - alpha) * z1 + alpha * z2\n"),
        loses=("slerp",),
    ),
    mutation(
        "slerp_swaps_the_weights",
        (HELPERS, SLERP_WEIGHTS,
         "    w2 = torch.where(parallel, 1.0 - cos_theta.new_tensor(alpha), "
         "torch.sin((1 - alpha) * theta) / safe_sin)\n"
         "    w1 = torch.where(parallel, cos_theta.new_tensor(alpha), torch.sin(alpha * theta) / safe_sin)\n"),
        loses=("slerp",),
    ),
    mutation(  # sin(theta) = 0 for parallel noises: 0 / 0
        "slerp_without_the_parallel_fallback",
        (HELPERS, SLERP_WEIGHTS,
         "    w1 = torch.sin((1 - alpha) * theta) / sin_theta\n    w2 = torch.sin(alpha * theta) / sin_theta\n"),
        loses=("slerp",),
    ),
    mutation(
        "slerp_angle_per_element",
        (HELPERS, "cos_theta = (flat1 @ flat2 / (flat1.norm() * flat2.norm())).clamp(-1.0, 1.0)",
         "cos_theta = (flat1 * flat2 / (flat1.abs() * flat2.abs())).clamp(-1.0, 1.0)"),
        loses=("slerp",),
    ),
    mutation(
        "slerp_returns_float64",
        (HELPERS, "    return (w1 * z1.double() + w2 * z2.double()).to(z1.dtype)\n",
         "    return w1 * z1.double() + w2 * z2.double()\n"),
        **breaks_contract("slerp"),
    ),
    mutation(
        "inpaint_mask_the_other_way_round",
        (ILLUSIONS, INPAINT_BLEND, "x = (1 - mask) * x + mask * known"),
        loses=("inpaint",),
    ),
    mutation(
        "inpaint_noises_the_image_to_t_not_t_prev",
        (ILLUSIONS, INPAINT_KNOWN,
         "known = image if t_prev < 0 else sampler.add_noise(image, _randn_like(image, generator), t)"),
        loses=("inpaint",),
    ),
    mutation(
        "inpaint_pastes_the_clean_image_at_every_step",
        (ILLUSIONS, INPAINT_KNOWN, "known = image"),
        loses=("inpaint",),
    ),
    mutation(
        "inpaint_draws_with_the_global_rng",
        (ILLUSIONS, "sampler.add_noise(image, _randn_like(image, generator), t_prev)",
         "sampler.add_noise(image, torch.randn_like(image), t_prev)"),
        loses=("inpaint",),
    ),
    mutation(
        "inpaint_blends_into_the_callers_noise",
        (ILLUSIONS, INPAINT_START, INPAINT_START + "    start = x\n"),
        (ILLUSIONS, "        x = mask * x + (1 - mask) * known\n    return x\n",
         "        x = mask * x + (1 - mask) * known\n    return start.copy_(x)\n"),
        **breaks_contract("inpaint"),
    ),
    mutation(
        "sdedit_treats_i_start_as_a_timestep",
        (ILLUSIONS, SDEDIT_T, "    # BEGIN SOLUTION (TODO 3.6 sdedit)\n    t = i_start\n"),
        loses=("sdedit",),
    ),
    mutation(
        "sdedit_noises_to_t_prev",
        (ILLUSIONS, SDEDIT_T, "    # BEGIN SOLUTION (TODO 3.6 sdedit)\n    t = pairs[i_start][1]\n"),
        loses=("sdedit",),
    ),
    mutation(
        "sdedit_runs_every_pair",
        (ILLUSIONS, SDEDIT_PAIRS, "guidance_scale=guidance_scale, time_pairs=pairs"),
        loses=("sdedit",),
    ),
    mutation(
        "sdedit_starts_from_the_clean_image",
        (ILLUSIONS, SDEDIT_ADD, "x_t = image"),
        loses=("sdedit",),
    ),
    mutation(
        "sdedit_draws_its_noise_on_the_cpu",
        (ILLUSIONS, "    t = pairs[i_start][0]\n    noise = default(noise, lambda: _randn_like(image, generator))\n",
         "    t = pairs[i_start][0]\n"
         "    noise = default(noise, lambda: torch.randn(image.shape, generator=generator))\n"),
        **breaks_contract("sdedit"),
    ),
    mutation(
        "hybrid_swaps_far_and_near",
        (ILLUSIONS, HYBRID_NOISE,
         "            low_pass(near[:, :c], self.kernel_size, self.sigma)\n"
         "            + high_pass(far[:, :c], self.kernel_size, self.sigma)\n"),
        loses=("make_hybrid",),
    ),
    mutation(
        "hybrid_ignores_its_kernel",
        (ILLUSIONS, HYBRID_NOISE, "            low_pass(far[:, :c]) + high_pass(near[:, :c])\n"),
        loses=("make_hybrid",),
    ),
    mutation(
        "hybrid_filters_the_variance_channels",
        (ILLUSIONS, HYBRID_VARIANCE,
         "return torch.cat([noise, low_pass(far[:, c:], self.kernel_size, self.sigma) "
         "+ high_pass(near[:, c:], self.kernel_size, self.sigma)], dim=1)"),
        loses=("make_hybrid",),
    ),
    mutation(
        "hybrid_keeps_the_far_variance",
        (ILLUSIONS, HYBRID_VARIANCE, "return torch.cat([noise, far[:, c:]], dim=1)"),
        loses=("make_hybrid",),
    ),
    mutation(
        "hybrid_returns_float32",
        (ILLUSIONS, HYBRID_VARIANCE, "return torch.cat([noise, (far[:, c:] + near[:, c:]) / 2], dim=1).float()"),
        **breaks_contract("make_hybrid"),
    ),
]

PROFILE_VARIANTS = [
    mutation(  # the formulas written out instead of the given conversions, in float64, cast back
        "model_predictions_inline_in_float64",
        (DIFFUSION,
         "        maybe_clip = (lambda z: z.clamp(-1.0, 1.0)) if clip_x_start else identity\n"
         "        if self.objective == \"pred_noise\":\n",
         "        ab = extract(self.alphas_bar.double(), t, x.shape)\n"
         "        xd, od = x.double(), out.double()\n"
         "        if self.objective == \"pred_noise\":\n"
         "            x0 = (xd - (1 - ab).sqrt() * od) / ab.sqrt()\n"
         "        elif self.objective == \"pred_x0\":\n"
         "            x0 = od\n"
         "        else:\n"
         "            x0 = ab.sqrt() * xd - (1 - ab).sqrt() * od\n"
         "        if clip_x_start:\n"
         "            x0 = torch.clip(x0, min=-1, max=1)\n"
         "        eps = od if self.objective == \"pred_noise\" and not (clip_x_start and rederive_pred_noise) else "
         "(xd - ab.sqrt() * x0) / (1 - ab).sqrt()\n"
         "        return ModelPrediction(eps.to(x.dtype), x0.to(x.dtype))\n"
         "        maybe_clip = (lambda z: z.clamp(-1.0, 1.0)) if clip_x_start else identity\n"
         "        if self.objective == \"pred_noise\":\n"),
    ),
    mutation(
        "interpolate_mixes_first_then_noises_once",
        (DIFFUSION, INTERP_Q + "        " + INTERP_MIX + "\n",
         "        mixed = torch.lerp(self.normalize(x1), self.normalize(x2), lam)\n"
         "        img = self.q_sample(mixed, batched_t, noise)\n"),
    ),
    mutation(
        "interpolate_with_a_while_loop",
        (DIFFUSION, INTERP_LOOP,
         "        step = t\n        while step >= 0:\n"
         "            img = self.p_sample(img, step)[0]\n            step -= 1\n"),
    ),
    mutation(  # the usual DDIM-codebase slerp: the straight line for nearly parallel noises
        "slerp_with_a_dot_threshold",
        (HELPERS, SLERP_BODY,
         "    v0, v1 = z1.double(), z2.double()\n"
         "    dot = (v0 * v1).sum() / (v0.norm() * v1.norm())\n"
         "    if abs(float(dot)) > 0.9995:\n"
         "        return ((1 - alpha) * v0 + alpha * v1).to(z1.dtype)\n"
         "    theta = torch.acos(dot)\n"
         "    mixed = torch.sin((1 - alpha) * theta) * v0 + torch.sin(alpha * theta) * v1\n"
         "    return (mixed / torch.sin(theta)).to(z1.dtype)\n"),
    ),
    mutation(
        "inpaint_with_torch_where",
        (ILLUSIONS, INPAINT_BLEND, "x = torch.where(mask.bool(), x, known)"),
    ),
    mutation(
        "sdedit_with_its_own_loop",
        (ILLUSIONS,
         "    return fused_denoise_loop(\n"
         "        estimator, sampler, [IdentityView()], [prompt], x_t, guidance_scale=guidance_scale, "
         "time_pairs=pairs[i_start:]\n"
         "    )\n",
         "    for t_now, t_prev in pairs[i_start:]:\n"
         "        x_t = fused_denoise_step(estimator, sampler, [IdentityView()], [prompt], x_t, t_now, t_prev, "
         "guidance_scale)\n"
         "    return x_t\n"),
    ),
    mutation(
        "hybrid_written_with_one_blur_each",
        (ILLUSIONS, HYBRID_NOISE,
         "            low_pass(far[:, :c], self.kernel_size, self.sigma) + near[:, :c]\n"
         "            - low_pass(near[:, :c], self.kernel_size, self.sigma)\n"),
        (ILLUSIONS, HYBRID_VARIANCE,
         "return torch.cat([noise, torch.stack([far[:, c:], near[:, c:]]).mean(0)], dim=1)"),
    ),
]

UNET = "unet.py"
EMB_CAT = "return torch.cat((args.sin(), args.cos()), dim=-1)  # (B, dim)"
EMB_SCALE = "scale = math.log(self.theta) / (half - 1)\n        freqs"
EMB_FREQS = "freqs = torch.exp(torch.arange(half, device=t.device, dtype=torch.float32) * -scale)  # (half,)"
BLOCK_FILM = "scale_shift = self.mlp(emb)[:, :, None, None].chunk(2, dim=1)  # 2 x (B, dim_out, 1, 1)"
BLOCK_RESIDUAL = "return h + self.res_conv(x)"
BLOCK_STEPS = "        h = self.block1(x, scale_shift)\n        h = self.block2(h)\n        " + BLOCK_RESIDUAL + "\n"
DROP = "drop = torch.rand(class_labels.shape[0], device=class_labels.device) < self.cond_drop_prob"
DROP_RETURN = "return torch.where(drop, torch.full_like(class_labels, self.num_classes), class_labels)"

PROFILE_MISTAKES += [
    mutation("time_embedding_cosines_first", (UNET, EMB_CAT, "return torch.cat((args.cos(), args.sin()), dim=-1)"),
             loses=("SinusoidalPosEmb",)),
    mutation("time_embedding_divides_by_half",
             (UNET, EMB_SCALE, "scale = math.log(self.theta) / half\n        freqs"), loses=("SinusoidalPosEmb",)),
    mutation("time_embedding_with_growing_frequencies",
             (UNET, EMB_FREQS, EMB_FREQS.replace("* -scale", "* scale")), loses=("SinusoidalPosEmb",)),
    mutation("time_embedding_makes_its_frequencies_on_the_cpu",
             (UNET, EMB_FREQS, EMB_FREQS.replace("device=t.device, ", "")), **breaks_contract("SinusoidalPosEmb")),
    mutation("resnet_block_swaps_scale_and_shift",
             (UNET, BLOCK_FILM, "shift, scale = self.mlp(emb)[:, :, None, None].chunk(2, dim=1)\n"
                                "            scale_shift = (scale, shift)"), loses=("ResnetBlock",)),
    mutation("resnet_block_conditions_block2",
             (UNET, BLOCK_STEPS, "        h = self.block1(x)\n        h = self.block2(h, scale_shift)\n"
                                 "        return h + self.res_conv(x)\n"), loses=("ResnetBlock",)),
    mutation("resnet_block_without_the_residual",
             (UNET, BLOCK_STEPS, BLOCK_STEPS.replace(BLOCK_RESIDUAL, "return h")), loses=("ResnetBlock",)),
    mutation("resnet_block_ignores_the_embedding", (UNET, BLOCK_FILM, "scale_shift = None"), loses=("ResnetBlock",)),
    mutation("resnet_block_returns_float32",
             (UNET, BLOCK_STEPS, BLOCK_STEPS.replace(BLOCK_RESIDUAL, "return (h + self.res_conv(x)).float()")),
             **breaks_contract("ResnetBlock")),
    mutation("label_dropout_keeps_with_probability_p", (DIFFUSION, DROP, DROP.replace("<", ">")),
             loses=("drop_class_labels",)),
    mutation("label_dropout_to_class_0",
             (DIFFUSION, DROP_RETURN, "return torch.where(drop, torch.zeros_like(class_labels), class_labels)"),
             loses=("drop_class_labels",)),
    mutation("label_dropout_drops_the_first_samples",
             (DIFFUSION, DROP, "drop = torch.arange(class_labels.shape[0], device=class_labels.device) "
                               "< int(self.cond_drop_prob * class_labels.shape[0])"),
             loses=("drop_class_labels",)),
    mutation("label_dropout_writes_into_the_callers_labels",
             (DIFFUSION, DROP_RETURN, "class_labels[drop] = self.num_classes\n        return class_labels"),
             **breaks_contract("drop_class_labels")),
    mutation("label_dropout_draws_on_the_cpu",
             (DIFFUSION, DROP, "drop = torch.rand(class_labels.shape[0]) < self.cond_drop_prob"),
             **breaks_contract("drop_class_labels")),
]

PROFILE_VARIANTS += [
    mutation("time_embedding_as_powers_of_theta",
             (UNET, EMB_FREQS, "freqs = self.theta ** (-torch.arange(half, device=t.device) / (half - 1))"),
             (UNET, EMB_CAT, "return torch.cat([torch.sin(args), torch.cos(args)], -1)")),
    mutation("resnet_block_with_unsqueeze_and_split",
             (UNET, BLOCK_FILM, "scale, shift = self.mlp(emb).unsqueeze(-1).unsqueeze(-1).split("
                                "self.block1.proj.out_channels, dim=1)\n            scale_shift = (scale, shift)")),
    mutation("label_dropout_with_bernoulli_and_masked_fill",
             (DIFFUSION, DROP, "p = torch.full(class_labels.shape, self.cond_drop_prob, device=class_labels.device)\n"
                               "        drop = torch.bernoulli(p).bool()"),
             (DIFFUSION, DROP_RETURN, "return class_labels.masked_fill(drop, self.num_classes)")),
]

PROFILE_VARIANT_ITEMS = {  # the item each correct variant rewrites, and so the profile it is graded with
    "model_predictions_inline_in_float64": "model_predictions",
    "interpolate_mixes_first_then_noises_once": "interpolate",
    "interpolate_with_a_while_loop": "interpolate",
    "slerp_with_a_dot_threshold": "slerp",
    "inpaint_with_torch_where": "inpaint",
    "sdedit_with_its_own_loop": "sdedit",
    "hybrid_written_with_one_blur_each": "make_hybrid",
    "time_embedding_as_powers_of_theta": "SinusoidalPosEmb",
    "resnet_block_with_unsqueeze_and_split": "ResnetBlock",
    "label_dropout_with_bernoulli_and_masked_fill": "drop_class_labels",
}

# Mistakes of the default homework's items, graded with a profile that also lists new items: they must cost
# their own item only, never the new items built on them (interpolate on q_sample and p_sample, sdedit and
# inpaint on the fused step and guidance, the sampling items on model_predictions).
DEFAULT_MISTAKES_IN_PROFILES = {
    "image-fusion": ("q_sample_missing_sqrt", "q_sample_ignores_given_noise", "p_sample_off_by_one_t",
                     "p_sample_forgets_to_clip_x0", "p_sample_loop_iterates_t_upward"),
    "image-editing": ("fused_swaps_conditional_and_unconditional", "guidance_with_the_wrong_sign",
                      "rotate180_is_a_horizontal_flip"),
}


def profile_corpus() -> dict[str, list[Mutation]]:
    """profile name -> the submissions graded with it: the new items' mistakes, variants and degenerate stubs
    (PROFILE_DEGENERATE_STUBS, below), and the default homework's mistakes of DEFAULT_MISTAKES_IN_PROFILES."""
    named = {m.name: m for m in MISTAKES}
    corpus: dict[str, list[Mutation]] = {}
    for mutation in PROFILE_MISTAKES + PROFILE_VARIANTS + PROFILE_DEGENERATE_STUBS:
        item = next(iter(mutation.loses)) if mutation.loses else PROFILE_VARIANT_ITEMS[mutation.name]
        corpus.setdefault(PROFILE_OF_ITEM[item], []).append(mutation)
    for profile, names in DEFAULT_MISTAKES_IN_PROFILES.items():
        corpus.setdefault(profile, []).extend(named[name] for name in names)
    return corpus


# One mistake in each new item at once, graded with the default homework, which lists none of them: it must
# keep full marks (p_sample and the loops are graded on the grader's model_predictions, not the submission's).
NEW_ITEMS_BROKEN = mutation(
    "one_mistake_in_every_profile_item",
    *(edit for m in PROFILE_MISTAKES if m.name in (
        "model_predictions_never_clips", "interpolate_swaps_the_weights", "slerp_is_the_straight_line",
        "inpaint_mask_the_other_way_round", "sdedit_runs_every_pair", "hybrid_swaps_far_and_near",
        "time_embedding_cosines_first", "resnet_block_swaps_scale_and_shift", "label_dropout_keeps_with_probability_p")
      for edit in m.edits),
)


# ---------------------------------------------------------------------------- degenerate stubs
# Code that satisfies a property check without implementing its TODO: an identity that is its own
# inverse, a loop that never loops, guidance that knows only g = 0 and g = 1, a loss that is always
# 0, a constant estimate. Each must score 0 on its item (tests/checks/test_degenerate_stubs.py):
# a property earns points only together with a gate that a degenerate function cannot pass.

P_SAMPLE_LOOP_SOLUTION = (
    "        img = torch.randn(shape, device=self.device)\n        imgs = [img]\n"
    "        for t in reversed(range(self.num_timesteps)):\n"
    "            img, _ = self.p_sample(img, t, class_labels, guidance_scale)\n            imgs.append(img)\n"
    "        ret = torch.stack(imgs, dim=1) if return_all_timesteps else img\n        return self.unnormalize(ret)\n"
)
P_LOSSES_SOLUTION_TAIL = (
    "        out = self.model(x_t, t, class_labels)\n        if self.objective == \"pred_noise\":\n"
    "            target = noise\n"
)
GUIDANCE_SOLUTION = GUIDED_NOISE + "\n    " + GUIDED_RESULT

DEGENERATE_STUBS = [
    mutation(
        "rotate180_is_the_identity_its_own_inverse",
        (VIEWS, "        return x.flip(-2, -1)\n", "        return x\n"),
        (VIEWS, "        return noise.flip(-2, -1)\n", "        return noise\n"),
        loses=("Rotate180View",),
    ),
    mutation(
        "p_sample_loop_reads_the_oracles_clean_image",
        (DIFFUSION, P_SAMPLE_LOOP_SOLUTION, "        return self.unnormalize(self.model._clean)\n"),
        loses=("p_sample_loop",),
    ),
    mutation(
        "p_sample_loop_asks_the_model_once",
        (DIFFUSION, P_SAMPLE_LOOP_SOLUTION,
         "        x = torch.randn(shape)\n"
         "        t = torch.zeros(shape[0], dtype=torch.long)\n"
         "        return self.unnormalize(self.model_predictions(x, t, clip_x_start=True).pred_x_start)\n"),
        loses=("p_sample_loop",),
    ),
    mutation(
        "p_losses_calls_the_model_and_returns_0",
        (DIFFUSION, P_LOSSES_SOLUTION_TAIL,
         "        self.model(x_t, t, class_labels)\n        return torch.zeros(())\n"
         "        if self.objective == \"pred_noise\":\n            target = noise\n"),
        loses=("p_losses",),
    ),
    mutation(
        "guidance_knows_only_g_0_and_1",
        (ILLUSIONS, GUIDANCE_SOLUTION,
         "if guidance_scale == 0:\n        return torch.cat([eps_uncond[:, :c], eps_cond[:, c:]], dim=1)\n"
         "    if guidance_scale == 1:\n        return eps_cond.clone()\n"
         "    return torch.zeros_like(eps_cond)"),
        loses=("classifier_free_guidance",),
    ),
    mutation(
        "fused_estimate_knows_only_g_0_and_1",
        (ILLUSIONS, FUSED_LOOP,
         "    c = image_channels\n    estimates = []\n    for view, prompt in zip(views, prompts):\n"
         "        x_view = view.view(x_t)\n        eps_cond = estimator(x_view, t, prompt)\n"
         "        if guidance_scale == 1.0:\n            eps_view = eps_cond\n"
         "        elif guidance_scale == 0.0:\n"
         "            eps_view = torch.cat([estimator(x_view, t, None)[:, :c], eps_cond[:, c:]], dim=1)\n"
         "        else:\n            eps_view = torch.zeros_like(eps_cond)\n"
         "        estimates.append(view.inverse_view(eps_view))\n    return reduce(estimates, c)\n"),
        loses=("fused_noise_estimate",),
    ),
    mutation(
        "fused_estimate_is_always_zero",
        (ILLUSIONS, FUSED_LOOP, "    return torch.zeros(x_t.shape[0], 2 * x_t.shape[1], *x_t.shape[2:])\n"),
        loses=("fused_noise_estimate",),
    ),
]

CORPUS += DEGENERATE_STUBS


def stub_outcome(report, stub: Mutation) -> tuple[dict[str, str], dict[str, str]]:
    """A degenerate stub's graded report, as {check id: message}: the checks of its own item it passed
    (it must earn none), and the checks of every other item it failed (it must cost none)."""
    earned = {c.check_id: c.message for c in report.checks if c.function in stub.loses and c.passed}
    lost = {c.check_id: c.message for c in report.checks if c.function not in stub.loses and not c.passed}
    return earned, lost

# ---------------------------------------------------------------------------- degenerate stubs of the profile items
# The same for the items of the assignment profiles: each stub keeps the item's signature and docstring
# contract (dtype, device, inputs left as they are) and gets one property right (the endpoints, the kept
# pixels, p = 0 and 1, the right shape) without computing the item. Graded with the profile that lists its
# item (profile_corpus), each must score 0 on that item and cost nothing else
# (tests/checks/test_profile_items_corpus.py).

MP_SOLUTION = (
    "        maybe_clip = (lambda z: z.clamp(-1.0, 1.0)) if clip_x_start else identity\n"
    "        if self.objective == \"pred_noise\":\n"
    "            pred_noise = out\n"
    "            x_start = maybe_clip(self.predict_start_from_noise(x, t, pred_noise))\n"
    + MP_REDERIVE
    + "        elif self.objective == \"pred_x0\":\n" + MP_X0_BRANCH
    + "        else:  # pred_v\n"
    "            " + MP_X0_FROM_V + "\n"
    "            pred_noise = self.predict_noise_from_start(x, t, x_start)\n"
    + MP_RETURN
)
INTERP_SOLUTION = (
    "        " + INTERP_NOISE + INTERP_Q + "        " + INTERP_MIX + "\n" + INTERP_LOOP
    + "        return self.unnormalize(img)\n"
)
DROP_SOLUTION = "        " + DROP + "\n        " + DROP_RETURN + "\n"
INPAINT_LOOP = (
    "    for t, t_prev in sampler.time_pairs:\n"
    "        x = fused_denoise_step(estimator, sampler, [IdentityView()], [prompt], x, t, t_prev, guidance_scale)\n"
    "        " + INPAINT_KNOWN + "\n"
    "        " + INPAINT_BLEND + "\n"
    "    return x\n"
)
SDEDIT_LOOP = (
    "    " + SDEDIT_ADD + "\n"
    "    return fused_denoise_loop(\n"
    "        estimator, sampler, [IdentityView()], [prompt], x_t, " + SDEDIT_PAIRS + "\n"
    "    )\n"
)
HYBRID_SOLUTION = "        noise = (\n" + HYBRID_NOISE + "        )\n        " + HYBRID_VARIANCE + "\n"
EMB_SOLUTION = (
    "        half = self.dim // 2\n        " + EMB_SCALE + " = " + EMB_FREQS.split(" = ", 1)[1] + "\n"
    "        args = t.float()[:, None] * freqs[None, :]  # (B, half)\n"
    "        " + EMB_CAT + "\n"
)
BLOCK_SOLUTION = (
    "        scale_shift = None\n        if exists(self.mlp) and exists(emb):\n"
    "            " + BLOCK_FILM + "\n" + BLOCK_STEPS
)

PROFILE_DEGENERATE_STUBS = [
    mutation(  # both predictions the network's output, whatever the objective and the flags
        "model_predictions_returns_the_output_as_both",
        (DIFFUSION, MP_SOLUTION, "        return ModelPrediction(out, out.clone())\n        # END SOLUTION"),
        loses=("model_predictions",),
    ),
    mutation(  # x0_hat = 0 is always inside [-1, 1], and eps_hat is re-derived from it: the network is never read
        "model_predictions_x0_is_zero_and_eps_follows_it",
        (DIFFUSION, MP_SOLUTION,
         "        x_start = torch.zeros_like(x)\n"
         "        return ModelPrediction(self.predict_noise_from_start(x, t, x_start), x_start)\n"
         "        # END SOLUTION"),
        loses=("model_predictions",),
    ),
    mutation(
        "interpolate_returns_x1_or_x2_at_lam_1",
        (DIFFUSION, INTERP_SOLUTION, "        return (x2 if lam == 1 else x1).clone()\n"),
        loses=("interpolate",),
    ),
    mutation(  # the endpoints exactly, every step from t down to 0, and no mix at all
        "interpolate_denoises_x1_alone_or_x2_at_lam_1",
        (DIFFUSION, INTERP_SOLUTION,
         "        " + INTERP_NOISE
         + "        img = self.q_sample(self.normalize(x2 if lam == 1 else x1), batched_t, noise)\n"
         + INTERP_LOOP + "        return self.unnormalize(img)\n"),
        loses=("interpolate",),
    ),
    mutation(  # the endpoints right, nothing else
        "slerp_knows_only_its_endpoints",
        (HELPERS, SLERP_BODY, "    return (z2 if alpha == 1 else z1).clone()\n"),
        loses=("slerp",),
    ),
    mutation(  # p = 0 and p = 1 right; otherwise any label in 0 .. num_classes, the null class included
        "label_dropout_knows_only_p_0_and_1",
        (DIFFUSION, DROP_SOLUTION,
         "        if self.cond_drop_prob == 0:\n            return class_labels.clone()\n"
         "        if self.cond_drop_prob == 1:\n            return torch.full_like(class_labels, self.num_classes)\n"
         "        return torch.randint_like(class_labels, self.num_classes + 1)\n"),
        loses=("drop_class_labels",),
    ),
    mutation(
        "label_dropout_keeps_every_label",
        (DIFFUSION, DROP_SOLUTION, "        return class_labels.clone()\n"),
        loses=("drop_class_labels",),
    ),
    mutation(
        "inpaint_returns_the_image",
        (ILLUSIONS, INPAINT_START + INPAINT_LOOP,
         "    # BEGIN SOLUTION (TODO 3.5 inpaint)\n    return image.clone()\n"),
        loses=("inpaint",),
    ),
    mutation(  # the kept pixels exactly the image's, the start noise everywhere else, no step taken
        "inpaint_pastes_the_image_onto_the_noise",
        (ILLUSIONS, INPAINT_LOOP, "    return mask * x + (1 - mask) * image\n"),
        loses=("inpaint",),
    ),
    mutation(
        "sdedit_returns_the_image",
        (ILLUSIONS, SDEDIT_T + "    noise = default(noise, lambda: _randn_like(image, generator))\n" + SDEDIT_LOOP,
         "    # BEGIN SOLUTION (TODO 3.6 sdedit)\n    return image.clone()\n"),
        loses=("sdedit",),
    ),
    mutation(  # noised once, at the right t, and never denoised
        "sdedit_returns_the_noised_image",
        (ILLUSIONS, SDEDIT_LOOP, "    return " + SDEDIT_ADD.split(" = ", 1)[1] + "\n"),
        loses=("sdedit",),
    ),
    mutation(
        "hybrid_returns_the_far_estimate",
        (ILLUSIONS, HYBRID_SOLUTION, "        return far.clone()\n"),
        loses=("make_hybrid",),
    ),
    mutation(  # the variance channels right (averaged), the noise channels averaged too, never filtered
        "hybrid_averages_the_two_estimates",
        (ILLUSIONS, HYBRID_SOLUTION, "        return (far + near) / 2\n"),
        loses=("make_hybrid",),
    ),
    mutation(
        "time_embedding_is_zeros",
        (UNET, EMB_SOLUTION, "        return torch.zeros(t.shape[0], self.dim, device=t.device)\n"),
        loses=("SinusoidalPosEmb",),
    ),
    mutation(  # the embedding of t = 0 (sin 0 = 0, cos 0 = 1) for every t: the right shape, dtype and first row
        "time_embedding_of_t_0_for_every_t",
        (UNET, EMB_SOLUTION,
         "        half = self.dim // 2\n"
         "        zeros = torch.zeros(t.shape[0], half, device=t.device)\n"
         "        return torch.cat((zeros, torch.ones_like(zeros)), dim=-1)\n"),
        loses=("SinusoidalPosEmb",),
    ),
    mutation(  # the blocks and the residual, the time embedding never read
        "resnet_block_ignores_the_time_embedding",
        (UNET, BLOCK_SOLUTION, "        return self.block2(self.block1(x)) + self.res_conv(x)\n"),
        loses=("ResnetBlock",),
    ),
    mutation(
        "resnet_block_is_its_residual_path",
        (UNET, BLOCK_SOLUTION, "        return self.res_conv(x).clone()\n"),
        loses=("ResnetBlock",),
    ),
]
