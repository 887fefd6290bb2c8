"""What the grader runs against a `diffusion_hw` package: the same probes for the student and the reference.

This file is PUBLIC: students may read it, and `grade --public-only` runs it on their code. It holds
no answers and no solution formulas. A probe only builds objects and calls the student's functions
on inputs the grader chose; every number it returns is compared *outside* this process, against the
reference package run through the very same probe.

A probe is `probe(hw, inputs, params) -> dict[str, Tensor]`:
    hw      the imported `diffusion_hw` package under test
    inputs  named tensors chosen by the grader (per case: "<case>.<name>")
    params  JSON data: one dict per case under "cases", plus shared settings
It returns named tensors; a case whose call raised returns "<case>.error" (the message as UTF-8
bytes) instead of its outputs, so one failing case does not hide the others.

How items are kept apart, so that one mistake costs points on one TODO only:
  * every GaussianDiffusion is built with the grader's buffers (alphas_bar, ...) passed in as inputs,
    so a wrong `compute_diffusion_buffers` never changes what `p_sample` is graded on;
  * the network is a stand-in: `ScriptedModel` returns a fixed output whatever x_t is, and
    `OracleModel` knows the one clean image x0 and answers exactly;
  * `p_losses` sees a stand-in `q_sample` and `p_sample_loop` a stand-in `p_sample`, both of which
    record how they were called.
  * `fused_noise_estimate` (TODO 3.3) gets the grader's views (pixel permutations), an affine
    stand-in estimator and a stand-in `classifier_free_guidance` (the formula of its docstring), so
    that wrong views (TODO 3.1, 3.2) or guidance (TODO 3.4) never change what it is graded on. The
    stand-in is the true formula, not an arbitrary one, so that a correct loop that writes the
    guidance inline instead of calling the helper still earns its points.
  * the items only some profiles ask for: every GaussianDiffusion built here answers
    `model_predictions` with the grader's (`_grader_model_predictions`, the true formula on the given
    conversions) except in model_predictions' own probes; `interpolate` runs on a stand-in q_sample
    (the forward process) and a recording p_sample; `sdedit` and `inpaint` on the grader's estimator,
    a RecordingSampler and a one-view fused step; the U-Net's blocks on the grader's weights.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Callable, Iterator, NamedTuple

import torch
from torch import nn

Tensor = torch.Tensor
MAX_ERROR_BYTES = 2000


# ---------------------------------------------------------------------------- stand-in networks


class ScriptedModel(nn.Module):
    """Stands in for the U-Net: returns `output` (B, C, H, W) whatever x_t is, and records each call.

    For class-conditional cases (num_classes set) the output is shifted by 0.1 * (label + 1), so
    that classifier-free guidance and a dropped `class_labels` change the result. `gain` is a
    parameter so that a loss computed from the output can be backpropagated.
    """

    def __init__(self, output: Tensor, num_classes: int | None = None) -> None:
        super().__init__()
        self.channels = int(output.shape[1])
        self.num_classes = num_classes
        self.gain = nn.Parameter(torch.ones((), dtype=output.dtype))
        self.scripted_output = output
        self.calls: list[tuple[Tensor, Tensor, Tensor | None]] = []

    def forward(self, x: Tensor, t: Tensor, class_labels: Tensor | None = None) -> Tensor:
        self.calls.append(
            (
                x.detach().clone(),
                torch.as_tensor(t).detach().clone(),
                None if class_labels is None else torch.as_tensor(class_labels).detach().clone(),
            )
        )
        base = self.scripted_output
        repeats = max(1, x.shape[0] // base.shape[0])
        out = base.repeat(repeats, *([1] * (base.dim() - 1)))[: x.shape[0]]
        if class_labels is not None:
            shift = 0.1 * (torch.as_tensor(class_labels).to(out.dtype) + 1)
            out = out + shift.reshape(-1, *([1] * (out.dim() - 1)))
        return self.gain * out


class OracleModel(nn.Module):
    """A perfect denoiser for a single known clean image x0.

    Given x_t it answers with what the objective asks for, computed by the diffusion object's own
    given conversions (`predict_noise_from_start`, `predict_v`): the noise eps that turns x0 into
    x_t, x0 itself, or v. Any correct sampler driven by it must end exactly at x0.

    x0 is held by a closure, not an attribute: code under test asks the model, as a sampler does,
    and finds no `model._clean` to return instead of sampling. (What a process can dig out of its own
    memory is no secret, so the loop check also records every step in the grader's stand-in
    p_sample and scores only a result that came out of those steps.)
    """

    def __init__(self, x0: Tensor, objective: str) -> None:
        super().__init__()
        self.channels = int(x0.shape[1])
        self.num_classes = None
        self.diffusion: Any = None  # set once the GaussianDiffusion around it exists
        self._answer = _oracle_answer(x0.clone(), objective, self)

    def forward(self, x: Tensor, t: Tensor, class_labels: Tensor | None = None) -> Tensor:
        return self._answer(x, t)


def _oracle_answer(x0: Tensor, objective: str, model: OracleModel) -> Callable[[Tensor, Tensor], Tensor]:
    def answer(x: Tensor, t: Tensor) -> Tensor:
        clean = x0.to(x.dtype)
        if objective == "pred_x0":
            return clean.clone()
        eps = model.diffusion.predict_noise_from_start(x, t, clean)
        if objective == "pred_v":
            return model.diffusion.predict_v(clean, t, eps)
        return eps

    return answer


# ---------------------------------------------------------------------------- building blocks


def _text(message: str) -> Tensor:
    return torch.tensor(list(message.encode("utf-8", "replace")[:MAX_ERROR_BYTES]), dtype=torch.uint8)


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:  # a hostile __str__
        text = "<unprintable>"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _tensor(value: Any, what: str) -> Tensor:
    """A plain, detached CPU copy of `value`, or a TypeError naming what the student returned."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{what} returned {type(value).__name__}, not a torch.Tensor")
    return value.detach().to("cpu").clone().contiguous()


def _per_case(params: dict, run_case: Callable[[int, dict], dict[str, Tensor]]) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    for index, case in enumerate(params["cases"]):
        try:
            for name, value in run_case(index, case).items():
                out[f"{index}.{name}"] = value
        except Exception as exc:  # the student's error is data: report it for this case only
            out[f"{index}.error"] = _text(_describe(exc))
    return out


def _case_inputs(inputs: dict[str, Tensor], index: int) -> dict[str, Tensor]:
    prefix = f"{index}."
    return {name[len(prefix):]: value for name, value in inputs.items() if name.startswith(prefix)}


def _buffers(case_inputs: dict[str, Tensor]) -> dict[str, Tensor]:
    prefix = "buffers."
    return {name[len(prefix):]: value for name, value in case_inputs.items() if name.startswith(prefix)}


@contextlib.contextmanager
def _patched(module: Any, **replacements: Any) -> Iterator[None]:
    saved = {name: getattr(module, name) for name in replacements if hasattr(module, name)}
    for name in saved:
        setattr(module, name, replacements[name])
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def build_diffusion(hw: Any, model: nn.Module, buffers: dict[str, Tensor], *, own_model_predictions: bool = False,
                    **kwargs: Any) -> Any:
    """hw.GaussianDiffusion(model, ...) whose per-timestep buffers are exactly `buffers`.

    The constructor runs with the grader's betas and buffers in place of the student's schedule and
    `compute_diffusion_buffers`, and the buffers are installed again afterwards in whatever dtype
    the constructor chose (float32 in the given code; float64 if a student keeps them so).
    Unless `own_model_predictions` (the probes of model_predictions itself), the object's
    `model_predictions` is the grader's (`_grader_model_predictions`): what p_sample and the sampling
    loops are graded on never depends on the submission's model_predictions, a TODO of some profiles.
    """
    betas = buffers["betas"]
    module = sys.modules.get(getattr(hw.GaussianDiffusion, "__module__", ""))
    with _patched(
        module,
        make_beta_schedule=lambda *args, **kw: betas.clone(),
        compute_diffusion_buffers=lambda *args, **kw: {k: v.clone() for k, v in buffers.items()},
    ):
        diffusion = hw.GaussianDiffusion(model, timesteps=int(betas.shape[0]), **kwargs)
    for name, value in buffers.items():
        current = getattr(diffusion, name, None)
        dtype = current.dtype if isinstance(current, torch.Tensor) and current.is_floating_point() else torch.float32
        setattr(diffusion, name, value.to(dtype))
    if isinstance(model, OracleModel):
        model.diffusion = diffusion
    if not own_model_predictions:
        diffusion.model_predictions = _grader_model_predictions(diffusion)
    return diffusion


class _Prediction(NamedTuple):
    pred_noise: Tensor  # (B, C, H, W)
    pred_x_start: Tensor  # (B, C, H, W)


def _grader_model_predictions(diffusion: Any) -> Callable[..., _Prediction]:
    """GaussianDiffusion.model_predictions as its docstring states it, on the object's given parts
    (model_output and the conversions predict_start_from_noise, predict_start_from_v and
    predict_noise_from_start). The true formula, not an arbitrary stand-in: a p_sample that computes
    its x_0 estimate inline instead of asking model_predictions still earns its points."""

    def model_predictions(x: Tensor, t: Tensor, class_labels: Tensor | None = None, guidance_scale: float = 1.0,
                          clip_x_start: bool = False, rederive_pred_noise: bool = False) -> _Prediction:
        out = diffusion.model_output(x, t, class_labels, guidance_scale)
        objective = diffusion.objective
        if objective == "pred_x0":
            x_start = out
        elif objective == "pred_v":
            x_start = diffusion.predict_start_from_v(x, t, out)
        else:
            x_start = diffusion.predict_start_from_noise(x, t, out)
        if clip_x_start:
            x_start = x_start.clamp(-1.0, 1.0)
        if objective == "pred_noise" and not (clip_x_start and rederive_pred_noise):
            return _Prediction(out, x_start)
        return _Prediction(diffusion.predict_noise_from_start(x, t, x_start), x_start)

    return model_predictions


def _as_int(t: Any) -> int:
    if isinstance(t, torch.Tensor):
        flat = t.flatten()
        if flat.numel() == 0 or not bool((flat == flat[0]).all()):
            raise ValueError(f"expected one timestep for the whole batch, got t = {t.tolist()}")
        return int(flat[0])
    return int(t)


def _model_kwargs(case: dict) -> dict[str, Any]:
    return {
        "image_size": int(case["image_size"]),
        "objective": case.get("objective", "pred_noise"),
        "loss_type": case.get("loss_type", "l2"),
    }


# ---------------------------------------------------------------------------- Part 1: schedules


SCHEDULE_FUNCTIONS = {
    "linear": "linear_beta_schedule",
    "cosine": "cosine_beta_schedule",
    "sigmoid": "sigmoid_beta_schedule",
}


def probe_beta_schedule(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """betas = hw.<schedule>_beta_schedule(T, **kwargs) for each case."""
    function = getattr(hw, SCHEDULE_FUNCTIONS[params["schedule"]])

    def run(index: int, case: dict) -> dict[str, Tensor]:
        return {"betas": _tensor(function(case["T"], **case.get("kwargs", {})), function.__name__)}

    return _per_case(params, run)


def probe_diffusion_buffers(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """hw.compute_diffusion_buffers(betas) for each case; every returned entry comes back."""

    def run(index: int, case: dict) -> dict[str, Tensor]:
        result = hw.compute_diffusion_buffers(_case_inputs(inputs, index)["betas"].clone())
        if not isinstance(result, dict):
            raise TypeError(f"compute_diffusion_buffers returned {type(result).__name__}, not a dict")
        return {
            f"buffers.{name}": _tensor(value, f"compute_diffusion_buffers[{name!r}]")
            for name, value in result.items()
            if isinstance(name, str)
        }

    return _per_case(params, run)


# ---------------------------------------------------------------------------- Part 2: training


def probe_q_sample(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """x_t = diffusion.q_sample(x0, t, noise); with case["seed"] and no noise input, noise=None."""

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        x0 = tensors["x0"]
        model = ScriptedModel(torch.zeros_like(x0))
        diffusion = build_diffusion(hw, model, _buffers(tensors), **_model_kwargs(case))
        if "noise" in tensors:
            x_t = diffusion.q_sample(x0.clone(), tensors["t"].clone(), tensors["noise"].clone())
            return {"x_t": _tensor(x_t, "q_sample")}
        # noise=None: q_sample must draw eps with torch.randn_like(x_start), as its docstring says
        torch.manual_seed(case["seed"])
        drawn = _tensor(diffusion.q_sample(x0.clone(), tensors["t"].clone()), "q_sample")
        torch.manual_seed(case["seed"])
        noise = torch.randn_like(x0)
        given = _tensor(diffusion.q_sample(x0.clone(), tensors["t"].clone(), noise), "q_sample")
        return {"x_t_default_noise": drawn, "x_t_randn_like_noise": given}

    return _per_case(params, run)


def probe_p_losses(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """loss = diffusion.p_losses(x0, t, noise, class_labels) with stand-ins for the net and q_sample.

    The network returns a fixed `model_out` (so the loss does not depend on x_t at all), and
    `diffusion.q_sample` is replaced by a recorder that returns the grader's `x_t`: p_losses is
    graded on its own, whatever the student's q_sample does.
    """

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        labels = tensors.get("class_labels")
        model = ScriptedModel(tensors["model_out"].clone(), num_classes=case.get("num_classes"))
        diffusion = build_diffusion(hw, model, _buffers(tensors), **_model_kwargs(case))
        q_calls: list[tuple[Tensor, Tensor, Tensor | None]] = []

        def recording_q_sample(x_start: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
            noise_seen = None if noise is None else noise.detach().clone()
            q_calls.append((x_start.detach().clone(), torch.as_tensor(t).clone(), noise_seen))
            return tensors["x_t"].clone().to(x_start.dtype)

        diffusion.q_sample = recording_q_sample
        kwargs = {} if labels is None else {"class_labels": labels.clone()}
        loss = diffusion.p_losses(tensors["x0"].clone(), tensors["t"].clone(), tensors["noise"].clone(), **kwargs)
        if not isinstance(loss, torch.Tensor):
            raise TypeError(f"p_losses returned {type(loss).__name__}, not a torch.Tensor")
        out = {
            "loss": _tensor(loss, "p_losses"),
            "loss_requires_grad": torch.tensor(bool(loss.requires_grad)),
            "loss_gain_grad": _gain_gradient(loss, model),
            "model_calls": torch.tensor(len(model.calls)),
            "q_sample_calls": torch.tensor(len(q_calls)),
        }
        if model.calls:
            x, t, seen_labels = model.calls[0]
            out["model_x"] = x
            out["model_t"] = t
            if seen_labels is not None:
                out["model_class_labels"] = seen_labels
        if q_calls:
            x_start, t, noise = q_calls[0]
            out["q_sample_x_start"] = x_start
            out["q_sample_t"] = t
            if noise is not None:
                out["q_sample_noise"] = noise
        return out

    return _per_case(params, run)


def _gain_gradient(loss: Tensor, model: ScriptedModel) -> Tensor:
    """d loss / d gain (float64; 0 when the loss does not depend on the model's output, NaN when it
    cannot be computed): whether the loss is made from what the model said."""
    if not loss.requires_grad:
        return torch.tensor(0.0, dtype=torch.float64)
    try:
        (grad,) = torch.autograd.grad(loss.sum(), model.gain, allow_unused=True, retain_graph=True)
        return torch.tensor(0.0 if grad is None else float(grad), dtype=torch.float64)
    except Exception:
        return torch.tensor(float("nan"), dtype=torch.float64)


# ---------------------------------------------------------------------------- Part 2: DDPM sampling


def probe_p_sample(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """(x_prev, x0_hat) = diffusion.p_sample(x_t, t, class_labels, guidance_scale, noise=noise).

    With case["seed"] and no noise input, p_sample draws its own noise (noise=None): it runs twice,
    under seeds s and s + 1, and once more with noise = torch.randn_like(x_t) drawn under seed s.
    """

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        model = ScriptedModel(tensors["model_out"].clone(), num_classes=case.get("num_classes"))
        diffusion = build_diffusion(hw, model, _buffers(tensors), **_model_kwargs(case))
        kwargs: dict[str, Any] = {}
        if "class_labels" in tensors:
            kwargs["class_labels"] = tensors["class_labels"].clone()
            kwargs["guidance_scale"] = float(case.get("guidance_scale", 1.0))
        x, t = tensors["x"], int(case["t"])

        def step(**extra: Any) -> tuple[Tensor, Tensor]:
            result = diffusion.p_sample(x.clone(), t, **kwargs, **extra)
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise TypeError(f"p_sample returned {type(result).__name__}; expected a pair (x_prev, x0_hat)")
            return _tensor(result[0], "p_sample (x_prev)"), _tensor(result[1], "p_sample (x0_hat)")

        if "noise" in tensors:
            x_prev, x0_hat = step(noise=tensors["noise"].clone())
            return {"x_prev": x_prev, "x0_hat": x0_hat}
        seed = int(case["seed"])
        torch.manual_seed(seed)
        first, _ = step()
        torch.manual_seed(seed + 1)
        second, _ = step()
        torch.manual_seed(seed)
        noise = torch.randn_like(x)
        explicit, _ = step(noise=noise)
        return {"x_prev_seed_a": first, "x_prev_seed_b": second, "x_prev_randn_like_noise": explicit}

    return _per_case(params, run)


def probe_p_sample_chain(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """Run the student's p_sample for t = T-1, ..., 0 from x ~ N(0, I), with the oracle network.

    The loop here is the grader's (as in p_sample_loop's docstring), so only p_sample is exercised;
    the noise of every step is drawn here, from case["seed"]. Returns the final x and the trajectory
    (the start, then x after each step).
    """

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        x0 = tensors["x0"]
        model = OracleModel(x0.clone(), case["objective"])
        diffusion = build_diffusion(hw, model, _buffers(tensors), **_model_kwargs(case))
        generator = torch.Generator().manual_seed(int(case["seed"]))
        x = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
        trajectory = [x]
        for t in reversed(range(int(tensors["buffers.betas"].shape[0]))):
            noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
            result = diffusion.p_sample(x, t, noise=noise)
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise TypeError(f"p_sample returned {type(result).__name__}; expected a pair (x_prev, x0_hat)")
            x = _tensor(result[0], f"p_sample at t = {t}")
            trajectory.append(x)
        return {"x_final": x, "trajectory": torch.stack([step.to(x0.dtype) for step in trajectory]) if all(
            step.shape == x0.shape for step in trajectory) else torch.zeros(0)}

    return _per_case(params, run)


def _install_p_sample(diffusion: Any, step: Callable[[Tensor, int], tuple[Tensor, Tensor]], limit: int,
                      caller: str = "p_sample_loop") -> dict[str, list]:
    """Replace diffusion.p_sample by `step`, recording t, x, class_labels and guidance_scale of each call."""
    record: dict[str, list] = {"t": [], "x": [], "out": [], "labels": [], "guidance": []}

    def recording_p_sample(x: Tensor, t: Any, class_labels: Tensor | None = None,
                           guidance_scale: float = 1.0, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if len(record["t"]) >= limit:
            raise RuntimeError(f"{caller} called p_sample more than {limit} times (expected at most T = {limit // 4})")
        t_int = _as_int(t)
        out = step(x, t_int)
        record["t"].append(t_int)
        record["x"].append(x.detach().clone())
        record["out"].append(out[0].detach().clone())
        record["labels"].append(None if class_labels is None else torch.as_tensor(class_labels).clone())
        record["guidance"].append(float(guidance_scale))
        return out

    diffusion.p_sample = recording_p_sample
    return record


def probe_p_sample_loop_scripted(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """diffusion.p_sample_loop(shape, ...) with p_sample replaced by a recorder.

    The stand-in step is x_prev = 0.5 x + offsets[t] (grader-chosen offsets), so the result shows
    whether every step fed the previous one and which step came last.
    """

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        offsets = tensors["offsets"]  # (T, B, C, H, W)
        T = int(offsets.shape[0])
        shape = tuple(int(s) for s in case["shape"])
        model = ScriptedModel(torch.zeros(shape), num_classes=case.get("num_classes"))
        diffusion = build_diffusion(hw, model, _buffers(tensors), **_model_kwargs(case))

        def step(x: Tensor, t: int) -> tuple[Tensor, Tensor]:
            if not 0 <= t < T:
                raise IndexError(f"p_sample_loop called p_sample with t = {t}, outside 0 .. T-1 = 0 .. {T - 1}")
            return 0.5 * x + offsets[t].to(x.dtype), offsets[t].to(x.dtype).clone()

        record = _install_p_sample(diffusion, step, limit=4 * T)
        kwargs: dict[str, Any] = {}
        if "class_labels" in tensors:
            kwargs = {"class_labels": tensors["class_labels"].clone(), "guidance_scale": float(case["guidance_scale"])}
        if case.get("return_all_timesteps"):
            kwargs["return_all_timesteps"] = True
        torch.manual_seed(int(case["seed"]))
        result = _tensor(diffusion.p_sample_loop(shape, **kwargs), "p_sample_loop")
        out = {"result": result, **_loop_record(record)}
        if record["x"]:
            out["guidance"] = torch.tensor(record["guidance"], dtype=torch.float64)
            labels = [lab for lab in record["labels"] if lab is not None]
            out["labels_passed"] = torch.tensor(len(labels))
            if labels:
                out["labels"] = torch.stack([lab.reshape(-1) for lab in labels])
        return out

    return _per_case(params, run)


def _loop_record(record: dict[str, list]) -> dict[str, Tensor]:
    """What a recording p_sample saw: the t of each call, and each call's x and returned x_prev."""
    out = {"visited_t": torch.tensor(record["t"], dtype=torch.long)}
    if record["x"]:
        out["step_inputs"] = torch.stack(record["x"])
        out["step_outputs"] = torch.stack(record["out"])
    return out


def probe_p_sample_loop_oracle(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """diffusion.p_sample_loop(shape) with the oracle network and an idealised, recording p_sample.

    The stand-in step moves x toward the network's x0 estimate (the given `model_predictions`),
    x_prev = x0_hat + (t / T) (x - x0_hat + 0.1): it lands on x0 at t = 0 whatever x was, and
    nowhere else. A loop that ends with t = 0 and returns that last x (unnormalized) yields
    unnormalize(x0) for every seed. The steps it took come back too (visited_t, step_inputs,
    step_outputs), so that the result is judged together with how it was reached.
    """

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        x0 = tensors["x0"]
        model = OracleModel(x0.clone(), case.get("objective", "pred_noise"))
        diffusion = build_diffusion(hw, model, _buffers(tensors), **_model_kwargs(case))
        T = int(tensors["buffers.betas"].shape[0])

        def step(x: Tensor, t: int) -> tuple[Tensor, Tensor]:
            batched_t = torch.full((x.shape[0],), t, dtype=torch.long)
            x0_hat = diffusion.model_predictions(x, batched_t, clip_x_start=True).pred_x_start
            return x0_hat + (t / T) * (x - x0_hat + 0.1), x0_hat

        record = _install_p_sample(diffusion, step, limit=4 * T)
        torch.manual_seed(int(case["seed"]))
        result = _tensor(diffusion.p_sample_loop(tuple(x0.shape)), "p_sample_loop")
        return {"result": result, **_loop_record(record)}

    return _per_case(params, run)


# ---------------------------------------------------------------------------- Part 2: DDIM sampling


def probe_denoise_backward(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """x_prev = diffusion.denoise_backward(x0_hat, t, t_prev, eps_hat, noise, eta) for each case."""

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        model = ScriptedModel(torch.zeros_like(tensors["pred_x_start"]))
        diffusion = build_diffusion(hw, model, _buffers(tensors), **_model_kwargs(case))
        x_prev = diffusion.denoise_backward(
            tensors["pred_x_start"].clone(), int(case["t"]), int(case["t_prev"]),
            tensors["pred_noise"].clone(), tensors["noise"].clone(), float(case["eta"]),
        )
        return {"x_prev": _tensor(x_prev, "denoise_backward")}

    return _per_case(params, run)


def probe_ddim_chain(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """A DDIM sampling loop over case["pairs"] with the oracle network, once per noise seed.

    The loop is the given `ddim_sample` written out: x0_hat and eps_hat from the given
    `model_predictions` (clipped, eps re-derived), then the student's `denoise_backward`. The start
    x comes from case["start_seed"]; each run draws its step noise from its own seed. Returns the
    whole trajectory (start, then after each step).
    """

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        x0 = tensors["x0"]
        model = OracleModel(x0.clone(), case["objective"])
        diffusion = build_diffusion(hw, model, _buffers(tensors), **_model_kwargs(case))
        start = torch.randn(x0.shape, generator=torch.Generator().manual_seed(int(case["start_seed"])), dtype=x0.dtype)
        out: dict[str, Tensor] = {}
        for run_index, noise_seed in enumerate(case["noise_seeds"]):
            generator = torch.Generator().manual_seed(int(noise_seed))
            x, trajectory = start.clone(), [start.clone()]
            for t, t_prev in case["pairs"]:
                batched_t = torch.full((x.shape[0],), int(t), dtype=torch.long)
                pred_noise, x0_hat = diffusion.model_predictions(
                    x, batched_t, clip_x_start=True, rederive_pred_noise=True
                )
                noise = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)
                x = _tensor(
                    diffusion.denoise_backward(x0_hat, int(t), int(t_prev), pred_noise, noise, float(case["eta"])),
                    f"denoise_backward at (t, t_prev) = ({t}, {t_prev})",
                )
                trajectory.append(x)
            out[f"trajectory.{run_index}"] = torch.stack([step.to(x0.dtype) for step in trajectory])
        return out

    return _per_case(params, run)


# ---------------------------------------------------------------------------- Part 2: views and illusions


VIEW_CLASSES = ("IdentityView", "Rotate180View")


def _attempt(out: dict[str, Tensor], key: str, compute: Callable[[], Tensor]) -> Tensor | None:
    """out[key] = compute(), or out[key + "_error"] = the error, so one broken method hides nothing else."""
    try:
        out[key] = compute()
        return out[key]
    except Exception as exc:
        out[f"{key}_error"] = _text(_describe(exc))
        return None


def probe_view(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """For view = hw.<params["view"]>(): view(x), inverse_view(view(x)), inverse_view(noise) and, when
    the grader gives x_viewed (the expected view of x), inverse_view(x_viewed).

    noise may carry variance channels after the image's (B, 2C, H, W). Each result comes back on its
    own ("<name>_error" when that method raised).
    """
    name = params["view"]
    if name not in VIEW_CLASSES:
        raise ValueError(f"unknown view {name!r}")

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        view = getattr(hw, name)()
        out: dict[str, Tensor] = {}
        viewed = _attempt(out, "viewed", lambda: _tensor(view.view(tensors["x"].clone()), f"{name}.view"))
        if viewed is not None:
            _attempt(out, "round_trip", lambda: _tensor(view.inverse_view(viewed.clone()), f"{name}.inverse_view"))
        _attempt(out, "inverse", lambda: _tensor(view.inverse_view(tensors["noise"].clone()), f"{name}.inverse_view"))
        if "x_viewed" in tensors:
            _attempt(out, "undone",
                     lambda: _tensor(view.inverse_view(tensors["x_viewed"].clone()), f"{name}.inverse_view"))
        return out

    return _per_case(params, run)


def probe_classifier_free_guidance(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """eps = hw.classifier_free_guidance(eps_uncond, eps_cond, guidance_scale, image_channels) for each case."""

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        eps = hw.classifier_free_guidance(
            tensors["eps_uncond"].clone(),
            tensors["eps_cond"].clone(),
            float(case["guidance_scale"]),
            int(case["image_channels"]),
        )
        return {"eps": _tensor(eps, "classifier_free_guidance")}

    return _per_case(params, run)


class PixelPermutationView:
    """A grader-made view: one fixed permutation `perm` of the H * W pixel positions, the same for
    every channel (so orthogonal, exactly invertible, and variance channels move with their pixels).
    Counts how often each method is called."""

    def __init__(self, perm: Tensor) -> None:
        self.perm = perm
        self.inverse_perm = torch.argsort(perm)
        self.view_calls = 0
        self.inverse_calls = 0

    @staticmethod
    def _permute(x: Tensor, order: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[-2] * x.shape[-1] != order.numel():
            raise ValueError(f"a view got a tensor of shape {tuple(x.shape)}; "
                             f"(B, C, H, W) with H * W = {order.numel()} was expected")
        return x.flatten(-2)[..., order].reshape(x.shape)

    def view(self, x: Tensor) -> Tensor:
        self.view_calls += 1
        return self._permute(x, self.perm)

    def inverse_view(self, noise: Tensor) -> Tensor:
        self.inverse_calls += 1
        return self._permute(noise, self.inverse_perm)


class AffineEstimator:
    """A stand-in noise estimator: eps(x, t, p) = gain_p * x + offset_p, with x repeated to the C'
    channels of offset_p (C' = C or 2 C: variance channels). p is a prompt id, None the null prompt.
    Records every call (prompt, t, x) and what it returned."""

    def __init__(self, tensors: dict[str, Tensor]) -> None:
        self.gains = {k[len("gain."):]: v for k, v in tensors.items() if k.startswith("gain.")}
        self.offsets = {k[len("offset."):]: v for k, v in tensors.items() if k.startswith("offset.")}
        self.calls: list[tuple[str, int, Tensor, Tensor]] = []

    def __call__(self, x: Tensor, t: Any, prompt: Any) -> Tensor:
        key = "null" if prompt is None else f"p{int(prompt)}"
        if key not in self.offsets:
            raise KeyError(f"the estimator was asked about prompt {prompt!r}, which is none of the prompts given")
        offset = self.offsets[key].to(x.dtype)
        if x.dim() != 4 or offset.shape[1] % x.shape[1]:
            raise ValueError(f"the estimator got x of shape {tuple(x.shape)}; (B, C, H, W) was expected")
        eps = self.gains[key].to(x.dtype) * x.repeat(1, offset.shape[1] // x.shape[1], 1, 1) + offset
        self.calls.append((key, _as_int(t), x.detach().clone(), eps.detach().clone()))
        return eps


def _stand_in_guidance(estimator: AffineEstimator, record: dict[str, int]) -> Callable[..., Tensor]:
    """classifier_free_guidance as its docstring states it (torch.lerp on the noise channels, the
    conditional variance channels as they are); counts calls whose two estimates came swapped."""

    def from_prompt(eps: Tensor, null: bool) -> bool:
        return any((key == "null") == null and out.shape == eps.shape and torch.equal(out, eps)
                   for key, _, _, out in estimator.calls)

    def classifier_free_guidance(eps_uncond: Tensor, eps_cond: Tensor, guidance_scale: float,
                                 image_channels: int) -> Tensor:
        record["guidance_calls"] += 1
        swapped = from_prompt(eps_uncond, null=False) and from_prompt(eps_cond, null=True)
        if swapped and not torch.equal(eps_uncond, eps_cond):
            record["swapped"] += 1
        c = int(image_channels)
        guided = torch.lerp(eps_uncond[:, :c], eps_cond[:, :c], float(guidance_scale))
        return torch.cat((guided, eps_cond[:, c:]), dim=1)

    return classifier_free_guidance


def probe_fused_noise_estimate(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """eps = hw.fused_noise_estimate(estimator, views, prompts, x_t, t, guidance_scale, reduce).

    Every part around the TODO is the grader's, so that only fused_noise_estimate is graded here:
    the views are PixelPermutationViews (perm.<i>), the estimator an AffineEstimator (gain.<p>,
    offset.<p>), classifier_free_guidance a stand-in, and reduce None (the given mean) or, with
    case["weights"], a weighted sum that records the C it is given. Besides eps, the calls made come
    back: view_calls / inverse_calls per view, the estimator's prompts ("null", "p0", ...) and
    timesteps, how many estimator inputs were no view of x_t, swapped guidance calls.
    """
    module = sys.modules.get(getattr(hw.fused_noise_estimate, "__module__", ""))

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        x_t = tensors["x_t"]
        views = [PixelPermutationView(tensors[f"perm.{i}"]) for i in range(len(case["prompts"]))]
        estimator = AffineEstimator(tensors)
        record = {"guidance_calls": 0, "swapped": 0, "reduce_calls": 0, "reduce_channels": -1}
        reduce = None
        if "weights" in case:
            def reduce(estimates: Any, image_channels: int) -> Tensor:
                record["reduce_calls"] += 1
                record["reduce_channels"] = int(image_channels)
                return sum(w * e for w, e in zip(case["weights"], estimates, strict=True))
        with _patched(module, classifier_free_guidance=_stand_in_guidance(estimator, record)):
            eps = hw.fused_noise_estimate(estimator, views, list(case["prompts"]), x_t.clone(), int(case["t"]),
                                          guidance_scale=float(case["guidance_scale"]), reduce=reduce)
        seen = [view._permute(x_t, view.perm) for view in views]
        return {
            "eps": _tensor(eps, "fused_noise_estimate"),
            "view_calls": torch.tensor([v.view_calls for v in views]),
            "inverse_calls": torch.tensor([v.inverse_calls for v in views]),
            "estimator_null_calls": torch.tensor(sum(key == "null" for key, _, _, _ in estimator.calls)),
            "estimator_prompt_calls": torch.tensor(sum(key != "null" for key, _, _, _ in estimator.calls)),
            "estimator_t": torch.tensor([t for _, t, _, _ in estimator.calls], dtype=torch.long),
            "estimator_inputs_not_a_view": torch.tensor(sum(
                not any(x.shape == s.shape and torch.equal(x, s) for s in seen) for _, _, x, _ in estimator.calls)),
            "swapped_guidance_calls": torch.tensor(record["swapped"]),
            "reduce_calls": torch.tensor(record["reduce_calls"]),
            "reduce_channels": torch.tensor(record["reduce_channels"]),
        }

    return _per_case(params, run)


# ---------------------------------------------------------------- profile items: model_predictions, interpolate, slerp


def probe_model_predictions(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """(eps_hat, x0_hat) = diffusion.model_predictions(x, t, class_labels, guidance_scale, clip_x_start,
    rederive_pred_noise) for each case, the network a ScriptedModel that answers `model_out`."""

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        model = ScriptedModel(tensors["model_out"].clone(), num_classes=case.get("num_classes"))
        diffusion = build_diffusion(hw, model, _buffers(tensors), own_model_predictions=True, **_model_kwargs(case))
        kwargs: dict[str, Any] = {"clip_x_start": bool(case["clip"]), "rederive_pred_noise": bool(case["rederive"])}
        if "class_labels" in tensors:
            kwargs.update(class_labels=tensors["class_labels"].clone(), guidance_scale=float(case["guidance_scale"]))
        result = diffusion.model_predictions(tensors["x"].clone(), tensors["t"].clone(), **kwargs)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            raise TypeError(f"model_predictions returned {type(result).__name__}; expected a pair "
                            "ModelPrediction(pred_noise, pred_x_start)")
        return {"pred_noise": _tensor(result[0], "model_predictions (pred_noise)"),
                "pred_x_start": _tensor(result[1], "model_predictions (pred_x_start)")}

    return _per_case(params, run)


def _install_q_sample(diffusion: Any) -> list[tuple[Tensor, Tensor]]:
    """Replace diffusion.q_sample by the forward process of its docstring on the object's buffers (the
    grader's), recording the t and the noise of each call: what uses q_sample is graded whatever the
    submission's q_sample does, and a correct caller that writes the formula inline loses nothing."""
    calls: list[tuple[Tensor, Tensor]] = []

    def q_sample(x_start: Tensor, t: Any, noise: Tensor | None = None) -> Tensor:
        noise = torch.randn_like(x_start) if noise is None else noise
        t = torch.as_tensor(t)
        if t.dim() == 0 or t.shape != (x_start.shape[0],) or t.is_floating_point():
            raise ValueError(f"q_sample got t of shape {tuple(t.shape)}, {t.dtype}; its docstring asks for a "
                             f"({x_start.shape[0]},) int64 tensor, one timestep per sample")
        shape = (-1, *([1] * (x_start.dim() - 1)))
        signal = diffusion.sqrt_alphas_bar.gather(0, t.to(diffusion.sqrt_alphas_bar.device).long()).reshape(shape)
        noise_scale = diffusion.sqrt_one_minus_alphas_bar.gather(0, t.to(diffusion.sqrt_alphas_bar.device).long())
        calls.append((t.detach().clone(), noise.detach().clone()))
        return signal * x_start + noise_scale.reshape(shape) * noise

    diffusion.q_sample = q_sample
    return calls


def _run_interpolate(hw: Any, tensors: dict[str, Tensor], case: dict, convert: Callable[[Any, Any], None] | None = None
                     ) -> tuple[Any, dict[str, list], list[tuple[Tensor, Tensor]], dict[str, Any]]:
    """The diffusion object of an interpolate case with its stand-ins installed, and the call's keyword arguments.

    p_sample is the step x_prev = 0.5 x + offsets[t] (grader-chosen offsets, (T, B, C, H, W)) and q_sample
    the forward process (`_install_q_sample`), both recorded."""
    offsets = tensors["offsets"]
    T = int(offsets.shape[0])
    model = ScriptedModel(torch.zeros_like(tensors["x1"]))
    diffusion = build_diffusion(hw, model, _buffers(tensors), **_model_kwargs(case))
    if convert is not None:
        convert(diffusion, model)
        offsets = _as_case(offsets, case)

    def step(x: Tensor, t: int) -> tuple[Tensor, Tensor]:
        if not 0 <= t < T:
            raise IndexError(f"interpolate called p_sample with t = {t}, outside 0 .. T-1 = 0 .. {T - 1}")
        return 0.5 * x + offsets[t].to(x.dtype), offsets[t].to(x.dtype).clone()

    record = _install_p_sample(diffusion, step, limit=4 * T, caller="interpolate")
    q_calls = _install_q_sample(diffusion)
    kwargs: dict[str, Any] = {"lam": float(case["lam"])}
    if case.get("t") is not None:
        kwargs["t"] = int(case["t"])
    return diffusion, record, q_calls, kwargs


def probe_interpolate(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """result = diffusion.interpolate(x1, x2, t, lam, noise) with recording stand-ins for q_sample and
    p_sample (`_run_interpolate`), so that only interpolate is graded. With case["seed"] and no noise
    input, interpolate draws its own noise (noise=None) under that torch seed. Besides the result: the
    p_sample calls (visited_t, step_inputs, step_outputs) and the q_sample calls (q_sample_t, q_sample_noise)."""

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        diffusion, record, q_calls, kwargs = _run_interpolate(hw, tensors, case)
        if "noise" in tensors:
            kwargs["noise"] = tensors["noise"].clone()
        else:
            torch.manual_seed(int(case["seed"]))
        result = _tensor(diffusion.interpolate(tensors["x1"].clone(), tensors["x2"].clone(), **kwargs), "interpolate")
        out = {"result": result, **_loop_record(record), "q_sample_calls": torch.tensor(len(q_calls))}
        if q_calls and all(t.shape == q_calls[0][0].shape and n.shape == q_calls[0][1].shape for t, n in q_calls):
            out["q_sample_t"] = torch.stack([t for t, _ in q_calls])
            out["q_sample_noise"] = torch.stack([n for _, n in q_calls])
        return out

    return _per_case(params, run)


def probe_slerp(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """z = hw.slerp(z1, z2, alpha) for each case."""

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        return {"z": _tensor(hw.slerp(tensors["z1"].clone(), tensors["z2"].clone(), float(case["alpha"])), "slerp")}

    return _per_case(params, run)


# ---------------------------------------------------------------- profile items: SDEdit, inpainting, hybrid images


class RecordingSampler:
    """A grader-made Sampler over `pairs` (the (t, t_prev) it visits), recording every call.

        step(eps, t, t_prev, x_t) = 0.5 x_t + 0.25 eps[:, :C] + offsets[k]       (t, t_prev) = pairs[k]
        add_noise(x_0, noise, t)  = a[t] x_0 + b[t] noise

    a and b are (T,) grader-chosen coefficients (a schedule's sqrt(alpha_bar) and sqrt(1 - alpha_bar)),
    offsets (S, B, C, H, W): the results show which pair each step was and what it started from."""

    def __init__(self, pairs: list[tuple[int, int]], a: Tensor, b: Tensor, offsets: Tensor) -> None:
        self.time_pairs = [(int(t), int(t_prev)) for t, t_prev in pairs]
        self.a, self.b, self.offsets = a, b, offsets
        self.steps: list[tuple[int, Tensor]] = []  # (pair index, x_t)
        self.noised: list[tuple[int, Tensor]] = []  # (t, noise)

    def step(self, eps: Tensor, t: int, t_prev: int, x_t: Tensor) -> Tensor:
        pair = (_as_int(t), _as_int(t_prev))
        if pair not in self.time_pairs:
            raise ValueError(f"sampler.step was called with (t, t_prev) = {pair}, which is not one of the sampler's "
                             f"time_pairs {self.time_pairs}")
        if len(self.steps) >= 4 * len(self.time_pairs):
            raise RuntimeError(f"sampler.step was called more than {4 * len(self.time_pairs)} times for "
                               f"{len(self.time_pairs)} time pairs")
        k = self.time_pairs.index(pair)
        self.steps.append((k, x_t.detach().clone()))
        c = x_t.shape[1]
        return 0.5 * x_t + 0.25 * eps[:, :c] + self.offsets[k].to(x_t.dtype)

    def add_noise(self, x_0: Tensor, noise: Tensor, t: int) -> Tensor:
        t = _as_int(t)
        if not 0 <= t < self.a.shape[0]:
            raise IndexError(f"sampler.add_noise was called with t = {t}, outside 0 .. {self.a.shape[0] - 1}: "
                             "there is no noised image at t < 0 (the image itself is x_0)")
        self.noised.append((t, noise.detach().clone()))
        return self.a[t].to(x_0.dtype) * x_0 + self.b[t].to(x_0.dtype) * noise

    def record(self) -> dict[str, Tensor]:
        out = {"step_pairs": torch.tensor([k for k, _ in self.steps], dtype=torch.long),
               "add_noise_t": torch.tensor([t for t, _ in self.noised], dtype=torch.long)}
        if self.steps and all(x.shape == self.steps[0][1].shape for _, x in self.steps):
            out["step_inputs"] = torch.stack([x for _, x in self.steps])
        if self.noised and all(n.shape == self.noised[0][1].shape for _, n in self.noised):
            out["add_noise_noise"] = torch.stack([n for _, n in self.noised])
        return out


def _one_view_estimate(estimator: Any, views: Any, prompts: Any, x_t: Tensor, t: int, guidance_scale: float = 1.0,
                       reduce: Any = None) -> Tensor:
    """fused_noise_estimate for the single IdentityView that sdedit and inpaint use: the estimator's
    guided answer for x_t itself. The submission's views and fused estimate are other items, not graded here."""
    if len(views) != 1 or len(prompts) != 1:
        raise ValueError(f"got {len(views)} views and {len(prompts)} prompts; one IdentityView with one prompt "
                         "was expected")
    eps_cond = estimator(x_t, t, prompts[0])
    if float(guidance_scale) == 1.0:
        return eps_cond
    return _plain_guidance(estimator(x_t, t, None), eps_cond, guidance_scale, x_t.shape[1])


def _one_view_step(estimator: Any, sampler: Any, views: Any, prompts: Any, x_t: Tensor, t: int, t_prev: int,
                   guidance_scale: float = 1.0, reduce: Any = None) -> Tensor:
    """fused_denoise_step on `_one_view_estimate`."""
    return sampler.step(_one_view_estimate(estimator, views, prompts, x_t, t, guidance_scale), t, t_prev, x_t)


def _editing_parts(hw: Any, tensors: dict[str, Tensor], case: dict) -> tuple[Any, AffineEstimator, RecordingSampler]:
    """The illusions module (to patch), the grader's estimator and sampler of an sdedit or inpaint case."""
    module = sys.modules.get(getattr(hw.sdedit, "__module__", ""))
    sampler = RecordingSampler([tuple(pair) for pair in case["pairs"]], tensors["a"], tensors["b"], tensors["offsets"])
    return module, AffineEstimator(tensors), sampler


def _editing_kwargs(tensors: dict[str, Tensor], case: dict, device: str = "cpu") -> dict[str, Any]:
    """prompt, guidance_scale, the given noise if any, and a generator seeded with case["seed"] (on the CPU
    only: off it the item draws on the image's device, as with a GPU and no generator)."""
    kwargs: dict[str, Any] = {"prompt": int(case["prompt"]), "guidance_scale": float(case["guidance_scale"])}
    if "noise" in tensors:
        kwargs["noise"] = tensors["noise"].clone()
    if device == "cpu":
        kwargs["generator"] = torch.Generator().manual_seed(int(case["seed"]))
    return kwargs


def probe_sdedit(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """x_0 = hw.sdedit(estimator, sampler, image, i_start, prompt, guidance_scale, noise or generator).

    The estimator is an AffineEstimator, the sampler a RecordingSampler, and the fused step a one-view
    stand-in (`_one_view_step`), so only sdedit is graded. Besides the result: the sampler's record
    (the pair of each step, each step's x_t, the t and noise of each add_noise)."""

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        module, estimator, sampler = _editing_parts(hw, tensors, case)
        with _patched(module, fused_denoise_step=_one_view_step, fused_noise_estimate=_one_view_estimate):
            result = hw.sdedit(estimator, sampler, tensors["image"].clone(), int(case["i_start"]),
                               **_editing_kwargs(tensors, case))
        return {"result": _tensor(result, "sdedit"), **sampler.record()}

    return _per_case(params, run)


def probe_inpaint(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """x_0 = hw.inpaint(estimator, sampler, image, mask, prompt, guidance_scale, noise or generator),
    with the grader's estimator, sampler and one-view fused step as for sdedit."""

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        module, estimator, sampler = _editing_parts(hw, tensors, case)
        with _patched(module, fused_denoise_step=_one_view_step, fused_noise_estimate=_one_view_estimate):
            result = hw.inpaint(estimator, sampler, tensors["image"].clone(), tensors["mask"].clone(),
                                **_editing_kwargs(tensors, case))
        return {"result": _tensor(result, "inpaint"), **sampler.record()}

    return _per_case(params, run)


def _hybrid_reduction(hw: Any) -> Any:
    """The HybridReduction class of the module that defines hw.make_hybrid (it holds the TODO)."""
    return sys.modules[hw.make_hybrid.__module__].HybridReduction


def probe_make_hybrid(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """eps = HybridReduction(kernel_size, sigma)([far, near], image_channels) for each case."""

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        reduction = _hybrid_reduction(hw)(int(case["kernel_size"]), float(case["sigma"]))
        eps = reduction([tensors["far"].clone(), tensors["near"].clone()], int(case["image_channels"]))
        return {"eps": _tensor(eps, "HybridReduction")}

    return _per_case(params, run)


# ---------------------------------------------------------------- profile items: U-Net conditioning, label dropout


def _unet_module(hw: Any) -> Any:
    """The module that defines hw.Unet (SinusoidalPosEmb and ResnetBlock live there)."""
    return sys.modules[hw.Unet.__module__]


def probe_sinusoidal_pos_emb(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """emb = SinusoidalPosEmb(dim, theta)(t) for each case."""

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        embedding = _unet_module(hw).SinusoidalPosEmb(int(case["dim"]), theta=float(case["theta"]))
        return {"emb": _tensor(embedding(tensors["t"].clone()), "SinusoidalPosEmb")}

    return _per_case(params, run)


def _resnet_block(hw: Any, case: dict) -> nn.Module:
    """ResnetBlock(dim, dim_out, time_emb_dim, groups) with the grader's weights: every floating parameter
    and buffer, in the order of its state_dict, drawn from N(0, 0.5^2) under case["seed"], so that the
    student's block and the reference's compute with the same numbers (GroupNorm's affine too)."""
    block = _unet_module(hw).ResnetBlock(int(case["dim"]), int(case["dim_out"]),
                                         time_emb_dim=case.get("time_emb_dim"), groups=int(case["groups"]))
    generator = torch.Generator().manual_seed(int(case["seed"]))
    with torch.no_grad():
        for _, value in sorted(block.state_dict(keep_vars=True).items()):
            if value.is_floating_point():
                value.copy_(0.5 * torch.randn(value.shape, generator=generator, dtype=value.dtype))
    return block.eval()


def probe_resnet_block(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """out = block(x, emb) for the grader-weighted `_resnet_block` of each case (emb None without an "emb"
    input), and the same block's output with no embedding ("out_without_emb")."""

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        block = _resnet_block(hw, case)
        with torch.no_grad():
            emb = tensors["emb"].clone() if "emb" in tensors else None
            out = _tensor(block(tensors["x"].clone(), emb), "ResnetBlock")
            plain = _tensor(block(tensors["x"].clone(), None), "ResnetBlock")
        return {"out": out, "out_without_emb": plain}

    return _per_case(params, run)


def probe_drop_class_labels(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """dropped = diffusion.drop_class_labels(labels) under torch seed case["seeds"][k], once per seed, for a
    diffusion object with num_classes classes and cond_drop_prob = case["p"]. Returns "dropped" (S, N)."""

    def run(index: int, case: dict) -> dict[str, Tensor]:
        tensors = _case_inputs(inputs, index)
        labels = tensors["labels"]
        model = ScriptedModel(torch.zeros(1, 1, 2, 2), num_classes=int(case["num_classes"]))
        diffusion = build_diffusion(hw, model, _buffers(tensors), image_size=2, cond_drop_prob=float(case["p"]))
        runs = []
        for seed in case["seeds"]:
            torch.manual_seed(int(seed))
            runs.append(_tensor(diffusion.drop_class_labels(labels.clone()), "drop_class_labels"))
        if any(r.shape != runs[0].shape for r in runs):
            raise ValueError(f"drop_class_labels returned shapes {[tuple(r.shape) for r in runs]} for labels of "
                             f"shape {tuple(labels.shape)}")
        return {"dropped": torch.stack(runs)}

    return _per_case(params, run)


# ---------------------------------------------------------------------------- the docstrings' contracts


OTHER_DEVICE = "meta"  # holds no data, and refuses to mix with CPU tensors just as a GPU does


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _case_dtype(case: dict) -> torch.dtype:
    """The case's floating dtype ("float32", "float64", "bfloat16"); float32 when it names none."""
    dtype = getattr(torch, str(case.get("dtype", "float32")), None)
    if dtype not in (torch.float32, torch.float64, torch.bfloat16):
        raise ValueError(f"unknown dtype {case.get('dtype')!r}")
    return dtype


def _case_device(case: dict) -> torch.device:
    return torch.device(OTHER_DEVICE if case.get("device") == OTHER_DEVICE else "cpu")


def _values_comparable(case: dict) -> bool:
    """Whether the case's results can be compared with the reference's: a meta tensor holds no values,
    and bfloat16 rounding (3 significant digits) depends on where a correct formula rounds."""
    return _case_device(case).type == "cpu" and _case_dtype(case) != torch.bfloat16


def _as_case(value: Tensor, case: dict) -> Tensor:
    """`value` (a grader input) in the case's dtype (floating tensors only) and on its device."""
    if value.is_floating_point():
        value = value.to(_case_dtype(case))
    return value.to(_case_device(case))


def _changed(name: str, given: Tensor, original: Tensor) -> bool:
    """Whether the caller's tensor `given` no longer equals the copy `original` taken before the call."""
    if given.shape != original.shape or given.dtype != original.dtype:
        return True
    if given.device.type == OTHER_DEVICE:
        return False  # a meta tensor has no values to compare
    return not torch.equal(given, original)


def _untouched(function: str, given: dict[str, Tensor], originals: dict[str, Tensor]) -> list[str]:
    return [
        f"{function} modified its argument {name} in place: the caller still needs it, so compute the "
        "result into a new tensor (no mul_/add_/+=/[...] = on the inputs)"
        for name in given if _changed(name, given[name], originals[name])
    ]


def _returned(function: str, value: Any, like: Tensor, like_name: str, what: str = "") -> list[str]:
    """The promise on a returned tensor (`what`, when the function returns several): `like`'s dtype
    and device. A TypeError when it is no tensor."""
    named = f"{what} as " if what else ""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{function} returned {named}{type(value).__name__}, not a torch.Tensor")
    problems = []
    if value.dtype != like.dtype:
        problems.append(f"{function} returned {named}{_dtype_name(value.dtype)} for {_dtype_name(like.dtype)} input: "
                        f"return {like_name}'s dtype (compute in float64 if you like, then cast back with "
                        f".to({like_name}.dtype))")
    if value.device != like.device:
        problems.append(f"{function} returned {named}a tensor on {value.device.type} for {like_name} on "
                        f"{like.device.type} (as on a GPU): keep it on {like_name}'s device "
                        f"(device={like_name}.device, torch.zeros_like, ...)")
    return problems


def _seen_by_model(function: str, model: ScriptedModel, x: Tensor, labelled: bool,
                   t_hint: str = "torch.full((B,), t, device=x.device, dtype=torch.long)") -> list[str]:
    """What the module docstring promises the network: x_t (B', C, H, W) in x's dtype and device,
    t (B',) int64 and class_labels (B',) int64 on the same device, B' = B (or 2B with guidance)."""
    problems: list[str] = []
    for x_seen, t_seen, labels_seen in model.calls:
        batch = int(x_seen.shape[0]) if x_seen.dim() else -1
        if tuple(x_seen.shape[1:]) != tuple(x.shape[1:]) or x_seen.dtype != x.dtype or x_seen.device != x.device:
            problems.append(f"{function} handed the model x_t of shape {tuple(x_seen.shape)}, "
                            f"{_dtype_name(x_seen.dtype)} on {x_seen.device.type} for x of shape {tuple(x.shape)}, "
                            f"{_dtype_name(x.dtype)} on {x.device.type}: pass x_t as it is")
        if tuple(t_seen.shape) != (batch,) or t_seen.dtype != torch.long or t_seen.device != x.device:
            problems.append(f"{function} handed the model t of shape {tuple(t_seen.shape)}, "
                            f"{_dtype_name(t_seen.dtype)} on {t_seen.device.type} with x_t of batch {batch} "
                            f"on {x.device.type}: t must be ({batch},) int64 "
                            f"on x's device, one timestep per sample ({t_hint})")
        if labelled and (labels_seen is None or tuple(labels_seen.shape) != (batch,) or labels_seen.dtype != torch.long
                         or labels_seen.device != x.device):
            got = ("None" if labels_seen is None
                   else f"of shape {tuple(labels_seen.shape)}, {_dtype_name(labels_seen.dtype)}")
            problems.append(f"{function} handed the model class_labels {got} with x_t of batch {batch}: pass the (B,) "
                            "int64 class_labels through")
    return problems


def _convert_module(diffusion: Any, model: ScriptedModel, case: dict) -> None:
    """What diffusion.to(device) and diffusion.to(torch.bfloat16) do, for the case's device and dtype:
    the model, its scripted output and every tensor the diffusion holds (registered buffers or plain
    attributes, floating ones in the case's dtype). float32 and float64 cases keep the buffers as the
    constructor made them: a float64 x meets float32 buffers, as when a student tests in float64."""
    dtype = _case_dtype(case) if _case_dtype(case) == torch.bfloat16 else None
    device = _case_device(case)
    model.to(device=device, dtype=dtype)
    model.scripted_output = model.scripted_output.to(device=device, dtype=dtype or model.scripted_output.dtype)
    held = list(vars(diffusion).get("_buffers", {}).items()) + list(vars(diffusion).items())
    for name, value in held:
        if isinstance(value, torch.Tensor):
            to_dtype = dtype if dtype is not None and value.is_floating_point() else value.dtype
            setattr(diffusion, name, value.to(device=device, dtype=to_dtype))


def _device_failure(function: str, exc: BaseException, case: dict) -> list[str]:
    """What an exception raised on the meta device says about the code: a device mix-up (a tensor made
    on the CPU meets the inputs' device) is a broken promise; what only the meta device cannot do
    (.item(), torch.equal: no data) says nothing, since a GPU does it; anything else (the code's own
    error, such as the TODO's NotImplementedError) is raised again, for the case to report it."""
    if _case_device(case).type != OTHER_DEVICE:
        raise exc
    text = _describe(exc)  # read, never repeated: a hidden check's feedback holds no text of the submission's
    if "copy out of meta" in text or ("device" in text and "cpu" in text):
        return [f"{function} mixed a tensor on the CPU with its inputs on another device (as on a GPU), where it "
                f"raised {type(exc).__name__ if type(exc) in (RuntimeError, NotImplementedError) else 'an error'}: "
                "create every new tensor on the inputs' device (device=x.device, torch.randn_like, torch.full_like)"]
    if "meta" in text.lower():
        return []
    raise exc


def _contract_q_sample(hw: Any, tensors: dict[str, Tensor], case: dict) -> tuple[list[str], dict[str, Tensor]]:
    x0, t, noise = _as_case(tensors["x0"], case), tensors["t"], _as_case(tensors["noise"], case)
    model = ScriptedModel(torch.zeros_like(tensors["x0"]))
    diffusion = build_diffusion(hw, model, _buffers(tensors), **_model_kwargs(case))
    _convert_module(diffusion, model, case)
    given = {"x_start": x0.clone(), "t": t.clone(), "noise": noise.clone()}
    x_t = diffusion.q_sample(given["x_start"], given["t"], given["noise"])
    problems = _untouched("q_sample", given, {"x_start": x0, "t": t, "noise": noise})
    problems += _returned("q_sample", x_t, x0, "x_start")
    return problems, {"x_t": _tensor(x_t, "q_sample")} if _values_comparable(case) else {}


def _contract_p_losses(hw: Any, tensors: dict[str, Tensor], case: dict) -> tuple[list[str], dict[str, Tensor]]:
    originals = {name: _as_case(tensors[name], case)
                 for name in ("x0", "t", "noise", "class_labels") if name in tensors}
    model = ScriptedModel(tensors["model_out"].clone(), num_classes=case.get("num_classes"))
    diffusion = build_diffusion(hw, model, _buffers(tensors), **_model_kwargs(case))
    _convert_module(diffusion, model, case)
    x_t = _as_case(tensors["x_t"], case)
    diffusion.q_sample = lambda x_start, t, noise=None: x_t.clone().to(x_start.dtype)  # graded on its own
    given = {name: value.clone() for name, value in originals.items()}
    kwargs = {"class_labels": given["class_labels"]} if "class_labels" in given else {}
    loss = _tensor(diffusion.p_losses(given["x0"], given["t"], given["noise"], **kwargs), "p_losses")
    problems = _untouched("p_losses", {"x_start" if k == "x0" else k: v for k, v in given.items()},
                          {"x_start" if k == "x0" else k: v for k, v in originals.items()})
    problems += _seen_by_model("p_losses", model, originals["x0"], "class_labels" in originals,
                               t_hint="pass the given t through as it is")
    return problems, {"loss": loss} if _values_comparable(case) else {}


def _contract_p_sample(hw: Any, tensors: dict[str, Tensor], case: dict) -> tuple[list[str], dict[str, Tensor]]:
    labels = tensors.get("class_labels")
    model = ScriptedModel(tensors["model_out"].to(_case_dtype(case)), num_classes=case.get("num_classes"))
    diffusion = build_diffusion(hw, model, _buffers(tensors), **_model_kwargs(case))
    _convert_module(diffusion, model, case)
    originals = {name: _as_case(tensors[name], case) for name in ("x", "noise", "class_labels") if name in tensors}
    given = {name: value.clone() for name, value in originals.items()}
    kwargs: dict[str, Any] = {"noise": given["noise"]}
    if labels is not None:
        kwargs.update(class_labels=given["class_labels"], guidance_scale=float(case["guidance_scale"]))
    try:
        result = diffusion.p_sample(given["x"], int(case["t"]), **kwargs)
    except Exception as exc:
        return _device_failure("p_sample", exc, case), {}
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(f"p_sample returned {type(result).__name__}; expected a pair (x_prev, x0_hat)")
    problems = _untouched("p_sample", given, originals)
    problems += _seen_by_model("p_sample", model, originals["x"], labels is not None)
    for name, value in zip(("x_prev", "x0_hat"), result):
        problems += _returned("p_sample", value, originals["x"], "x", what=name)
    return problems, {"x_prev": _tensor(result[0], "p_sample (x_prev)")} if _values_comparable(case) else {}


def _contract_p_sample_loop(hw: Any, tensors: dict[str, Tensor], case: dict) -> tuple[list[str], dict[str, Tensor]]:
    shape = tuple(int(s) for s in case["shape"])
    model = ScriptedModel(torch.zeros(shape), num_classes=case.get("num_classes"))
    diffusion = build_diffusion(hw, model, _buffers(tensors), **_model_kwargs(case))
    device = _case_device(case)
    _convert_module(diffusion, model, case)
    seen: list[Tensor] = []
    T = int(tensors["buffers.betas"].shape[0])

    def recording_p_sample(x: Tensor, t: Any, class_labels: Tensor | None = None,
                           guidance_scale: float = 1.0, noise: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if len(seen) >= 4 * T:
            raise RuntimeError(f"p_sample_loop called p_sample more than {4 * T} times (expected T = {T})")
        seen.append(x)
        return 0.5 * x, x

    diffusion.p_sample = recording_p_sample
    try:
        result = diffusion.p_sample_loop(shape)
    except Exception as exc:
        return _device_failure("p_sample_loop", exc, case), {}
    problems: list[str] = []
    if seen and (seen[0].device != device or tuple(seen[0].shape) != shape or seen[0].dtype != torch.float32):
        problems.append(f"p_sample_loop drew its starting noise as {tuple(seen[0].shape)}, "
                        f"{_dtype_name(seen[0].dtype)} on {seen[0].device.type} "
                        f"while the model lives on {device.type}: draw it with "
                        "torch.randn(shape, device=self.device), as a GPU needs")
    if isinstance(result, torch.Tensor) and result.device != device:
        problems.append(f"p_sample_loop returned images on {result.device.type} "
                        f"while the model lives on {device.type}: keep them on self.device")
    return problems, {"p_sample_calls": torch.tensor(len(seen))}


def _contract_denoise_backward(hw: Any, tensors: dict[str, Tensor], case: dict) -> tuple[list[str], dict[str, Tensor]]:
    model = ScriptedModel(torch.zeros_like(tensors["pred_x_start"]))
    diffusion = build_diffusion(hw, model, _buffers(tensors), **_model_kwargs(case))
    _convert_module(diffusion, model, case)
    originals = {name: _as_case(tensors[name], case) for name in ("pred_x_start", "pred_noise", "noise")}
    given = {name: value.clone() for name, value in originals.items()}
    try:
        x_prev = diffusion.denoise_backward(given["pred_x_start"], int(case["t"]), int(case["t_prev"]),
                                            given["pred_noise"], given["noise"], float(case["eta"]))
    except Exception as exc:
        return _device_failure("denoise_backward", exc, case), {}
    problems = _untouched("denoise_backward", given, originals)
    problems += _returned("denoise_backward", x_prev, originals["pred_x_start"], "pred_x_start")
    return problems, {"x_prev": _tensor(x_prev, "denoise_backward")} if _values_comparable(case) else {}


def _contract_view(hw: Any, tensors: dict[str, Tensor], case: dict) -> tuple[list[str], dict[str, Tensor]]:
    name = case["view"]
    if name not in VIEW_CLASSES:
        raise ValueError(f"unknown view {name!r}")
    view = getattr(hw, name)()
    problems: list[str] = []
    values: dict[str, Tensor] = {}
    for method, argument, key in (("view", "x", "viewed"), ("inverse_view", "noise", "inverse")):
        original = _as_case(tensors[argument], case)
        given = original.clone()
        function = f"{name}.{method}"
        try:
            out = getattr(view, method)(given)
        except Exception as exc:
            problems += _device_failure(function, exc, case)
            continue
        problems += _untouched(function, {argument: given}, {argument: original})
        problems += _returned(function, out, original, argument)
        if _values_comparable(case):
            values[key] = _tensor(out, function)
    return problems, values


def _contract_classifier_free_guidance(hw: Any, tensors: dict[str, Tensor],
                                       case: dict) -> tuple[list[str], dict[str, Tensor]]:
    originals = {name: _as_case(tensors[name], case) for name in ("eps_uncond", "eps_cond")}
    given = {name: value.clone() for name, value in originals.items()}
    try:
        eps = hw.classifier_free_guidance(given["eps_uncond"], given["eps_cond"], float(case["guidance_scale"]),
                                          int(case["image_channels"]))
    except Exception as exc:
        return _device_failure("classifier_free_guidance", exc, case), {}
    problems = _untouched("classifier_free_guidance", given, originals)
    problems += _returned("classifier_free_guidance", eps, originals["eps_cond"], "eps_cond")
    return problems, {"eps": _tensor(eps, "classifier_free_guidance")} if _values_comparable(case) else {}


def _plain_guidance(eps_uncond: Tensor, eps_cond: Tensor, guidance_scale: float, image_channels: int) -> Tensor:
    """classifier_free_guidance as its docstring states it, with nothing a meta tensor cannot do."""
    c = int(image_channels)
    return torch.cat((torch.lerp(eps_uncond[:, :c], eps_cond[:, :c], float(guidance_scale)), eps_cond[:, c:]), dim=1)


def _contract_fused_noise_estimate(hw: Any, tensors: dict[str, Tensor],
                                   case: dict) -> tuple[list[str], dict[str, Tensor]]:
    module = sys.modules.get(getattr(hw.fused_noise_estimate, "__module__", ""))
    x_t = _as_case(tensors["x_t"], case)
    views = [PixelPermutationView(_as_case(tensors[f"perm.{i}"], case)) for i in range(len(case["prompts"]))]
    estimator = AffineEstimator({name: _as_case(value, case) for name, value in tensors.items()})
    given = x_t.clone()
    try:
        with _patched(module, classifier_free_guidance=_plain_guidance):
            eps = hw.fused_noise_estimate(estimator, views, list(case["prompts"]), given, int(case["t"]),
                                          guidance_scale=float(case["guidance_scale"]))
    except Exception as exc:
        return _device_failure("fused_noise_estimate", exc, case), {}
    problems = _untouched("fused_noise_estimate", {"x_t": given}, {"x_t": x_t})
    for _, _, x_seen, _ in estimator.calls:
        if x_seen.shape != x_t.shape or x_seen.dtype != x_t.dtype or x_seen.device != x_t.device:
            problems.append(f"fused_noise_estimate handed the estimator x of shape {tuple(x_seen.shape)}, "
                            f"{_dtype_name(x_seen.dtype)} on {x_seen.device.type} for x_t of shape {tuple(x_t.shape)}, "
                            f"{_dtype_name(x_t.dtype)} on {x_t.device.type}: hand it views[i].view(x_t) as it is")
            break
    problems += _returned("fused_noise_estimate", eps, x_t, "x_t")
    return problems, {"eps": _tensor(eps, "fused_noise_estimate")} if _values_comparable(case) else {}


def _contract_model_predictions(hw: Any, tensors: dict[str, Tensor], case: dict) -> tuple[list[str], dict[str, Tensor]]:
    labelled = "class_labels" in tensors
    model = ScriptedModel(tensors["model_out"].to(_case_dtype(case)), num_classes=case.get("num_classes"))
    diffusion = build_diffusion(hw, model, _buffers(tensors), own_model_predictions=True, **_model_kwargs(case))
    _convert_module(diffusion, model, case)
    originals = {name: _as_case(tensors[name], case) for name in ("x", "t", "class_labels") if name in tensors}
    given = {name: value.clone() for name, value in originals.items()}
    kwargs: dict[str, Any] = {"clip_x_start": bool(case["clip"]), "rederive_pred_noise": bool(case["rederive"])}
    if labelled:
        kwargs.update(class_labels=given["class_labels"], guidance_scale=float(case["guidance_scale"]))
    try:
        result = diffusion.model_predictions(given["x"], given["t"], **kwargs)
    except Exception as exc:
        return _device_failure("model_predictions", exc, case), {}
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(f"model_predictions returned {type(result).__name__}; expected a pair "
                        "(pred_noise, pred_x_start)")
    problems = _untouched("model_predictions", given, originals)
    problems += _seen_by_model("model_predictions", model, originals["x"], labelled,
                               t_hint="pass the given t through as it is")
    for name, value in zip(("pred_noise", "pred_x_start"), result):
        problems += _returned("model_predictions", value, originals["x"], "x", what=name)
    if not _values_comparable(case):
        return problems, {}
    return problems, {"pred_noise": _tensor(result[0], "model_predictions"),
                      "pred_x_start": _tensor(result[1], "model_predictions")}


def _contract_interpolate(hw: Any, tensors: dict[str, Tensor], case: dict) -> tuple[list[str], dict[str, Tensor]]:
    diffusion, _, q_calls, kwargs = _run_interpolate(
        hw, tensors, case, convert=lambda diffusion, model: _convert_module(diffusion, model, case))
    originals = {name: _as_case(tensors[name], case) for name in ("x1", "x2", "noise") if name in tensors}
    given = {name: value.clone() for name, value in originals.items()}
    if "noise" in given:
        kwargs["noise"] = given["noise"]
    try:
        result = diffusion.interpolate(given["x1"], given["x2"], **kwargs)
    except Exception as exc:
        return _device_failure("interpolate", exc, case), {}
    problems = _untouched("interpolate", given, originals)
    x1 = originals["x1"]
    if any(t.device != x1.device or t.dtype != torch.long for t, _ in q_calls):
        t = next(t for t, _ in q_calls if t.device != x1.device or t.dtype != torch.long)
        problems.append(f"interpolate handed q_sample t as {_dtype_name(t.dtype)} on {t.device.type} for x1 on "
                        f"{x1.device.type}: make it a (B,) int64 tensor on x1's device "
                        "(torch.full((B,), t, device=x1.device, dtype=torch.long))")
    problems += _returned("interpolate", result, x1, "x1")
    return problems, {"result": _tensor(result, "interpolate")} if _values_comparable(case) else {}


def _contract_slerp(hw: Any, tensors: dict[str, Tensor], case: dict) -> tuple[list[str], dict[str, Tensor]]:
    originals = {name: _as_case(tensors[name], case) for name in ("z1", "z2")}
    given = {name: value.clone() for name, value in originals.items()}
    try:
        z = hw.slerp(given["z1"], given["z2"], float(case["alpha"]))
    except Exception as exc:
        return _device_failure("slerp", exc, case), {}
    problems = _untouched("slerp", given, originals) + _returned("slerp", z, originals["z1"], "z1")
    return problems, {"z": _tensor(z, "slerp")} if _values_comparable(case) else {}


def _contract_editing(function: str) -> Callable[[Any, dict[str, Tensor], dict], tuple[list[str], dict[str, Tensor]]]:
    """The contract of sdedit or inpaint: the grader's estimator, sampler and one-view step as in their
    probes, every tensor in the case's dtype and on its device; no generator off the CPU (the start and
    the fresh noise are then drawn on the image's device, or the case fails there as on a GPU)."""

    def contract(hw: Any, tensors: dict[str, Tensor], case: dict) -> tuple[list[str], dict[str, Tensor]]:
        converted = {name: _as_case(value, case) for name, value in tensors.items()}
        module, estimator, sampler = _editing_parts(hw, converted, case)
        names = ("image", "mask", "noise") if function == "inpaint" else ("image", "noise")
        originals = {name: converted[name] for name in names if name in converted}
        given = {name: value.clone() for name, value in originals.items()}
        kwargs = _editing_kwargs(given, case, device=_case_device(case).type)
        if "noise" in given:
            kwargs["noise"] = given["noise"]
        where = given["mask"] if function == "inpaint" else int(case["i_start"])
        try:
            with _patched(module, fused_denoise_step=_one_view_step, fused_noise_estimate=_one_view_estimate):
                result = getattr(hw, function)(estimator, sampler, given["image"], where, **kwargs)
        except Exception as exc:
            return _device_failure(function, exc, case), {}
        problems = _untouched(function, given, originals)
        problems += _returned(function, result, originals["image"], "image")
        return problems, {"result": _tensor(result, function)} if _values_comparable(case) else {}

    return contract


def _contract_make_hybrid(hw: Any, tensors: dict[str, Tensor], case: dict) -> tuple[list[str], dict[str, Tensor]]:
    originals = {name: _as_case(tensors[name], case) for name in ("far", "near")}
    given = {name: value.clone() for name, value in originals.items()}
    try:
        eps = _hybrid_reduction(hw)(int(case["kernel_size"]), float(case["sigma"]))(
            [given["far"], given["near"]], int(case["image_channels"]))
    except Exception as exc:
        return _device_failure("HybridReduction", exc, case), {}
    problems = _untouched("HybridReduction", {"estimates[0]": given["far"], "estimates[1]": given["near"]},
                          {"estimates[0]": originals["far"], "estimates[1]": originals["near"]})
    problems += _returned("HybridReduction", eps, originals["far"], "the estimates")
    return problems, {"eps": _tensor(eps, "HybridReduction")} if _values_comparable(case) else {}


def _contract_sinusoidal_pos_emb(hw: Any, tensors: dict[str, Tensor], case: dict
                                 ) -> tuple[list[str], dict[str, Tensor]]:
    t = _as_case(tensors["t"], case)
    given = t.clone()
    try:
        emb = _unet_module(hw).SinusoidalPosEmb(int(case["dim"]), theta=float(case["theta"]))(given)
    except Exception as exc:
        return _device_failure("SinusoidalPosEmb.forward", exc, case), {}
    problems = _untouched("SinusoidalPosEmb.forward", {"t": given}, {"t": t})
    if not isinstance(emb, torch.Tensor):
        raise TypeError(f"SinusoidalPosEmb.forward returned {type(emb).__name__}, not a torch.Tensor")
    if emb.dtype != torch.float32 or emb.device != t.device:
        problems.append(f"SinusoidalPosEmb.forward returned {_dtype_name(emb.dtype)} on {emb.device.type} for t on "
                        f"{t.device.type}: return float32 on t's device (torch.arange(half, device=t.device), "
                        "t.float())")
    return problems, {"emb": _tensor(emb, "SinusoidalPosEmb")} if _values_comparable(case) else {}


def _contract_resnet_block(hw: Any, tensors: dict[str, Tensor], case: dict) -> tuple[list[str], dict[str, Tensor]]:
    block = _resnet_block(hw, case).to(device=_case_device(case), dtype=_case_dtype(case))
    originals = {name: _as_case(tensors[name], case) for name in ("x", "emb") if name in tensors}
    given = {name: value.clone() for name, value in originals.items()}
    try:
        with torch.no_grad():
            out = block(given["x"], given.get("emb"))
    except Exception as exc:
        return _device_failure("ResnetBlock.forward", exc, case), {}
    problems = _untouched("ResnetBlock.forward", given, originals)
    problems += _returned("ResnetBlock.forward", out, originals["x"], "x")
    return problems, {"out": _tensor(out, "ResnetBlock")} if _values_comparable(case) else {}


def _contract_drop_class_labels(hw: Any, tensors: dict[str, Tensor], case: dict) -> tuple[list[str], dict[str, Tensor]]:
    model = ScriptedModel(torch.zeros(1, 1, 2, 2), num_classes=int(case["num_classes"]))
    diffusion = build_diffusion(hw, model, _buffers(tensors), image_size=2, cond_drop_prob=float(case["p"]))
    _convert_module(diffusion, model, case)
    labels = _as_case(tensors["labels"], case)
    given = labels.clone()
    try:
        dropped = diffusion.drop_class_labels(given)
    except Exception as exc:
        return _device_failure("drop_class_labels", exc, case), {}
    problems = _untouched("drop_class_labels", {"class_labels": given}, {"class_labels": labels})
    if not isinstance(dropped, torch.Tensor):
        raise TypeError(f"drop_class_labels returned {type(dropped).__name__}, not a torch.Tensor")
    if dropped.dtype != torch.long or dropped.device != labels.device or tuple(dropped.shape) != tuple(labels.shape):
        problems.append(f"drop_class_labels returned {tuple(dropped.shape)} {_dtype_name(dropped.dtype)} on "
                        f"{dropped.device.type} for ({labels.shape[0]},) int64 labels on {labels.device.type}: return "
                        "int64 labels of the same shape on their device (torch.rand(B, device=class_labels.device), "
                        "torch.where)")
    if not _values_comparable(case):
        return problems, {}
    # p_uncond = 0.5 over the case's labels: a dropout keeps some and drops some (a copy of the labels does not)
    mixed = bool((dropped == labels).any()) and bool((dropped == int(case["num_classes"])).any())
    return problems, {"keeps_some_and_drops_some": torch.tensor(float(mixed))}


CONTRACTS: dict[str, Callable[[Any, dict[str, Tensor], dict], tuple[list[str], dict[str, Tensor]]]] = {
    "q_sample": _contract_q_sample,
    "p_losses": _contract_p_losses,
    "p_sample": _contract_p_sample,
    "p_sample_loop": _contract_p_sample_loop,
    "denoise_backward": _contract_denoise_backward,
    "IdentityView": _contract_view,
    "Rotate180View": _contract_view,
    "classifier_free_guidance": _contract_classifier_free_guidance,
    "fused_noise_estimate": _contract_fused_noise_estimate,
    "model_predictions": _contract_model_predictions,
    "interpolate": _contract_interpolate,
    "slerp": _contract_slerp,
    "sdedit": _contract_editing("sdedit"),
    "inpaint": _contract_editing("inpaint"),
    "make_hybrid": _contract_make_hybrid,
    "SinusoidalPosEmb": _contract_sinusoidal_pos_emb,
    "ResnetBlock": _contract_resnet_block,
    "drop_class_labels": _contract_drop_class_labels,
}


def probe_contract(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """Whether params["item"] keeps its docstring's contract beyond the values, case by case.

    The contract: returned tensors in the dtype (and on the device) the docstring gives, for
    case["dtype"] float32, float64 or bfloat16 inputs (bfloat16 cases run the whole module in
    bfloat16, as diffusion.to(torch.bfloat16) does); no input tensor modified (each is compared with
    a copy taken before the call); the network (or 3.3's estimator) handed x_t, t and class_labels
    of the documented shapes and dtypes, as recorded by the stand-in; and, with case["device"] =
    "meta", the same call with the model and every input on a device other than the CPU, where a
    tensor created without device= fails as it would on a GPU (what only meta tensors cannot do,
    such as .item(), is no violation: a GPU does it). Returns "violations", the broken promises as
    text, one a line ("" when there are none), and the call's values (x_t, the loss, ...) where they
    can be compared (CPU, not bfloat16), compared with the reference's: the contract is only worth
    points on code that also computes the item.
    """
    contract = CONTRACTS[params["item"]]

    def run(index: int, case: dict) -> dict[str, Tensor]:
        problems, values = contract(hw, _case_inputs(inputs, index), case)
        return {"violations": _text("\n".join(problems)), **values}

    return _per_case(params, run)


# ---------------------------------------------------------------------------- several calls in one process


def probe_many(hw: Any, inputs: dict[str, Tensor], params: dict) -> dict[str, Tensor]:
    """Run several probe calls in one process (the grader sends one such call per TODO item).

    params["calls"][k] = {"probe": name, "params": {...}}; call k's inputs and outputs are named
    "<k>/<name>". A call that raises reports "<k>/error" and the others still run.
    """
    out: dict[str, Tensor] = {}
    for k, call in enumerate(params["calls"]):
        prefix = f"{k}/"
        sub_inputs = {name[len(prefix):]: value for name, value in inputs.items() if name.startswith(prefix)}
        try:
            for name, value in PROBES[call["probe"]](hw, sub_inputs, call["params"]).items():
                out[prefix + name] = value
        except Exception as exc:
            out[prefix + "error"] = _text(_describe(exc))
    return out


PROBES: dict[str, Callable[[Any, dict[str, Tensor], dict], dict[str, Tensor]]] = {
    "beta_schedule": probe_beta_schedule,
    "diffusion_buffers": probe_diffusion_buffers,
    "q_sample": probe_q_sample,
    "p_losses": probe_p_losses,
    "p_sample": probe_p_sample,
    "p_sample_chain": probe_p_sample_chain,
    "p_sample_loop_scripted": probe_p_sample_loop_scripted,
    "p_sample_loop_oracle": probe_p_sample_loop_oracle,
    "denoise_backward": probe_denoise_backward,
    "ddim_chain": probe_ddim_chain,
    "view": probe_view,
    "classifier_free_guidance": probe_classifier_free_guidance,
    "fused_noise_estimate": probe_fused_noise_estimate,
    "model_predictions": probe_model_predictions,
    "interpolate": probe_interpolate,
    "slerp": probe_slerp,
    "sdedit": probe_sdedit,
    "inpaint": probe_inpaint,
    "make_hybrid": probe_make_hybrid,
    "sinusoidal_pos_emb": probe_sinusoidal_pos_emb,
    "resnet_block": probe_resnet_block,
    "drop_class_labels": probe_drop_class_labels,
    "contract": probe_contract,
    "many": probe_many,
}
